//! isync (mbsync) from Debian, a real client: it syncs a mailbox of varied MIME down to a
//! local Maildir, byte for byte, then flags, deletions and a new message made locally go
//! back up.

use std::path::Path;
use std::process::Command;

use tern_config::Protocol;
use tern_testkit::mime_corpus::mix_message;
use tern_testkit::{run_client, TestServer, TEST_PASSWORD};
use tern_types::{Address, Flag, Uid};

const MESSAGES: usize = 40;

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

async fn sync(rc: &Path) {
    let mut mbsync = Command::new("mbsync");
    mbsync.arg("-c").arg(rc).arg("-a");
    run_client(mbsync, "mbsync").await;
}

fn without_tuid(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    match text.find("\nX-TUID: ") {
        Some(at) => {
            let end = text[at + 1..]
                .find('\n')
                .map_or(text.len(), |e| at + 1 + e + 1);
            [&message[..at + 1], &message[end..]].concat()
        }
        None => message.to_vec(),
    }
}

fn lf(message: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(message)
        .replace("\r\n", "\n")
        .into_bytes()
}

/// Every file of a Maildir folder's cur/ and new/.
fn maildir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir.join(sub)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_syncs_down_and_back_up() {
    let server = TestServer::start().await;
    server.add_user("alice@example.test").await;
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(mix_message).collect();
    let stored = crate::deliver_to_alice(&server, &messages).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mail")).unwrap();
    let rc = dir.path().join("mbsyncrc");
    std::fs::write(&rc, config(dir.path(), &server)).unwrap();

    sync(&rc).await;
    let inbox = dir.path().join("mail/INBOX");
    let files = maildir(&inbox);
    assert_eq!(files.len(), MESSAGES);
    // Maildir files have the local line ends (mbsync writes LF), and mbsync adds its X-TUID
    // tracking field to the header: the same bytes otherwise.
    let mut local: Vec<Vec<u8>> = files
        .iter()
        .map(|f| without_tuid(&std::fs::read(f).unwrap()))
        .collect();
    let mut remote: Vec<Vec<u8>> = stored.iter().map(|m| lf(m)).collect();
    local.sort();
    remote.sort();
    for (l, r) in local.iter().zip(&remote) {
        let at = l
            .iter()
            .zip(r.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(l.len().min(r.len()));
        assert!(
            l == r,
            "byte for byte but line ends; first difference at {at} (lengths {} and {}):\n{:?}\n---\n{:?}",
            l.len(),
            r.len(),
            String::from_utf8_lossy(&l[at.saturating_sub(40)..(at + 80).min(l.len())]),
            String::from_utf8_lossy(&r[at.saturating_sub(40)..(at + 80).min(r.len())])
        );
    }

    // Locally: one read, one deleted, one new.
    let seen = &files[0];
    let name = seen.file_name().unwrap().to_string_lossy().to_string();
    let base = name.split(":2,").next().unwrap().to_string();
    std::fs::rename(seen, inbox.join("cur").join(format!("{base}:2,S"))).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let new = b"From: alice@example.test\nSubject: written offline\n\nhello\n";
    std::fs::write(inbox.join("new").join("1700000000.tern.local"), new).unwrap();
    sync(&rc).await;

    let stores = server.stores();
    let account = stores
        .directory
        .account_auth(
            &Address::parse("alice@example.test").unwrap(),
            Default::default(),
        )
        .await
        .unwrap()
        .unwrap();
    let mailbox = stores.mailboxes.mailbox(account.id, "INBOX").await.unwrap();
    let records = stores.mailboxes.messages(mailbox.id, Uid(1)).await.unwrap();
    assert_eq!(records.len(), MESSAGES, "one deleted, one added");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.flags.contains(&Flag::Seen))
            .count(),
        1,
        "the flag went up"
    );
    let last = records.last().unwrap();
    let appended = stores
        .mailboxes
        .read_message(mailbox.id, last.uid)
        .await
        .unwrap();
    // mbsync sends CRLF line ends and may add its X-TUID tracking field.
    let text = String::from_utf8_lossy(&appended);
    assert!(
        text.contains("Subject: written offline\r\n") && text.ends_with("\r\n\r\nhello\r\n"),
        "{text}"
    );
}
