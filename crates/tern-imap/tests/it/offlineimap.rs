//! offlineimap from Debian (package offlineimap3), a real client: it syncs a thousand
//! messages of varied MIME down to a local Maildir, byte for byte, and flags, deletions and
//! new messages made on either side propagate (the scenario is in [`crate::offline_sync`]).

use std::path::Path;
use std::process::Command;

use tern_config::Protocol;
use tern_testkit::{TestServer, TEST_PASSWORD};

use crate::offline_sync::{run, server_with_mailbox, Client};

/// Plain IMAP on loopback upgraded with STARTTLS. offlineimap checks no certificate after
/// STARTTLS (it gives imaplib2 no CA file; sslcacertfile applies to `ssl = yes` only, and
/// its name check would refuse the test certificate's name on 127.0.0.1), so none is
/// configured. One folder, one account, no fsync: a test, not a mail store.
fn config(dir: &Path, server: &TestServer) -> String {
    format!(
        "[general]\naccounts = tern\nmetadata = {dir}/metadata\nfsync = false\nsocktimeout = 120\n\n\
         [Account tern]\nlocalrepository = local\nremoterepository = remote\n\n\
         [Repository local]\ntype = Maildir\nlocalfolders = {dir}/mail\n\n\
         [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
         remoteuser = alice@example.test\nremotepass = {TEST_PASSWORD}\nssl = no\nstarttls = yes\n\
         folderfilter = lambda folder: folder == 'INBOX'\n",
        port = server.addr(Protocol::Imap).port(),
        dir = dir.display(),
    )
}

/// One sync (`-o`: no refresh loop), errors only on the output.
fn offlineimap(config: &Path) -> Command {
    let mut offlineimap = Command::new("offlineimap");
    offlineimap
        .arg("-c")
        .arg(config)
        .args(["-o", "-u", "quiet"]);
    offlineimap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offlineimap_syncs_down_and_back_up() {
    let server = server_with_mailbox().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("offlineimaprc");
    std::fs::write(&config_path, config(dir.path(), &server)).expect("write offlineimaprc");
    let client = Client {
        name: "offlineimap",
        inbox: dir.path().join("mail/INBOX"),
        sync: offlineimap,
        config: config_path,
        normalise: python_email_rewrites,
    };
    run(&server, &client).await;
}

/// What offlineimap changes in the messages it copies, either way. offlineimap3 parses every
/// message with Python's email package and writes it back out (folder/IMAP.py and
/// folder/Maildir.py: `BytesParser` then `as_bytes`, LF line ends in the Maildir, CRLF to the
/// server), which keeps the bytes but for two spellings it normalises:
/// - a multipart's close delimiter directly followed by a delimiter of the enclosing
///   multipart gets an empty line between them (the inner multipart's empty epilogue);
/// - a header field whose value starts on a continuation line gets a space after its colon.
///
/// (Its X-OfflineIMAP field is added only to find an upload's UID on servers without
/// UIDPLUS, which Tern has.) `message` has LF line ends.
fn python_email_rewrites(message: &[u8]) -> Vec<u8> {
    let boundaries = boundaries(message);
    let delimiter = |line: &[u8]| {
        let line = line.strip_suffix(b"--").unwrap_or(line);
        line.strip_prefix(b"--")
            .is_some_and(|b| boundaries.iter().any(|known| known == b))
    };
    let lines: Vec<&[u8]> = message
        .split_inclusive(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l))
        .collect();
    let mut out = Vec::with_capacity(message.len() + 64);
    // Header blocks: the message's, and each part's after its delimiter.
    let mut in_header = true;
    for (n, line) in lines.iter().enumerate() {
        let next = lines.get(n + 1).copied().unwrap_or(b"");
        if line.is_empty() {
            in_header = false;
        }
        out.extend_from_slice(line);
        let field_name_only = in_header
            && line.last() == Some(&b':')
            && !line.starts_with(b" ")
            && !line.starts_with(b"\t")
            && (next.starts_with(b" ") || next.starts_with(b"\t"));
        if field_name_only {
            out.push(b' ');
        }
        if n + 1 < lines.len() || message.ends_with(b"\n") {
            out.push(b'\n');
        }
        if delimiter(line) {
            in_header = !line.ends_with(b"--");
            if line.ends_with(b"--") && delimiter(next) {
                out.push(b'\n');
            }
        }
    }
    out
}

/// Every multipart boundary the message declares (`boundary="..."` or unquoted).
fn boundaries(message: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let lower = message.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..]
        .windows(9)
        .position(|w| w == b"boundary=")
        .map(|at| from + at + 9)
    {
        let rest = &message[at..];
        let value = match rest.strip_prefix(b"\"") {
            Some(quoted) => &quoted[..quoted.iter().position(|&b| b == b'"').unwrap_or(0)],
            None => {
                let end = rest
                    .iter()
                    .position(|b| b";\n \t".contains(b))
                    .unwrap_or(rest.len());
                &rest[..end]
            }
        };
        found.push(value.to_vec());
        from = at;
    }
    found
}
