//! Trace headers that parse: the stored Return-Path and Received, read back with a real
//! parser (mail-parser), for senders and EHLO names chosen to break a naive writer.

use mail_parser::{Host, MessageParser};
use tern_config::Protocol;
use tern_testkit::TestServer;

use crate::{server, Raw};

/// Delivers one message to alice after `ehlo`, `mail` and returns it as stored (the `n`th in
/// her INBOX).
async fn deliver(server: &TestServer, n: usize, ehlo: &str, mail: &str) -> Vec<u8> {
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect(&format!("EHLO {ehlo}"), "250").await;
    c.expect(mail, "250 2.1.0").await;
    c.expect("RCPT TO:<alice@example.test>", "250").await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: trace\r\n\r\nbody\r\n.\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.expect("QUIT", "221").await;
    server
        .inbox("alice@example.test", n)
        .await
        .into_iter()
        .nth(n - 1)
        .expect("delivered")
}

/// Checks the Received header with mail-parser: from the client's address, by this server,
/// for alice, and a date.
fn check_received(stored: &[u8]) {
    let message = MessageParser::default().parse(stored).expect("parses");
    let received = message.received().expect("a Received header");
    assert_eq!(
        received.from(),
        Some(Host::IpAddr("127.0.0.1".parse().unwrap())),
        "{received:?}"
    );
    assert_eq!(received.by(), Some(Host::Name("mx.test")), "{received:?}");
    assert_eq!(received.for_(), Some("alice@example.test"), "{received:?}");
    let date = received.date().expect("a date");
    assert!(date.year >= 2024, "{received:?}");
}

/// The address in the stored Return-Path, as Python's `email.utils.parseaddr` reads it.
fn return_path_by_python(stored: &[u8]) -> Option<String> {
    use std::io::Write;
    let script = "import email, email.utils, sys\n\
                  m = email.message_from_bytes(sys.stdin.buffer.read())\n\
                  print(email.utils.parseaddr(m['Return-Path'])[1])";
    let mut python = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (apt-get install python3)");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(stored)
        .expect("write to python3");
    let out = python.wait_with_output().expect("python3 ends");
    assert!(out.status.success(), "python3 failed");
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quoted_local_part_keeps_its_quotes_in_return_path() {
    let server = server().await;
    let stored = deliver(&server, 1, "[127.0.0.1]", r#"MAIL FROM:<"a> b;c"@y.test>"#).await;
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.starts_with("Return-Path: <\"a> b;c\"@y.test>\r\n"),
        "{text}"
    );
    // RFC 5322 §3.6.7: Return-Path holds an angle-addr. mail-parser reads it as a message id
    // (and cuts at the quoted '>'), so Python's email package reads it as an address.
    assert_eq!(
        return_path_by_python(&stored),
        Some("\"a> b;c\"@y.test".to_string())
    );
    check_received(&stored);
    let escaped = deliver(&server, 2, "client.test", r#"MAIL FROM:<"x\"y\\z"@y.test>"#).await;
    assert!(
        escaped.starts_with(b"Return-Path: <\"x\\\"y\\\\z\"@y.test>\r\n"),
        "{}",
        String::from_utf8_lossy(&escaped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ehlo_argument_that_is_not_a_domain_goes_into_a_comment() {
    let server = server().await;
    let stored = deliver(
        &server,
        1,
        "evil;by(x)\\",
        "MAIL FROM:<sender@remote.example>",
    )
    .await;
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.contains("Received: from [127.0.0.1] (helo=evil;by\\(x\\)\\\\)\r\n"),
        "{text}"
    );
    check_received(&stored);
}
