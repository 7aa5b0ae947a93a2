//! The submission listeners (RFC 6409 on `submission` with STARTTLS, RFC 8314 on
//! `submissions`): AUTH (RFC 4954), who may send as whom, the fixes made to a submitted
//! message, relaying for logged-in users only, the loop limit, the shared login throttle and
//! the connection limits. Raw sockets for the protocol details, Python's smtplib end to end.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use tern_config::Protocol;
use tern_store::Route;
use tern_testkit::{TestServer, TEST_PASSWORD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{server_with, without_trace};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// Remote delivery that never leaves the machine: DNS questions go to the discard port and a
/// failed attempt waits an hour, so a queued message stays queued for the whole test.
const NO_REMOTE_DELIVERY: &str =
    "[outbound]\ndns_servers = [\"127.0.0.1:9\"]\nretry_intervals = [\"1h\"]\n";

/// A server with alice, bob, carol and team@ (see `server_with`), configured with `extra`,
/// that sends nothing out.
async fn submission_server(extra: &str) -> TestServer {
    server_with(&format!("{NO_REMOTE_DELIVERY}{extra}")).await
}

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// An RFC 4616 PLAIN response without an authorization identity.
fn plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

/// Whether an EHLO response lists `ext` as a whole line.
fn offers(ehlo: &str, ext: &str) -> bool {
    ehlo.contains(&format!("250-{ext}\r\n")) || ehlo.contains(&format!("250 {ext}\r\n"))
}

/// The connection under a client: plain TCP, or TLS (after STARTTLS or from the start).
enum Link {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// An SMTP (or POP3) client speaking line by line over plain TCP or TLS.
struct Client {
    link: Link,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self::over(TcpStream::connect(addr).await.expect("connect"))
    }

    /// Connects from another loopback address (all of 127.0.0.0/8 is loopback on Linux), to
    /// be another client.
    async fn connect_from(source: &str, addr: SocketAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        let source: std::net::IpAddr = source.parse().expect("a source address");
        socket.bind(SocketAddr::new(source, 0)).expect("bind");
        Self::over(socket.connect(addr).await.expect("connect"))
    }

    fn over(stream: TcpStream) -> Self {
        Self {
            link: Link::Plain(stream),
            buf: Vec::new(),
        }
    }

    /// Reads the 220 greeting.
    async fn greeted(mut self) -> Self {
        let greeting = self.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        self
    }

    /// A session on the `submission` listener, greeted.
    async fn submission(server: &TestServer) -> Self {
        Self::connect(server.addr(Protocol::Submission))
            .await
            .greeted()
            .await
    }

    /// A session on the MX `smtp` listener, greeted.
    async fn mx(server: &TestServer) -> Self {
        Self::connect(server.addr(Protocol::Smtp))
            .await
            .greeted()
            .await
    }

    /// A session on the `submissions` listener: TLS from the first byte, then the greeting.
    async fn submissions(server: &TestServer) -> Self {
        let tcp = TcpStream::connect(server.addr(Protocol::Submissions))
            .await
            .expect("connect");
        let tls = handshake(server, tcp).await.expect("TLS handshake");
        Self {
            link: Link::Tls(Box::new(tls)),
            buf: Vec::new(),
        }
        .greeted()
        .await
    }

    /// EHLO, STARTTLS and the handshake; the caller sends the new EHLO (RFC 3207 §4.2).
    async fn starttls(mut self, server: &TestServer) -> Self {
        let ehlo = self.expect("EHLO client.test", "250").await;
        assert!(offers(&ehlo, "STARTTLS"), "{ehlo}");
        self.expect("STARTTLS", "220 2.0.0").await;
        assert!(self.buf.is_empty(), "bytes before the handshake");
        let Link::Plain(tcp) = self.link else {
            panic!("TLS is already on")
        };
        let tls = handshake(server, tcp).await.expect("TLS handshake");
        Self {
            link: Link::Tls(Box::new(tls)),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let sent = match &mut self.link {
            Link::Plain(s) => s.write_all(bytes).await,
            Link::Tls(s) => s.write_all(bytes).await,
        };
        sent.expect("send");
    }

    /// One line with its CRLF, or "" when the server closed the connection.
    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            let mut chunk = [0u8; 4096];
            let read = async {
                match &mut self.link {
                    Link::Plain(s) => s.read(&mut chunk).await,
                    Link::Tls(s) => s.read(&mut chunk).await,
                }
            };
            let n = tokio::time::timeout(Duration::from_secs(20), read)
                .await
                .expect("an answer in time")
                .unwrap_or(0);
            if n == 0 {
                return String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One whole reply (all its lines), or "" when the server closed the connection.
    async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            text.push_str(&line);
            if last || line.is_empty() {
                return text;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command and checks the start of the reply (code, enhanced code, text).
    async fn expect(&mut self, line: &str, start: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(
            reply.starts_with(start),
            "{line:?} -> {reply:?}, expected {start}"
        );
        reply
    }

    /// EHLO and AUTH PLAIN with an initial response, as `user` with the test password.
    async fn login(&mut self, user: &str) {
        self.expect("EHLO client.test", "250").await;
        self.expect(
            &format!("AUTH PLAIN {}", plain(user, TEST_PASSWORD)),
            "235 2.7.0",
        )
        .await;
    }

    /// DATA, the message (CRLF lines, none starting with a dot) and its end; the final reply.
    async fn data(&mut self, message: &str) -> String {
        assert!(message.ends_with("\r\n") && !message.contains("\n."));
        self.expect("DATA", "354").await;
        self.send(format!("{message}.\r\n").as_bytes()).await;
        self.reply().await
    }

    /// MAIL and RCPT (each accepted), then the message; the final reply.
    async fn mail(&mut self, from: &str, to: &[&str], message: &str) -> String {
        self.expect(&format!("MAIL FROM:<{from}>"), "250 2.1.0")
            .await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5").await;
        }
        self.data(message).await
    }
}

async fn handshake(
    server: &TestServer,
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = rustls_pki_types::ServerName::try_from("mx.test").expect("name");
    server.tls_connector().connect(name, tcp).await
}

/// The number of messages in `address`'s INBOX now.
async fn inbox_count(server: &TestServer, address: &str) -> u32 {
    tern_testkit::inbox_of(&server.stores(), address)
        .await
        .messages
}

/// No message in any INBOX and none in the queue.
async fn nothing_delivered(server: &TestServer) {
    for user in [ALICE, BOB, "carol@example.test"] {
        assert_eq!(inbox_count(server, user).await, 0, "{user} has mail");
    }
    assert_eq!(server.queued().await, 0, "something is queued");
}

/// The header block of a stored message (up to its blank line).
fn header_block(stored: &[u8]) -> String {
    let text = String::from_utf8_lossy(stored);
    let end = text.find("\r\n\r\n").expect("a header block");
    text[..end + 2].to_string()
}

/// How many fields named `name` a header block has.
fn fields(header: &str, name: &str) -> usize {
    header
        .split("\r\n")
        .filter(|line| {
            line.split_once(':')
                .is_some_and(|(n, _)| n.trim_end().eq_ignore_ascii_case(name))
        })
        .count()
}

/// A message from `from` with `received` Received fields on top.
fn message_with_hops(from: &str, received: usize) -> String {
    let mut text = String::new();
    for i in 0..received {
        text.push_str(&format!(
            "Received: from hop{i}.test by relay{i}.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        ));
    }
    text.push_str(&format!(
        "From: {from}\r\nSubject: {received} hops\r\n\r\nbody\r\n"
    ));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_needs_a_login_and_submission_takes_data_only() {
    let server = submission_server("").await;
    let mut c = Client::submission(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    // RFC 4954 §4: from loopback (`plaintext_without_tls = "loopback"`) AUTH is offered.
    for ext in [
        "AUTH PLAIN LOGIN",
        "STARTTLS",
        "PIPELINING",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(offers(&ehlo, ext), "{ext} missing: {ehlo}");
    }
    assert!(!ehlo.contains("CHUNKING"), "{ehlo}");
    assert!(!ehlo.contains("BINARYMIME"), "{ehlo}");
    // RFC 4954 §6 / RFC 6409 §4.3: no transaction before AUTH.
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "530 5.7.0").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "235 2.7.0",
    )
    .await;
    // RFC 5321 §4.1.1.11: BINARYMIME is not offered here.
    c.expect(&format!("MAIL FROM:<{ALICE}> BODY=BINARYMIME"), "555 5.5.4")
        .await;
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "250 2.1.0").await;
    c.expect(&format!("RCPT TO:<{BOB}>"), "250 2.1.5").await;
    // The chunk is read as data (its QUIT is not a command), then refused.
    c.send(b"BDAT 12 LAST\r\nQUIT\r\nNOOP\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("502 5.5.1"), "{reply}");
    c.expect("NOOP", "250 2.0.0").await;
    c.expect("RSET", "250 2.0.0").await;
    nothing_delivered(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_waits_for_tls_when_plaintext_is_never_allowed() {
    let server = submission_server("[auth]\nplaintext_without_tls = \"never\"\n").await;
    let mut c = Client::submission(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(!ehlo.contains("AUTH"), "AUTH offered in the clear: {ehlo}");
    // RFC 4954 §4 and §6: 538 when the mechanism needs an encrypted connection.
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "538 5.7.11",
    )
    .await;
    c.expect("AUTH LOGIN", "538 5.7.11").await;
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "530 5.7.0").await;

    let mut c = c.starttls(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(offers(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "235 2.7.0",
    )
    .await;
    let reply = c
        .mail(
            ALICE,
            &[BOB],
            "From: alice@example.test\r\nSubject: starttls\r\n\r\nx\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    // RFC 8314 §3.3: on implicit TLS the password may go at once.
    let mut c = Client::submissions(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(offers(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "235 2.7.0",
    )
    .await;
    let reply = c
        .mail(
            ALICE,
            &[BOB],
            "From: alice@example.test\r\nSubject: implicit\r\n\r\ny\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    let bob = server.inbox(BOB, 2).await;
    assert_eq!(bob.len(), 2);
    for stored in &bob {
        let text = String::from_utf8_lossy(stored);
        assert!(
            text.contains("\tby mx.test (Tern) with ESMTPSA\r\n\t(using TLSv1_3 "),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_plain_and_login_exchanges() {
    let server = submission_server("").await;

    // PLAIN with an initial response; one AUTH per session (RFC 4954 §4).
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "503 5.5.1",
    )
    .await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(!ehlo.contains("AUTH"), "AUTH offered after a login: {ehlo}");
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "250 2.1.0").await;

    // PLAIN after an empty 334 challenge.
    let mut c = Client::submission(&server).await;
    c.expect("AUTH PLAIN", "503 5.5.1").await; // no EHLO yet
    c.expect("EHLO client.test", "250").await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    c.expect(&plain(ALICE, TEST_PASSWORD), "235 2.7.0").await;

    // LOGIN: user name, then password, each after its challenge.
    let mut c = Client::submission(&server).await;
    c.expect("EHLO client.test", "250").await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&b64(ALICE.as_bytes())).await, "334 UGFzc3dvcmQ6\r\n");
    c.expect(&b64(TEST_PASSWORD.as_bytes()), "235 2.7.0").await;

    // LOGIN with the user name as initial response (what smtplib sends).
    let mut c = Client::submission(&server).await;
    c.expect("EHLO client.test", "250").await;
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(ALICE.as_bytes())))
            .await,
        "334 UGFzc3dvcmQ6\r\n"
    );
    c.expect(&b64(TEST_PASSWORD.as_bytes()), "235 2.7.0").await;

    // Cancelled (RFC 4954 §4: "*" gets 501), undecodable, wrong, unknown mechanism; then a
    // good login on the same session.
    let mut c = Client::submission(&server).await;
    c.expect("EHLO client.test", "250").await;
    c.expect("AUTH PLAIN", "334").await;
    c.expect("*", "501 ").await;
    c.expect("AUTH LOGIN", "334").await;
    c.expect(&b64(ALICE.as_bytes()), "334").await;
    c.expect("*", "501 ").await;
    c.expect("AUTH PLAIN !!not-base64!!", "501 5.5.2").await;
    c.expect("AUTH LOGIN", "334").await;
    c.expect("%%%", "501 5.5.2").await;
    c.expect("AUTH CRAM-MD5", "504 5.5.4").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, "wrong")),
        "535 5.7.8",
    )
    .await;
    c.expect(
        &format!("AUTH PLAIN {}", plain("nobody@example.test", TEST_PASSWORD)),
        "535 5.7.8",
    )
    .await;
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "530 5.7.0").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "235 2.7.0",
    )
    .await;

    // The MX listener takes no passwords at all.
    let mut c = Client::mx(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "503 5.5.1",
    )
    .await;
    nothing_delivered(&server).await;
}

/// RFC 3207 §4.2: after the TLS handshake "the server MUST discard any knowledge obtained
/// from the client ... which was not obtained from the TLS negotiation itself"; a login made
/// in the clear is such knowledge: after STARTTLS, AUTH is offered again and MAIL needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_forgets_a_login_made_in_the_clear() {
    let server = submission_server("").await;
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    let mut c = c.starttls(&server).await;
    let ehlo = c.expect("EHLO client.test", "250").await;
    assert!(offers(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo}");
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "530 5.7.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_are_limited_to_the_users_own_addresses() {
    let server = submission_server("").await;
    let alias = "alice.smith@example.test";
    server
        .stores()
        .directory
        .add_alias(
            &alias.parse().unwrap(),
            &[tern_types::Address::parse(ALICE).unwrap()],
        )
        .await
        .unwrap();
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    // RFC 6409 §4.3: the envelope sender must be one the user may use (553 5.7.1, RFC 3463).
    c.expect(&format!("MAIL FROM:<{BOB}>"), "553 5.7.1").await;
    c.expect("MAIL FROM:<someone@remote.test>", "553 5.7.1")
        .await;
    c.expect("MAIL FROM:<>", "553 5.7.1").await;
    // Her own address, a sub-address of it, an alias that reaches her.
    for sender in [ALICE, "alice+lists@example.test", alias] {
        c.expect(&format!("MAIL FROM:<{sender}>"), "250 2.1.0")
            .await;
        c.expect("RSET", "250").await;
    }
    let reply = c
        .mail(
            alias,
            &[BOB],
            "From: Alice Smith <alice.smith@example.test>\r\nSubject: alias\r\n\r\nx\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert_eq!(server.inbox(BOB, 1).await.len(), 1);

    // The From field is checked too (RFC 6409 §8.1), at the end of the data.
    for (message, expected) in [
        (
            "From: bob@example.test\r\nSubject: forged\r\n\r\nx\r\n",
            "553 5.7.1",
        ),
        (
            "From: Alice <alice@example.test>, Bob <bob@example.test>\r\nSubject: two\r\n\r\nx\r\n",
            "553 5.7.1",
        ),
        ("Subject: no from\r\n\r\nx\r\n", "550 5.6.0"),
        (
            "From: undisclosed:;\r\nSubject: group\r\n\r\nx\r\n",
            "550 5.6.0",
        ),
    ] {
        let reply = c.mail(ALICE, &[BOB], message).await;
        assert!(reply.starts_with(expected), "{message:?}: {reply}");
    }
    assert_eq!(
        inbox_count(&server, BOB).await,
        1,
        "a refused message was stored"
    );
    assert_eq!(server.queued().await, 0);
}

/// RFC 5322 §3.6: a message has exactly one From field. The From check reads the first one
/// only; DKIM signs the last one (RFC 6376 §5.4.2) and many readers show the last one, so a
/// second From field is refused and nothing is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_from_field_cannot_carry_a_forged_address() {
    let server = submission_server("").await;
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    let reply = c
        .mail(
            ALICE,
            &[BOB],
            "From: alice@example.test\r\nFrom: bob@example.test\r\nSubject: two froms\r\n\r\nx\r\n",
        )
        .await;
    assert!(
        reply.starts_with("553 5.7.1") || reply.starts_with("550 5.6.0"),
        "{reply}"
    );
    nothing_delivered(&server).await;
}

/// The same forgery hidden where one parser sees a second From and another does not: a first
/// line that starts with a blank (it would continue our trace fields once they are put in
/// front), and a From whose name is padded with blanks past any name-length limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_from_hidden_from_one_parser_is_refused_too() {
    let server = submission_server("").await;
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    let folded = " From: alice@example.test\r\nFrom: bob@example.test\r\nSubject: x\r\n\r\nx\r\n";
    let reply = c.mail(ALICE, &[BOB], folded).await;
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    let padded = format!(
        "From: alice@example.test\r\nFrom{}: bob@example.test\r\nSubject: x\r\n\r\nx\r\n",
        " ".repeat(61)
    );
    let reply = c.mail(ALICE, &[BOB], &padded).await;
    assert!(reply.starts_with("550 5.6.0"), "{reply}");
    nothing_delivered(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_as_any_accounts_may_use_any_sender() {
    let server = submission_server("[submission]\nsend_as_any = [\"carol@example.test\"]\n").await;
    let mut c = Client::submission(&server).await;
    c.login("carol@example.test").await;
    let reply = c
        .mail(
            "",
            &[BOB],
            "From: MAILER-DAEMON@remote.test\r\nSubject: notice\r\n\r\nx\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let reply = c
        .mail(
            ALICE,
            &[BOB],
            "From: Alice <alice@example.test>\r\nSubject: as alice\r\n\r\ny\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let bob = server.inbox(BOB, 2).await;
    assert_eq!(bob.len(), 2);
    assert!(bob[0].starts_with(b"Return-Path: <>\r\n"));
    assert!(bob[1].starts_with(b"Return-Path: <alice@example.test>\r\n"));
    // Everyone else is still held to their own addresses.
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    c.expect("MAIL FROM:<>", "553 5.7.1").await;
    c.expect("MAIL FROM:<carol@example.test>", "553 5.7.1")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_messages_lose_bcc_and_gain_date_and_message_id() {
    let server = submission_server("").await;
    let carol = "carol@example.test";
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    // RFC 5322 §3.6.3: Bcc recipients are not shown to the others; folded and repeated
    // fields go whole, a "Bcc:" in the body stays.
    let body = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: fixups\r\n\r\nBcc: stays in the body\r\n";
    let sent = "From: alice@example.test\r\nBcc: carol@example.test,\r\n\tdave@remote.test\r\nTo: bob@example.test\r\nbcc : eve@remote.test\r\nSubject: fixups\r\n\r\nBcc: stays in the body\r\n";
    let reply = c.mail(ALICE, &[BOB, carol], sent).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    // RFC 6409 §8.2 and §8.3: Date and Message-ID added when missing.
    for user in [BOB, carol] {
        let stored = &server.inbox(user, 1).await[0];
        let text = String::from_utf8_lossy(stored);
        assert!(
            text.contains("\tby mx.test (Tern) with ESMTPA\r\n"),
            "{text}"
        );
        let rest = String::from_utf8_lossy(without_trace(stored)).into_owned();
        let (date, rest) = rest.split_once("\r\n").expect("lines");
        let (message_id, rest) = rest.split_once("\r\n").expect("lines");
        assert!(date.starts_with("Date: "), "{text}");
        assert!(
            message_id.starts_with("Message-ID: <") && message_id.ends_with("@mx.test>"),
            "{text}"
        );
        assert_eq!(rest, body, "{user}");
        let parsed = mail_parser::MessageParser::default()
            .parse(stored.as_slice())
            .expect("parses");
        assert!(parsed.date().is_some_and(|d| d.year >= 2024), "{date}");
        assert!(parsed
            .message_id()
            .is_some_and(|id| id.ends_with("@mx.test")));
        let header = header_block(stored);
        assert_eq!(fields(&header, "Bcc"), 0, "{header}");
        assert_eq!(fields(&header, "Date"), 1, "{header}");
        assert_eq!(fields(&header, "Message-ID"), 1, "{header}");
    }

    // Present ones are kept, not duplicated; over TLS the trace says ESMTPSA.
    let mut c = Client::submission(&server).await.starttls(&server).await;
    c.login(ALICE).await;
    let complete = "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <kept@client.test>\r\nFrom: alice@example.test\r\nBcc: carol@example.test\r\nSubject: complete\r\n\r\nx\r\n";
    let reply = c.mail(ALICE, &[BOB], complete).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let stored = &server.inbox(BOB, 2).await[1];
    assert_eq!(
        without_trace(stored),
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <kept@client.test>\r\nFrom: alice@example.test\r\nSubject: complete\r\n\r\nx\r\n"
    );
    let text = String::from_utf8_lossy(stored);
    assert!(
        text.contains("\tby mx.test (Tern) with ESMTPSA\r\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_logged_in_users_may_relay() {
    let server = submission_server("").await;
    let remote = "someone@remote.test";
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    let reply = c
        .mail(
            ALICE,
            &[remote, BOB],
            "From: alice@example.test\r\nSubject: out\r\n\r\nto the world\r\n",
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    // Bob's copy is delivered at once; the remote one waits in the queue.
    assert_eq!(server.inbox(BOB, 1).await.len(), 1);
    let queue = server.stores().queue.list().await.unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].sender, ALICE);
    let recipients: Vec<(&str, &Route)> = queue[0]
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), &r.route))
        .collect();
    assert_eq!(recipients, [(remote, &Route::Remote)]);

    // The MX listener is no open relay, whatever the sender claims to be.
    let mut c = Client::mx(&server).await;
    c.expect("EHLO client.test", "250").await;
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "250 2.1.0").await;
    c.expect(&format!("RCPT TO:<{remote}>"), "550 5.7.1").await;
    c.expect("DATA", "554 5.5.1").await;
    assert_eq!(server.queued().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_fifty_received_fields_is_a_loop_on_both_listeners() {
    let server = submission_server("").await;
    // RFC 5321 §6.3: refused at once (554 5.4.6, RFC 3463 "routing loop detected").
    let mut c = Client::submission(&server).await;
    c.login(ALICE).await;
    let reply = c.mail(ALICE, &[BOB], &message_with_hops(ALICE, 51)).await;
    assert!(reply.starts_with("554 5.4.6"), "{reply}");
    let mut mx = Client::mx(&server).await;
    mx.expect("EHLO client.test", "250").await;
    let reply = mx
        .mail(
            "s@remote.test",
            &[BOB],
            &message_with_hops("s@remote.test", 51),
        )
        .await;
    assert!(reply.starts_with("554 5.4.6"), "{reply}");
    nothing_delivered(&server).await;

    let reply = c.mail(ALICE, &[BOB], &message_with_hops(ALICE, 50)).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let reply = mx
        .mail(
            "s@remote.test",
            &[BOB],
            &message_with_hops("s@remote.test", 50),
        )
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    for stored in server.inbox(BOB, 2).await {
        // The 50 that came and the one this server added.
        assert_eq!(fields(&header_block(&stored), "Received"), 51);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_across_protocols() {
    let server = submission_server("[auth]\nmax_failures_per_ip = 3\n").await;
    let mut c = Client::submission(&server).await;
    c.expect("EHLO client.test", "250").await;
    for _ in 0..3 {
        c.expect(
            &format!("AUTH PLAIN {}", plain(ALICE, "wrong")),
            "535 5.7.8",
        )
        .await;
    }
    // RFC 4954 §6: 454 4.7.0, temporary; the right password is not even checked.
    c.expect(
        &format!("AUTH PLAIN {}", plain(ALICE, TEST_PASSWORD)),
        "454 4.7.0",
    )
    .await;
    let mut c = Client::submission(&server).await;
    c.expect("EHLO client.test", "250").await;
    c.expect("AUTH LOGIN", "334").await;
    c.expect(&b64(ALICE.as_bytes()), "334").await;
    c.expect(&b64(TEST_PASSWORD.as_bytes()), "454 4.7.0").await;

    // The throttle is the server's, not the listener's: POP3 refuses this client too.
    let mut pop = Client::connect(server.addr(Protocol::Pop3)).await;
    assert!(pop.line().await.starts_with("+OK "));
    pop.send(format!("USER {ALICE}\r\n").as_bytes()).await;
    assert!(pop.line().await.starts_with("+OK "));
    pop.send(format!("PASS {TEST_PASSWORD}\r\n").as_bytes())
        .await;
    let line = pop.line().await;
    assert!(
        line.starts_with("-ERR [SYS/TEMP] Too many failed logins"),
        "{line}"
    );

    // It counts per client: another address logs in.
    let mut other = Client::connect_from("127.0.0.2", server.addr(Protocol::Submission))
        .await
        .greeted()
        .await;
    other.login(ALICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_connections_are_limited_per_client() {
    let server = submission_server("[submission]\nmax_connections_per_ip = 1\n").await;
    let _first = Client::submission(&server).await;
    // RFC 5321 §3.8: 421, and the connection is closed.
    let mut second = Client::connect(server.addr(Protocol::Submission)).await;
    let reply = second.reply().await;
    assert!(
        reply.starts_with("421 4.7.0 mx.test Too many connections from your address"),
        "{reply}"
    );
    assert_eq!(second.reply().await, "");
    // Both submission listeners share the limit; on implicit TLS the refusal is a close.
    let tcp = TcpStream::connect(server.addr(Protocol::Submissions))
        .await
        .unwrap();
    assert!(handshake(&server, tcp).await.is_err());
    // Other clients and the MX listener have limits of their own.
    Client::connect_from("127.0.0.2", server.addr(Protocol::Submission))
        .await
        .greeted()
        .await;
    Client::mx(&server).await;
}

/// Python's smtplib as a mail client would use it: STARTTLS, login, sendmail; a forged
/// sender refused; then implicit TLS with AUTH LOGIN.
const SMTPLIB_SCRIPT: &str = r#"
import smtplib, ssl, sys

port, implicit_port, cafile, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
# The certificate names mx.test and we connect to 127.0.0.1: the chain is verified, the name not.
context.check_hostname = False

with smtplib.SMTP("127.0.0.1", port, local_hostname="py.test") as s:
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=context)
    s.ehlo()
    assert "PLAIN" in s.esmtp_features["auth"].split(), s.esmtp_features
    code, _ = s.login("alice@example.test", password)
    assert code == 235, code
    refused = s.sendmail(
        "alice@example.test",
        ["bob@example.test"],
        b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nBcc: carol@example.test\r\nSubject: py submission\r\n\r\nsent with smtplib\r\n",
    )
    assert refused == {}, refused
    try:
        s.sendmail("bob@example.test", ["bob@example.test"], b"From: bob@example.test\r\n\r\nforged\r\n")
        raise AssertionError("a forged sender was accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 553, e

with smtplib.SMTP_SSL("127.0.0.1", implicit_port, local_hostname="py.test", context=context) as s:
    s.ehlo()
    s.user, s.password = "alice@example.test", password
    code, _ = s.auth("LOGIN", s.auth_login)
    assert code == 235, code
    s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\nSubject: py implicit\r\n\r\nover 465\r\n")

print("smtplib: submitted")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_submits_over_starttls_and_implicit_tls() {
    let server = submission_server("[auth]\nplaintext_without_tls = \"never\"\n").await;
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(SMTPLIB_SCRIPT)
        .arg(server.addr(Protocol::Submission).port().to_string())
        .arg(server.addr(Protocol::Submissions).port().to_string())
        .arg(server.config.data_dir.join("tls/cert.pem"))
        .arg(TEST_PASSWORD);
    tern_testkit::run_client(python, "python3 smtplib submission client").await;
    let bob = server.inbox(BOB, 2).await;
    assert_eq!(bob.len(), 2);
    let header = header_block(&bob[0]);
    assert!(
        header.contains("\r\nSubject: py submission\r\n"),
        "{header}"
    );
    assert_eq!(fields(&header, "Bcc"), 0, "{header}");
    assert_eq!(fields(&header, "Date"), 1, "{header}");
    assert_eq!(fields(&header, "Message-ID"), 1, "{header}");
    for stored in &bob {
        let text = String::from_utf8_lossy(stored);
        assert!(text.starts_with("Return-Path: <alice@example.test>\r\nReceived: from py.test ([127.0.0.1])\r\n\tby mx.test (Tern) with ESMTPSA\r\n"), "{text}");
    }
    assert!(header_block(&bob[1]).contains("\r\nSubject: py implicit\r\n"));
    assert_eq!(server.queued().await, 0);
}
