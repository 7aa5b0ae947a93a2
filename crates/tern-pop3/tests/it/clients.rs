//! Python's poplib (plain, STLS, implicit TLS) and fetchmail, each downloading a corpus that
//! was delivered over SMTP, byte for byte, and deleting it.

use std::path::Path;
use std::process::Command;

use tern_config::Protocol;
use tern_testkit::{corpus, TestServer, TEST_PASSWORD};

use crate::{deliver, server, without_trace};

/// The downloaded files `1.eml`, `2.eml`, ... in order.
fn downloaded(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|i| {
            std::fs::read(dir.join(format!("{i}.eml"))).unwrap_or_else(|e| panic!("{i}.eml: {e}"))
        })
        .collect()
}

async fn poplib(server: &TestServer, mode: &str, protocol: Protocol, user: &str, out: &Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/poplib_client.py");
    let args = [
        mode.to_string(),
        server.addr(protocol).port().to_string(),
        user.to_string(),
        TEST_PASSWORD.to_string(),
        server
            .config
            .data_dir
            .join("tls/cert.pem")
            .display()
            .to_string(),
        out.display().to_string(),
    ];
    let mut python = Command::new("python3");
    python.arg(script).args(args);
    tern_testkit::run_client(python, &format!("python3 poplib ({mode})")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_downloads_a_thousand_messages_byte_exact_then_deletes_them() {
    let server = server().await;
    let messages = corpus(1000, 7);
    deliver(&server, &["alice@example.test"], &messages).await;
    let out = tempfile::tempdir().unwrap();
    poplib(
        &server,
        "plain",
        Protocol::Pop3,
        "alice@example.test",
        out.path(),
    )
    .await;
    for (i, (got, sent)) in downloaded(out.path(), messages.len())
        .iter()
        .zip(&messages)
        .enumerate()
    {
        assert_eq!(without_trace(got), &sent[..], "message {} differs", i + 1);
    }
    assert!(
        server.inbox("alice@example.test", 0).await.is_empty(),
        "deleted messages are still stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_over_stls_and_implicit_tls() {
    let server = server().await;
    let messages = corpus(20, 11);
    deliver(
        &server,
        &["alice@example.test", "bob@example.test"],
        &messages,
    )
    .await;
    for (mode, protocol, user) in [
        ("stls", Protocol::Pop3, "alice@example.test"),
        ("ssl", Protocol::Pop3s, "bob@example.test"),
    ] {
        let out = tempfile::tempdir().unwrap();
        poplib(&server, mode, protocol, user, out.path()).await;
        for (got, sent) in downloaded(out.path(), messages.len()).iter().zip(&messages) {
            assert_eq!(without_trace(got), &sent[..], "{mode}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetchmail_downloads_a_thousand_messages_and_deletes_them() {
    let server = server().await;
    let messages = corpus(1000, 3);
    deliver(&server, &["fm@example.test"], &messages).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // fetchmail hands each message to the MDA on stdin, in order: number them as they come.
    let mda = dir.path().join("mda.sh");
    std::fs::write(
        &mda,
        format!(
            "#!/bin/sh\nn=$(ls {out} | wc -l)\ncat > {out}/$((n + 1)).eml\n",
            out = out.display()
        ),
    )
    .unwrap();
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\nset no bouncemail\n\
             poll 127.0.0.1 protocol POP3 service {port} auth password:\n  \
             user \"fm@example.test\" there with password \"{TEST_PASSWORD}\" is root here\n  \
             mda \"/bin/sh {mda}\"\n  options fetchall nokeep no rewrite\n  \
             sslcertck sslcertfile \"{cert}\" sslcommonname \"mx.test\"\n",
            port = server.addr(Protocol::Pop3).port(),
            mda = mda.display(),
            cert = server.config.data_dir.join("tls/cert.pem").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home = dir.path().to_path_buf();
    let mut fetchmail = Command::new("fetchmail");
    fetchmail
        .args(["--nodetach", "--invisible", "-f"])
        .arg(&rc)
        .env("HOME", &home)
        .env("FETCHMAILHOME", &home);
    tern_testkit::run_client(fetchmail, "fetchmail (apt-get install fetchmail)").await;
    // fetchmail passes messages to an MDA with LF line ends: compare with CRs removed.
    let strip_cr = |b: &[u8]| {
        b.iter()
            .copied()
            .filter(|&c| c != b'\r')
            .collect::<Vec<u8>>()
    };
    for (i, (got, sent)) in downloaded(&out, messages.len())
        .iter()
        .zip(&messages)
        .enumerate()
    {
        let got = strip_cr(got);
        let sent = strip_cr(sent);
        assert!(
            got.ends_with(&sent),
            "message {} differs:\n{}",
            i + 1,
            String::from_utf8_lossy(&got)
        );
        assert!(
            got.starts_with(b"Return-Path: <sender@remote.example>\n"),
            "message {}",
            i + 1
        );
    }
    assert!(
        server.inbox("fm@example.test", 0).await.is_empty(),
        "fetchmail's deletions did not happen"
    );
}
