//! POP3 transcripts over raw sockets: the commands of RFC 1939, CAPA, SASL, exact sizes.

use tern_config::Protocol;

use crate::{deliver, server, without_trace, Pop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_commands_and_exact_sizes() {
    let server = server().await;
    let messages = vec![
        b"Subject: one\r\n\r\nfirst\r\n.dotted line\r\n".to_vec(),
        b"Subject: two\r\n\r\nl1\r\nl2\r\nl3\r\n".to_vec(),
    ];
    deliver(&server, &["alice@example.test"], &messages).await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    let capa = {
        p.ok("CAPA").await;
        String::from_utf8(p.multi().await).unwrap()
    };
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "STLS",
        "IMPLEMENTATION Tern",
    ] {
        assert!(capa.lines().any(|l| l == cap), "{cap} missing from {capa}");
    }
    p.err("STAT").await;
    p.login("alice@example.test").await;
    let stat = p.ok("STAT").await;
    let (count, total): (usize, u64) = {
        let mut parts = stat.split(' ').skip(1);
        (
            parts.next().unwrap().parse().unwrap(),
            parts.next().unwrap().parse().unwrap(),
        )
    };
    assert_eq!(count, 2);
    p.ok("LIST").await;
    let list = String::from_utf8(p.multi().await).unwrap();
    let sizes: Vec<u64> = list
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), total);
    for (i, message) in messages.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            p.ok(&format!("LIST {n}")).await,
            format!("+OK {n} {}", sizes[i])
        );
        p.ok(&format!("RETR {n}")).await;
        let got = p.multi().await;
        // What RETR sends is exactly the size LIST announced, and the message as sent.
        assert_eq!(got.len() as u64, sizes[i]);
        assert_eq!(without_trace(&got), &message[..]);
    }
    p.ok("TOP 2 1").await;
    let top = p.multi().await;
    assert!(
        without_trace(&top).ends_with(b"Subject: two\r\n\r\nl1\r\n"),
        "{}",
        String::from_utf8_lossy(&top)
    );
    p.ok("UIDL").await;
    let uidl = String::from_utf8(p.multi().await).unwrap();
    let ids: Vec<&str> = uidl.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids
        .iter()
        .all(|id| id.bytes().all(|b| (0x21..=0x7e).contains(&b))));
    assert_eq!(p.ok("UIDL 2").await, format!("+OK 2 {}", ids[1]));
    p.ok("DELE 1").await;
    p.err("DELE 1").await;
    p.err("RETR 1").await;
    p.err("LIST 1").await;
    assert!(p.ok("STAT").await.starts_with("+OK 1 "));
    p.ok("RSET").await;
    assert!(p.ok("STAT").await.starts_with("+OK 2 "));
    p.ok("DELE 2").await;
    p.err("RETR 3").await;
    p.err("RETR 0").await;
    assert!(p.ok("QUIT").await.contains("1 messages deleted"));
    // Deleted at QUIT; the other stays, with the same unique id.
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.login("alice@example.test").await;
    assert!(p.ok("STAT").await.starts_with("+OK 1 "));
    assert_eq!(p.ok("UIDL 1").await, format!("+OK 1 {}", ids[0]));
    p.ok("QUIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_plain_with_and_without_initial_response() {
    let server = server().await;
    // base64 of "\0alice@example.test\0test password 1"
    let plain = "AGFsaWNlQGV4YW1wbGUudGVzdAB0ZXN0IHBhc3N3b3JkIDE=";
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.ok(&format!("AUTH PLAIN {plain}")).await;
    p.ok("QUIT").await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ ");
    p.ok(plain).await;
    p.ok("QUIT").await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ ");
    assert!(p.err("*").await.contains("cancelled"));
    assert!(p
        .err("AUTH PLAIN bm90IGJhc2U2NA")
        .await
        .starts_with("-ERR [AUTH]"));
    p.err("AUTH CRAM-MD5").await;
    p.ok("AUTH").await;
    assert_eq!(p.multi().await, b"PLAIN\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_answered_in_order() {
    let server = server().await;
    deliver(
        &server,
        &["bob@example.test"],
        &[b"Subject: p\r\n\r\nx\r\n".to_vec()],
    )
    .await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.send(&format!(
        "USER bob@example.test\r\nPASS {}\r\nSTAT\r\nNOOP\r\nQUIT\r\n",
        tern_testkit::TEST_PASSWORD
    ))
    .await;
    for expected in [
        "+OK Send PASS",
        "+OK Logged in, 1 messages",
        "+OK 1 ",
        "+OK OK",
        "+OK mx.test signing off",
    ] {
        let line = p.line().await;
        assert!(
            line.starts_with(expected),
            "expected {expected:?}, got {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_lf_messages_are_sent_with_crlf_and_counted_so() {
    let server = server().await;
    // BDAT may carry bare LF; POP3 must still send CRLF lines and count them.
    let mut smtp = tokio::net::TcpStream::connect(server.addr(Protocol::Smtp))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut greeting = [0u8; 100];
    let n = smtp.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"220 "));
    smtp.write_all(b"EHLO t\r\nMAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nBDAT 14 LAST\r\nSubject: lf\n\nx").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut text = String::new();
    while !text.contains("queued") {
        let n = smtp.read(&mut buf).await.unwrap();
        assert!(n > 0, "{text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    server.inbox("alice@example.test", 1).await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.login("alice@example.test").await;
    let size: u64 = p
        .ok("LIST 1")
        .await
        .split(' ')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    p.ok("RETR 1").await;
    let got = p.multi().await;
    assert_eq!(got.len() as u64, size);
    assert!(
        got.ends_with(b"Subject: lf\r\n\r\nx\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

/// Delivers each body with BDAT (stored exactly as sent, bare CR and LF included) to alice.
async fn deliver_with_bdat(server: &tern_testkit::TestServer, bodies: &[&[u8]]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let smtp = tokio::net::TcpStream::connect(server.addr(Protocol::Smtp))
        .await
        .unwrap();
    let (read, mut write) = smtp.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut expect = async |reader: &mut BufReader<_>, code: &str| loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect(&mut reader, "220").await;
    write.write_all(b"EHLO t\r\n").await.unwrap();
    expect(&mut reader, "250").await;
    for body in bodies {
        let mut wire = format!(
            "MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.test>\r\nBDAT {} LAST\r\n",
            body.len()
        )
        .into_bytes();
        wire.extend_from_slice(body);
        write.write_all(&wire).await.unwrap();
        for _ in 0..3 {
            expect(&mut reader, "250").await;
        }
    }
    server.inbox("alice@example.test", bodies.len()).await;
}

/// LIST announces exactly the octets RETR sends (after un-stuffing), for bodies that end in a
/// bare CR, hold bare LFs or CR CR LF, lack a final line end, or are empty; and RETR sends the
/// stored text with every line ending in CRLF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_retr_agree_for_every_bdat_body() {
    let server = server().await;
    let bodies: [&[u8]; 7] = [
        b"Subject: cr\r\n\r\nends in a bare CR\r",
        b"Subject: lf\n\nbare\nLF\n",
        b"Subject: crcrlf\r\r\n\r\nx\r\r\ny",
        b"Subject: none\r\n\r\nno final line end",
        b"",
        b".\r\n..\r\n.",
        b"\r\r\r\n\n\r",
    ];
    deliver_with_bdat(&server, &bodies).await;
    let stored = server.inbox("alice@example.test", bodies.len()).await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.login("alice@example.test").await;
    for (i, message) in stored.iter().enumerate() {
        let n = i + 1;
        let listed: u64 = p
            .ok(&format!("LIST {n}"))
            .await
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        p.ok(&format!("RETR {n}")).await;
        let sent = p.multi().await;
        assert_eq!(
            sent.len() as u64,
            listed,
            "body {:?}: LIST said {listed}, RETR sent {}",
            String::from_utf8_lossy(bodies[i]),
            sent.len()
        );
        assert_eq!(sent, tern_message::wire_form(message));
    }
    p.ok("QUIT").await;
}
