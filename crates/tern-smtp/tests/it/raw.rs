//! Raw-socket transcripts: the protocol itself, and one test per kind of bad input, each
//! checking the reply code and that nothing was stored.

use tern_config::Protocol;
use tern_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{server, server_with, without_trace, Raw};

/// No message in any INBOX and none in the queue.
async fn nothing_stored(server: &TestServer) {
    let stores = server.stores();
    for account in stores.directory.list_accounts(None).await.unwrap() {
        let inbox = stores.mailboxes.mailbox(account.id, "INBOX").await.unwrap();
        assert_eq!(inbox.messages, 0, "{} has mail", account.address);
    }
    assert_eq!(server.queued().await, 0, "something is queued");
    assert_eq!(stores.blobs.count().await.unwrap(), 0, "a blob was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_session_delivers_byte_exact_with_trace_headers() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    for ext in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "BINARYMIME",
        "DSN",
        "STARTTLS",
    ] {
        assert!(
            ehlo.contains(&format!("250-{ext}\r\n")) || ehlo.contains(&format!("250 {ext}\r\n")),
            "{ext} missing: {ehlo}"
        );
    }
    c.expect("MAIL FROM:<sender@remote.example>", "250 2.1.0")
        .await;
    c.expect("RCPT TO:<alice@example.test>", "250 2.1.5").await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n")
        .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0 OK, queued as "), "{reply}");
    c.expect("QUIT", "221 2.0.0").await;
    let inbox = server.inbox("alice@example.test", 1).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        without_trace(&inbox[0]),
        b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n"
    );
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(text.starts_with("Return-Path: <sender@remote.example>\r\nReceived: from client.test ([127.0.0.1])\r\n\tby mx.test (Tern) with ESMTP\r\n"), "{text}");
    assert!(
        text.contains("\r\n\tfor <alice@example.test>;\r\n"),
        "{text}"
    );
    assert_eq!(server.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_null_sender_is_accepted() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope("", &["bob@example.test"]).await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: bounce\r\n\r\nx\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 "));
    let inbox = server.inbox("bob@example.test", 1).await;
    assert!(inbox[0].starts_with(b"Return-Path: <>\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_answered_in_order() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    c.send(b"MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n").await;
    for code in ["250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354"] {
        let reply = c.reply().await;
        assert!(reply.starts_with(code), "expected {code}, got {reply}");
    }
    c.send(b"Subject: p\r\n\r\npipelined\r\n.\r\nMAIL FROM:<s@remote.example>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n").await;
    for code in ["250 2.0.0", "250 2.1.0", "250 2.1.5", "354"] {
        let reply = c.reply().await;
        assert!(reply.starts_with(code), "expected {code}, got {reply}");
    }
    c.send(b"second\r\n.\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("250 "));
    assert!(c.reply().await.starts_with("221 "));
    assert_eq!(
        without_trace(&server.inbox("alice@example.test", 1).await[0]),
        b"Subject: p\r\n\r\npipelined\r\n"
    );
    assert_eq!(server.inbox("bob@example.test", 1).await.len(), 1);
    assert_eq!(
        without_trace(&server.inbox("carol@example.test", 1).await[0]),
        b"second\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_chunks_and_binarymime() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope("s@remote.example", &["alice@example.test"])
        .await;
    c.send(b"BDAT 14\r\nSubject: b\r\n\r\nBDAT 8 LAST\r\nx\n.\r\n\0\xffy")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0 14 octets"));
    assert!(c.reply().await.starts_with("250 2.0.0 OK, queued"));
    // BINARYMIME goes with BDAT only (RFC 3030 §3).
    c.expect("MAIL FROM:<s@remote.example> BODY=BINARYMIME", "250")
        .await;
    c.expect("RCPT TO:<bob@example.test>", "250").await;
    c.expect("DATA", "503 5.5.1").await;
    c.send(b"BDAT 3 LAST\r\n\x00\x01\x02").await;
    assert!(c.reply().await.starts_with("250 2.0.0 OK"));
    // BDAT without a transaction: the chunk is read (not taken for commands), then refused.
    c.send(b"BDAT 6 LAST\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("503 5.5.1"));
    c.expect("NOOP", "250").await;
    assert_eq!(
        without_trace(&server.inbox("alice@example.test", 1).await[0]),
        b"Subject: b\r\n\r\nx\n.\r\n\0\xffy"
    );
    assert_eq!(
        without_trace(&server.inbox("bob@example.test", 1).await[0]),
        b"\x00\x01\x02"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_variants_are_refused_and_store_nothing() {
    let server = server().await;
    let variants: [&[u8]; 6] = [
        b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r.\r",
    ];
    for variant in variants {
        let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
        c.envelope("attacker@remote.example", &["alice@example.test"])
            .await;
        c.expect("DATA", "354").await;
        let mut payload = b"Subject: first\r\n\r\nbody".to_vec();
        payload.extend_from_slice(variant);
        payload.extend_from_slice(b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n");
        c.send(&payload).await;
        let reply = c.reply().await;
        assert!(
            reply.starts_with("550 5.5.2"),
            "{:?}: {reply}",
            String::from_utf8_lossy(variant)
        );
        c.expect("QUIT", "221").await;
    }
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_newlines_in_commands_are_refused() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    c.send(b"MAIL FROM:<a@remote.example>\n").await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    c.send(b"RCPT TO:<alice@example.test>\rRSET\r\n").await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    // Neither command took effect.
    c.expect("RCPT TO:<alice@example.test>", "503 5.5.1").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_pipelined_after_starttls_is_discarded() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    // The injected commands arrive in the same packet as STARTTLS (CVE-2011-0411).
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@remote.example>\r\nRCPT TO:<alice@example.test>\r\n")
        .await;
    assert!(c.reply().await.starts_with("220 2.0.0"));
    let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();
    let mut tls = server
        .tls_connector()
        .connect(name, c.stream)
        .await
        .expect("handshake");
    tls.write_all(b"EHLO client.test\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    // The first thing said over TLS answers EHLO, not the injected MAIL.
    assert!(text.starts_with("250-mx.test"), "{text}");
    assert!(
        !text.contains("STARTTLS"),
        "STARTTLS offered again inside TLS: {text}"
    );
    // And no transaction exists: RCPT needs a MAIL first.
    tls.write_all(b"RCPT TO:<alice@example.test>\r\n")
        .await
        .unwrap();
    let n = tls.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"503 5.5.1"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_is_refused_by_size_data_and_bdat() {
    let server = server_with("[smtp]\nmax_message_size = 2048\n").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(ehlo.contains("SIZE 2048"), "{ehlo}");
    c.expect("MAIL FROM:<s@remote.example> SIZE=4096", "552 5.3.4")
        .await;

    c.expect("MAIL FROM:<s@remote.example>", "250").await;
    c.expect("RCPT TO:<alice@example.test>", "250").await;
    c.expect("DATA", "354").await;
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        big.extend_from_slice(&[b'x'; 70]);
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b".\r\n");
    c.send(&big).await;
    assert!(c.reply().await.starts_with("552 5.3.4"));

    c.expect("MAIL FROM:<s@remote.example>", "250").await;
    c.expect("RCPT TO:<alice@example.test>", "250").await;
    c.send(b"BDAT 3000 LAST\r\n").await;
    c.send(&[b'y'; 3000]).await;
    assert!(c.reply().await.starts_with("552 5.3.4"));
    // The session goes on.
    c.expect("NOOP", "250").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_recipients_get_452() {
    let server = server_with("[smtp]\nmax_recipients = 2\n").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope(
        "s@remote.example",
        &["alice@example.test", "bob@example.test"],
    )
    .await;
    c.expect("RCPT TO:<carol@example.test>", "452 4.5.3").await;
    c.expect("RSET", "250").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_lines_are_refused() {
    let server = server_with("[smtp]\nmax_text_line = 1000\n").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    let long_command = format!("NOOP {}", "a".repeat(600));
    c.expect(&long_command, "500 5.5.2").await;
    c.expect("NOOP", "250").await;
    c.expect("MAIL FROM:<s@remote.example>", "250").await;
    c.expect("RCPT TO:<alice@example.test>", "250").await;
    c.expect("DATA", "354").await;
    // 998 (RFC 5322) and up to the hard limit are fine; beyond it is not.
    let mut text = format!("Subject: long\r\n\r\n{}\r\n", "b".repeat(1000)).into_bytes();
    text.extend_from_slice(format!("{}\r\n.\r\n", "c".repeat(1001)).as_bytes());
    c.send(&text).await;
    assert!(c.reply().await.starts_with("550 5.6.0"));
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_talks_first_is_refused() {
    let server = server_with("[smtp]\ngreeting_delay_ms = 300\n").await;
    let mut c = Raw::connect(server.addr(Protocol::Smtp)).await;
    c.send(b"EHLO eager.test\r\nMAIL FROM:<s@remote.example>\r\n")
        .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("554 5.5.0"), "{reply}");
    assert_eq!(c.reply().await, "", "the connection should be closed");
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attempts_are_refused() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope("s@remote.example", &[]).await;
    for (rcpt, code) in [
        ("<victim@remote.example>", "550 5.7.1"),
        ("<@hop.example:victim@remote.example>", "550 5.7.1"),
        ("<user%remote.example@example.test>", "550 5.1.1"),
        ("<victim@remote.example@example.test>", "501 5.1.3"),
        ("<\"victim@remote.example\"@example.test>", "550 5.1.1"),
        ("<victim@[192.0.2.1]>", "501 5.1.3"),
        ("<nobody@example.test>", "550 5.1.1"),
    ] {
        c.expect(&format!("RCPT TO:{rcpt}"), code).await;
    }
    c.expect("DATA", "554 5.5.1").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_out_of_order_get_503_and_change_nothing() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("MAIL FROM:<s@remote.example>", "503 5.5.1").await;
    c.expect("EHLO client.test", "250").await;
    c.expect("RCPT TO:<alice@example.test>", "503 5.5.1").await;
    c.expect("DATA", "503 5.5.1").await;
    c.expect("MAIL FROM:<s@remote.example>", "250").await;
    c.expect("MAIL FROM:<s@remote.example>", "503 5.5.1").await;
    c.expect("DATA", "554 5.5.1").await;
    c.expect("VRFY alice", "252 2.5.2").await;
    c.expect("HELP", "214").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_bad_commands_end_the_session() {
    let server = server_with("[smtp]\nmax_bad_commands = 3\n").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("FOO", "500 5.5.2").await;
    c.expect("MAIL FROM:<bad address>", "501").await;
    c.expect("BAR", "421 4.7.0").await;
    assert_eq!(c.reply().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_per_address_and_in_all() {
    let server = server_with("[smtp]\nmax_connections_per_ip = 2\n").await;
    let _a = Raw::greeted(server.addr(Protocol::Smtp)).await;
    let _b = Raw::greeted(server.addr(Protocol::Smtp)).await;
    let mut c = Raw::connect(server.addr(Protocol::Smtp)).await;
    assert!(c.reply().await.starts_with("421 4.7.0"));
    drop(_a);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _d = Raw::greeted(server.addr(Protocol::Smtp)).await;

    let server = server_with("[smtp]\nmax_connections = 1\n").await;
    let _a = Raw::greeted(server.addr(Protocol::Smtp)).await;
    let mut c = Raw::connect(server.addr(Protocol::Smtp)).await;
    assert!(c
        .reply()
        .await
        .starts_with("421 4.7.0 mx.test Too many connections,"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idle_clients_are_disconnected_after_the_timeout() {
    let server = server_with("[smtp]\nidle_timeout = 300\n").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    let started = tokio::time::Instant::now();
    // The paused clock jumps ahead while everyone waits: no real five minutes pass.
    let reply = c.reply_within(std::time::Duration::from_secs(3600)).await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(300));
}

/// A server configured with `extra` whose alice may store 1,000 bytes, and a session past EHLO.
async fn greeted_with_alice_at_1000_bytes(extra: &str) -> (TestServer, Raw) {
    let alice = tern_types::Address::parse("alice@example.test").unwrap();
    let server = server_with(extra).await;
    server
        .stores()
        .directory
        .set_quota(&alice, 1000)
        .await
        .unwrap();
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    (server, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mailboxes_get_452_or_552() {
    for (extra, expected) in [
        ("", "452 4.2.2"),
        ("[smtp]\nover_quota = \"permanent\"\n", "552 5.2.2"),
    ] {
        let (server, mut c) = greeted_with_alice_at_1000_bytes(extra).await;
        c.expect("MAIL FROM:<s@remote.example> SIZE=5000", "250")
            .await;
        c.expect("RCPT TO:<alice@example.test>", expected).await;
        nothing_stored(&server).await;
    }
}

/// Issue 10 item 10: the id in "queued as" names one message for the store's whole life, so
/// log lines can be matched with the sender's; an idle server used to call every message 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_never_repeat() {
    let server = server().await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
        c.envelope("s@remote.example", &["alice@example.test"])
            .await;
        c.expect("DATA", "354").await;
        c.send(format!("Subject: {n}\r\n\r\nbody\r\n.\r\n").as_bytes())
            .await;
        let reply = c.reply().await;
        let id = reply
            .trim_end()
            .strip_prefix("250 2.0.0 OK, queued as ")
            .unwrap_or_else(|| panic!("{reply}"))
            .to_string();
        // Each message is delivered (and out of any queue) before the next one comes.
        assert_eq!(server.inbox("alice@example.test", n).await.len(), n);
        assert_eq!(server.queued().await, 0);
        ids.push(id);
    }
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was given twice: {ids:?}");
}

/// Issue 11 item 3: the quota is checked on what was sent, not on what SIZE promised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_against_a_missing_or_lying_size() {
    let body = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(5000));
    for (extra, mail, expected) in [
        ("", "MAIL FROM:<s@remote.example>", "452 4.2.2"),
        ("", "MAIL FROM:<s@remote.example> SIZE=10", "452 4.2.2"),
        (
            "[smtp]\nover_quota = \"permanent\"\n",
            "MAIL FROM:<s@remote.example> SIZE=10",
            "552 5.2.2",
        ),
    ] {
        let (server, mut c) = greeted_with_alice_at_1000_bytes(extra).await;
        c.expect(mail, "250").await;
        c.expect("RCPT TO:<alice@example.test>", "250").await;
        c.expect("DATA", "354").await;
        c.send(body.as_bytes()).await;
        let reply = c.reply().await;
        assert!(reply.starts_with(expected), "{mail}: {reply}");
        nothing_stored(&server).await;
        // The session goes on: a message that fits is taken.
        c.envelope("s@remote.example", &["alice@example.test"])
            .await;
        c.expect("DATA", "354").await;
        c.send(b"Subject: small\r\n\r\nfits\r\n.\r\n").await;
        assert!(c.reply().await.starts_with("250 2.0.0"));
        assert_eq!(server.inbox("alice@example.test", 1).await.len(), 1);
    }
}

/// Issue 10 item 2: mail accepted with 250 never vanishes. A copy that could not be delivered
/// (a full mailbox) waits in the queue; when its account is removed it stays there as a
/// failure, with the reason, instead of being deleted by the scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_mail_is_kept_in_the_queue() {
    let server = server().await;
    let alice = tern_types::Address::parse("alice@example.test").unwrap();
    let stores = server.stores();
    stores.directory.set_quota(&alice, 100).await.unwrap();
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope(
        "s@remote.example",
        &["alice@example.test", "bob@example.test"],
    )
    .await;
    c.expect("DATA", "354").await;
    c.send(format!("Subject: x\r\n\r\n{}\r\n.\r\n", "y".repeat(500)).as_bytes())
        .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert_eq!(server.inbox("bob@example.test", 1).await.len(), 1);
    assert_eq!(server.queued().await, 1);
    stores.directory.remove_account(&alice).await.unwrap();
    // Give the scheduler every chance to act on it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let listed = stores.queue.list().await.unwrap();
    assert_eq!(listed.len(), 1, "the message left the queue");
    let rcpt = &listed[0].recipients[0];
    assert_eq!(rcpt.address, "alice@example.test");
    assert_eq!(rcpt.state, tern_store::RecipientState::Failed);
    assert!(rcpt
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("removed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_addresses_need_smtputf8() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    c.expect("MAIL FROM:<josé@remote.example>", "553 5.6.7")
        .await;
    c.expect("MAIL FROM:<s@remote.example>", "250").await;
    c.expect("RCPT TO:<zoë@example.test>", "553 5.6.7").await;
    nothing_stored(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_stores_nothing() {
    let server = server().await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.envelope("s@remote.example", &["alice@example.test"])
        .await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: cut\r\n\r\nhalf a message").await;
    drop(c);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    nothing_stored(&server).await;
}

/// Sends `bytes` one octet every 100 ms (well within the idle timeout) until the server
/// answers; returns the answer.
async fn trickle_until_answered(c: &mut Raw, bytes: &[u8]) -> String {
    for &b in bytes.iter().cycle() {
        c.send(&[b]).await;
        let mut chunk = [0u8; 512];
        match tokio::time::timeout(
            std::time::Duration::from_millis(100),
            c.stream.read(&mut chunk),
        )
        .await
        {
            Ok(Ok(n)) => return String::from_utf8_lossy(&chunk[..n]).into_owned(),
            Ok(Err(e)) => panic!("connection failed: {e}"),
            Err(_) => {}
        }
    }
    unreachable!("cycle() does not end")
}

/// RFC 5321 §4.5.3.2.6: a message transfer that never stalls but takes longer than
/// `smtp.data_timeout` (DATA or BDAT) gets 421 4.4.2 and the connection ends; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_message_gets_421_after_the_data_timeout() {
    let server = server_with("[smtp]\ndata_timeout = 2\n").await;
    for start in ["DATA", "BDAT 100000"] {
        let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
        c.expect("EHLO client.test", "250").await;
        c.envelope("s@remote.example", &["alice@example.test"])
            .await;
        let started = std::time::Instant::now();
        if start == "DATA" {
            c.expect("DATA", "354").await;
        } else {
            c.send(b"BDAT 100000\r\n").await;
        }
        let reply = trickle_until_answered(&mut c, b"Subject: slow\r\n\r\ndrip drip\r\n").await;
        assert!(reply.starts_with("421 4.4.2"), "{start}: {reply}");
        assert!(started.elapsed() >= std::time::Duration::from_secs(2));
        let mut rest = Vec::new();
        let _ = c.stream.read_to_end(&mut rest).await;
    }
    nothing_stored(&server).await;
}

/// When the server is told to stop while a message is being received, the message may still
/// complete within `shutdown_grace`: it is stored, answered 250, and then the session gets
/// 421 4.3.2 instead of starting the next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_flight_at_shutdown_is_finished_and_answered() {
    let TestServer {
        dir: _dir, server, ..
    } = crate::server().await;
    let stores = server.stores();
    let mut c = Raw::greeted(server.addr(Protocol::Smtp).unwrap()).await;
    c.expect("EHLO client.test", "250").await;
    c.envelope("s@remote.example", &["alice@example.test"])
        .await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n").await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Pipelined behind the end of the message: a command the server must not start.
    c.send(b"second half\r\n.\r\nMAIL FROM:<s@remote.example>\r\n")
        .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 "), "{reply}");
    let reply = c.reply().await;
    assert!(reply.starts_with("421 4.3.2"), "{reply}");
    stopping.await.unwrap();
    let inbox = tern_testkit::inbox_of(&stores, "alice@example.test").await;
    let queued = stores.queue.list().await.unwrap().len();
    assert_eq!(inbox.messages as usize + queued, 1);
}
