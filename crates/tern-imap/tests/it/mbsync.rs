//! isync (mbsync) from Debian, a real client: it syncs a thousand messages of varied MIME
//! down to a local Maildir, byte for byte, and flags, deletions and new messages made on
//! either side propagate (the scenario is in [`crate::offline_sync`]).

use std::path::Path;
use std::process::Command;

use tern_config::Protocol;
use tern_testkit::{TestServer, TEST_PASSWORD};

use crate::offline_sync::{run, server_with_mailbox, without_fields, Client};

/// STARTTLS on the plain port, trusting exactly the test server's certificate (mbsync takes
/// the certificates in CertificateFile as trusted whatever name they carry). `Expunge Both`
/// makes deletions on either side remove the message on the other.
fn config(dir: &Path, server: &TestServer) -> String {
    format!(
        "IMAPAccount tern\nHost 127.0.0.1\nPort {port}\nUser alice@example.test\nPass \"{TEST_PASSWORD}\"\n\
         SSLType STARTTLS\nCertificateFile {cert}\nAuthMechs LOGIN\nTimeout 120\n\n\
         IMAPStore remote\nAccount tern\n\n\
         MaildirStore local\nPath {dir}/mail/\nInbox {dir}/mail/INBOX\n\n\
         Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nExpunge Both\nSyncState *\n",
        port = server.addr(Protocol::Imap).port(),
        cert = server.config.data_dir.join("tls/cert.pem").display(),
        dir = dir.display(),
    )
}

fn mbsync(config: &Path) -> Command {
    let mut mbsync = Command::new("mbsync");
    mbsync.arg("-c").arg(config).arg("-a");
    mbsync
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_syncs_down_and_back_up() {
    let server = server_with_mailbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("mail")).expect("mail dir");
    let config_path = dir.path().join("mbsyncrc");
    std::fs::write(&config_path, config(dir.path(), &server)).expect("write mbsyncrc");
    let client = Client {
        name: "mbsync",
        inbox: dir.path().join("mail/INBOX"),
        sync: mbsync,
        config: config_path,
        // mbsync adds its tracking field, X-TUID, to the header of the messages it copies
        // (LF line ends are the Maildir's: the scenario compares LF on both sides).
        normalise: |message| without_fields(message, &["X-TUID"]),
    };
    run(&server, &client).await;
}
