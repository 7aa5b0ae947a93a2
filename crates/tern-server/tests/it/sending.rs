//! Sending (issue 9): submission, the outbound queue, MX delivery hop by hop, retries and
//! bounces, against a real DNS server on loopback (`tern_testkit::dns::TestDns`), real Tern
//! servers and scripted remote servers (`tern_testkit::fake_mx::FakeMx`).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use tern_config::Protocol;
use tern_testkit::dns::TestDns;
use tern_testkit::fake_mx::FakeMx;
use tern_testkit::{run_client, ChildServer, TestServer, TEST_PASSWORD};
use tern_types::Domain;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// `[outbound]` pointing at the test DNS server, remote servers on `port`, retries after 1 s.
fn outbound(dns: &TestDns, port: u16) -> String {
    format!(
        "[outbound]\ndns_servers = [\"{}\"]\nremote_port = {port}\nretry_intervals = [\"1s\"]\n",
        dns.addr()
    )
}

/// A Tern server with `domain` as a local domain and `users` in it.
async fn tern(domain: &str, users: &[&str], extra: &str) -> TestServer {
    let server = TestServer::start_with(extra).await;
    server
        .stores()
        .directory
        .add_domain(&Domain::parse(domain).unwrap())
        .await
        .unwrap();
    for user in users {
        server.add_user(&format!("{user}@{domain}")).await;
    }
    server
}

/// A loopback port nobody listens on now (bound, then released).
fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A line-by-line SMTP client for submission.
struct Client {
    lines: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let mut client = Self {
            lines: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        client.reply().await;
        client
    }

    /// One reply, its lines joined.
    async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            self.lines.read_line(&mut line).await.unwrap();
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return text;
            }
        }
    }

    async fn send(&mut self, line: &str) -> String {
        self.lines
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: &str) -> String {
        let reply = self.send(line).await;
        assert!(reply.starts_with(code), "{line}: {reply}");
        reply
    }

    /// EHLO and AUTH PLAIN as `user` (plain text is allowed on loopback).
    async fn login(addr: SocketAddr, user: &str) -> Self {
        use base64::Engine;
        let mut client = Self::connect(addr).await;
        client.expect("EHLO client.test", "250").await;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{TEST_PASSWORD}"));
        client
            .expect(&format!("AUTH PLAIN {token}"), "235 2.7.0")
            .await;
        client
    }

    /// One transaction; returns the final reply.
    async fn submit(&mut self, from: &str, to: &[&str], message: &[u8]) -> String {
        self.submit_with(from, to, "", message).await
    }

    /// [`Client::submit`] with `rcpt_params` after every RCPT (e.g. " NOTIFY=SUCCESS").
    async fn submit_with(
        &mut self,
        from: &str,
        to: &[&str],
        rcpt_params: &str,
        message: &[u8],
    ) -> String {
        self.expect(&format!("MAIL FROM:<{from}>"), "250").await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>{rcpt_params}"), "250")
                .await;
        }
        self.expect("DATA", "354").await;
        // RFC 5321 §4.5.2: a line that starts with a dot gets one more.
        let mut stuffed = Vec::new();
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                stuffed.push(b'.');
            }
            stuffed.extend_from_slice(line);
        }
        let stream = self.lines.get_mut();
        stream.write_all(&stuffed).await.unwrap();
        stream.write_all(b".\r\n").await.unwrap();
        self.reply().await
    }
}

fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{subject}@a.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         Hello from {from}.\r\n.leading dot stays\r\n"
    )
    .into_bytes()
}

/// Submits one message from alice@a.test to `to` on `server`'s submission listener.
async fn alice_sends(server: &TestServer, to: &str, subject: &str) -> Vec<u8> {
    let body = message("alice@a.test", to, subject);
    let mut client = Client::login(server.addr(Protocol::Submission), "alice@a.test").await;
    let reply = client.submit("alice@a.test", &[to], &body).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    body
}

/// The header fields a hop adds in front of a message.
fn is_trace_field(line: &str) -> bool {
    ["Return-Path:", "Received:", "DKIM-Signature:"]
        .iter()
        .any(|f| line.len() >= f.len() && line[..f.len()].eq_ignore_ascii_case(f))
}

/// Splits a delivered message into the trace fields in front and the rest, which must be
/// the submitted message.
fn split_trace(delivered: &[u8]) -> (String, &[u8]) {
    let text = String::from_utf8_lossy(delivered);
    let mut offset = 0;
    let mut in_trace = false;
    for line in text.split_inclusive("\r\n") {
        if is_trace_field(line) || (in_trace && line.starts_with([' ', '\t'])) {
            in_trace = true;
            offset += line.len();
        } else {
            break;
        }
    }
    (text[..offset].to_string(), &delivered[offset..])
}

/// The DSN in alice's INBOX, once it is there.
async fn dsn_for_alice(server: &TestServer) -> String {
    let inbox = server.inbox("alice@a.test", 1).await;
    String::from_utf8_lossy(&inbox[0]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_at_a_sends_to_bob_at_b_over_dns_mx_with_dkim_and_bob_reads_it_over_pop3() {
    let dns = TestDns::start().await;
    // B, the destination, on 127.0.0.2; A finds it through b.test's MX.
    let b = tern("b.test", &["bob"], "[listen]\nsmtp = [\"127.0.0.2:0\"]\n").await;
    let b_port = b.addr(Protocol::Smtp).port();
    dns.add_mx("b.test", 10, "mx.b.test").await;
    dns.add_a("mx.b.test", Ipv4Addr::new(127, 0, 0, 2)).await;
    let a = tern("a.test", &["alice"], &outbound(&dns, b_port)).await;
    let key = tern_queue::dkim::generate(tern_queue::dkim::Algorithm::Ed25519).unwrap();
    let key_dir = tern_queue::dkim::key_dir(&a.config.data_dir, "a.test");
    std::fs::create_dir_all(&key_dir).unwrap();
    std::fs::write(key_dir.join("sel.ed25519"), &key.private_der).unwrap();

    // Alice submits with Python's smtplib: STARTTLS, then AUTH.
    let body = message("alice@a.test", "bob@b.test", "e2e");
    let script = format!(
        "import smtplib, ssl, sys\n\
         ctx = ssl.create_default_context(cafile={cert:?})\n\
         ctx.check_hostname = False\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         s.starttls(context=ctx)\n\
         s.login('alice@a.test', {TEST_PASSWORD:?})\n\
         s.sendmail('alice@a.test', ['bob@b.test'], sys.stdin.buffer.read())\n\
         s.quit()\n",
        cert = a.config.data_dir.join("tls/cert.pem").display().to_string(),
        port = a.addr(Protocol::Submission).port(),
    );
    let body_file = a.dir.path().join("message.eml");
    std::fs::write(&body_file, &body).unwrap();
    let mut python = Command::new("python3");
    python
        .args(["-c", &script])
        .stdin(std::fs::File::open(&body_file).unwrap());
    run_client(python, "python3 smtplib submission").await;

    // Bob reads it over POP3 (Python's poplib).
    let pop3 = b.addr(Protocol::Pop3);
    let read = format!(
        "import poplib, sys, time\n\
         for _ in range(200):\n\
         \x20   p = poplib.POP3('{}', {})\n\
         \x20   p.user('bob@b.test'); p.pass_({TEST_PASSWORD:?})\n\
         \x20   if p.stat()[0] > 0: break\n\
         \x20   p.quit(); time.sleep(0.1)\n\
         lines = p.retr(1)[1]\n\
         sys.stdout.buffer.write(b''.join(l + b'\\r\\n' for l in lines))\n\
         p.quit()\n",
        pop3.ip(),
        pop3.port()
    );
    let mut python = Command::new("python3");
    python.args(["-c", &read]);
    let delivered = run_client(python, "python3 poplib").await.stdout;
    let (trace, rest) = split_trace(&delivered);
    assert_eq!(
        String::from_utf8_lossy(rest),
        String::from_utf8_lossy(&body),
        "byte-identical apart from the trace fields:\n{trace}"
    );
    assert_eq!(trace.matches("Received:").count(), 2, "{trace}");
    assert!(trace.contains("with ESMTPSA"), "{trace}");
    assert!(!trace.contains("Return-Path: <>"), "{trace}");
    assert!(trace.starts_with("Return-Path: <alice@a.test>"), "{trace}");

    // The signature verifies (dkimpy, with the record `tern dkim generate` would print).
    let verify = format!(
        "import dkim, sys\n\
         record = {:?}.encode()\n\
         def dns(name, timeout=5):\n\
         \x20   assert name == b'sel._domainkey.a.test.', name\n\
         \x20   return record\n\
         sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns) else 1)\n",
        key.record
    );
    let signed = a.dir.path().join("delivered.eml");
    std::fs::write(&signed, &delivered).unwrap();
    let mut python = Command::new("/usr/bin/python3");
    python
        .args(["-c", &verify])
        .stdin(std::fs::File::open(&signed).unwrap());
    run_client(python, "dkimpy verification").await;
    assert_eq!(a.queued().await, 0, "the message left A's queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_down_then_up_is_delivered_after_a_retry() {
    let dns = TestDns::start().await;
    let port = free_port(Ipv4Addr::new(127, 0, 0, 3));
    dns.add_mx("down.test", 10, "mx.down.test").await;
    dns.add_a("mx.down.test", Ipv4Addr::new(127, 0, 0, 3)).await;
    let a = tern("a.test", &["alice"], &outbound(&dns, port)).await;
    alice_sends(&a, "carol@down.test", "down").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.queued().await, 1, "deferred while nothing listens");
    let mx = FakeMx::start(SocketAddr::from(([127, 0, 0, 3], port))).await;
    assert!(mx.wait_for(1, WAIT).await, "delivered after a retry");
    assert_eq!(mx.accepted()[0].recipients, ["carol@down.test"]);
    assert_eq!(mx.accepted()[0].sender, "alice@a.test");
}

/// A domain served by a fake MX on 127.0.0.4, and A configured to reach it.
async fn with_fake_mx(domain: &str) -> (TestDns, FakeMx, TestServer) {
    let dns = TestDns::start().await;
    let mx = FakeMx::start(SocketAddr::from(([127, 0, 0, 4], 0))).await;
    dns.add_mx(domain, 10, &format!("mx.{domain}")).await;
    dns.add_a(&format!("mx.{domain}"), Ipv4Addr::new(127, 0, 0, 4))
        .await;
    let a = tern("a.test", &["alice"], &outbound(&dns, mx.addr.port())).await;
    (dns, mx, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_4xx_then_250_delivers_once() {
    let (_dns, mx, a) = with_fake_mx("busy.test").await;
    mx.script_rcpt(&["451 4.3.0 try again later"]);
    let body = alice_sends(&a, "dan@busy.test", "busy").await;
    assert!(mx.wait_for(1, WAIT).await);
    assert!(mx.connections() >= 2, "a second attempt");
    let accepted = mx.accepted();
    let (_, rest) = split_trace(&accepted[0].data);
    assert_eq!(rest, &body[..]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mx.accepted().len(), 1, "delivered once");
    assert_eq!(a.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_5xx_bounces_a_dsn_into_the_senders_inbox() {
    let (_dns, mx, a) = with_fake_mx("strict.test").await;
    mx.script_rcpt(&["550 5.1.1 no such user here"]);
    alice_sends(&a, "nobody@strict.test", "refused").await;
    let dsn = dsn_for_alice(&a).await;
    assert!(dsn.contains("Return-Path: <>"), "{dsn}");
    assert!(dsn.contains("MAILER-DAEMON@mx.test"), "{dsn}");
    assert!(dsn.contains("multipart/report"), "{dsn}");
    assert!(
        dsn.contains("report-type=\"delivery-status\"")
            || dsn.contains("report-type=delivery-status"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822; nobody@strict.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Action: failed"), "{dsn}");
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(dsn.contains("Remote-MTA: dns; mx.strict.test"), "{dsn}");
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user here"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: refused"),
        "the original headers are returned: {dsn}"
    );
    assert!(mx.accepted().is_empty());
    assert_eq!(a.queued().await, 0, "reported failures leave the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_mx_and_nxdomain_bounce_at_once() {
    let dns = TestDns::start().await;
    dns.add_mx("nomail.test", 0, ".").await;
    let a = tern("a.test", &["alice"], &outbound(&dns, 25)).await;
    alice_sends(&a, "x@nomail.test", "nullmx").await;
    let dsn = dsn_for_alice(&a).await;
    assert!(dsn.contains("Status: 5.1.10"), "{dsn}");
    alice_sends(&a, "x@missing.test", "nxdomain").await;
    let inbox = a.inbox("alice@a.test", 2).await;
    let dsn = String::from_utf8_lossy(&inbox[1]);
    assert!(dsn.contains("Status: 5.1.2"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; x@missing.test"),
        "{dsn}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mx_the_domains_own_address_is_used() {
    let dns = TestDns::start().await;
    let mx = FakeMx::start(SocketAddr::from(([127, 0, 0, 5], 0))).await;
    dns.add_a("plain.test", Ipv4Addr::new(127, 0, 0, 5)).await;
    let a = tern("a.test", &["alice"], &outbound(&dns, mx.addr.port())).await;
    alice_sends(&a, "erin@plain.test", "implicit-mx").await;
    assert!(mx.wait_for(1, WAIT).await, "delivered to the A record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_servfail_is_retried_until_the_domain_resolves() {
    let (dns, mx, a) = with_fake_mx("flaky.test").await;
    dns.set_servfail("flaky.test", true).await;
    alice_sends(&a, "fay@flaky.test", "servfail").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(mx.accepted().is_empty());
    assert_eq!(a.queued().await, 1, "deferred, not bounced");
    assert!(a.inbox("alice@a.test", 0).await.is_empty(), "no bounce");
    dns.set_servfail("flaky.test", false).await;
    assert!(mx.wait_for(1, WAIT).await, "delivered once DNS answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_acceptance_and_delivery_delivers_exactly_once() {
    let dns = TestDns::start().await;
    let port = free_port(Ipv4Addr::new(127, 0, 0, 6));
    dns.add_mx("later.test", 10, "mx.later.test").await;
    dns.add_a("mx.later.test", Ipv4Addr::new(127, 0, 0, 6))
        .await;
    let extra = outbound(&dns, port).replace("[\"1s\"]", "[\"1h\"]");
    let mut server = ChildServer::spawn_with(&tern_testkit::tern_binary(), &extra);
    let add = server.cli(&["domain", "add", "a.test"], "");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let add = server.cli(
        &["user", "add", "alice@a.test"],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let body = message("alice@a.test", "gil@later.test", "crash");
    let mut client = Client::login(server.addr(Protocol::Submission), "alice@a.test").await;
    let reply = client
        .submit("alice@a.test", &["gil@later.test"], &body)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // The first attempt fails (nothing listens) and the next is an hour away: the message
    // sits in the queue when the server dies.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.kill();
    let mx = FakeMx::start(SocketAddr::from(([127, 0, 0, 6], port))).await;
    let retry = server.cli(&["queue", "list"], "");
    assert!(String::from_utf8_lossy(&retry.stdout).contains("gil@later.test"));
    // `tern queue retry` makes it due at once; the restarted server delivers it.
    let id = String::from_utf8_lossy(&retry.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(server.cli(&["queue", "retry", &id], "").status.success());
    server.restart();
    assert!(mx.wait_for(1, WAIT).await, "delivered after the restart");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mx.accepted().len(), 1, "exactly once");
    let accepted = mx.accepted();
    let (_, rest) = split_trace(&accepted[0].data);
    assert_eq!(rest, &body[..]);
}

/// Interoperability with Debian's Postfix: alice@a.test's mail to bob@p.test goes from Tern A,
/// through p.test's MX (a private Postfix instance), which relays it to Tern B, where bob
/// reads it. Tern relays to Postfix, and Postfix relays to Tern.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_relays_to_postfix_which_relays_to_tern() {
    let b = tern("p.test", &["bob"], "").await;
    let postfix_addr = tern_testkit::postfix::free_loopback_addr(Ipv4Addr::new(127, 0, 0, 9));
    let Some(postfix) =
        tern_testkit::postfix::PostfixInstance::start(&tern_testkit::postfix::PostfixSetup {
            listen: postfix_addr,
            relay_domains: &["p.test"],
            transport: &[("p.test", b.addr(Protocol::Smtp))],
            myhostname: "postfix.p.test",
        })
    else {
        return;
    };
    let dns = TestDns::start().await;
    dns.add_mx("p.test", 10, "mx.p.test").await;
    dns.add_a("mx.p.test", Ipv4Addr::new(127, 0, 0, 9)).await;
    let a = tern("a.test", &["alice"], &outbound(&dns, postfix_addr.port())).await;
    let body = alice_sends(&a, "bob@p.test", "interop").await;
    let inbox = b.inbox("bob@p.test", 1).await;
    assert_eq!(inbox.len(), 1, "Postfix log:\n{}", postfix.log());
    let (trace, rest) = split_trace(&inbox[0]);
    assert_eq!(
        String::from_utf8_lossy(rest),
        String::from_utf8_lossy(&body)
    );
    // Three hops: Tern A (submission), Postfix, Tern B.
    assert_eq!(trace.matches("Received:").count(), 3, "{trace}");
    assert!(trace.contains("postfix.p.test"), "{trace}");
    assert!(postfix.wait_queue_empty(WAIT), "Postfix's queue drains");
    assert_eq!(a.queued().await, 0);
}

/// `tern queue bounce ID`: the administrator gives up on a message waiting for a remote server;
/// the sender gets a DSN and the message leaves the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_can_bounce_a_waiting_message() {
    let dns = TestDns::start().await;
    let port = free_port(Ipv4Addr::new(127, 0, 0, 10));
    dns.add_mx("slow.test", 10, "mx.slow.test").await;
    dns.add_a("mx.slow.test", Ipv4Addr::new(127, 0, 0, 10))
        .await;
    let extra = outbound(&dns, port).replace("[\"1s\"]", "[\"1h\"]");
    let a = tern("a.test", &["alice"], &extra).await;
    alice_sends(&a, "hal@slow.test", "given-up").await;
    let id = a.stores().queue.list().await.unwrap()[0].id;
    use tern_server::cli::{Command as Cli, QueueCommand};
    tern_server::admin::run(&a.config, Cli::Queue(QueueCommand::Bounce { id: id.0 }))
        .await
        .unwrap();
    let dsn = dsn_for_alice(&a).await;
    assert!(
        dsn.contains("Final-Recipient: rfc822; hal@slow.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.0.0"), "{dsn}");
    assert!(
        dsn.contains("returned to the sender by the mail administrator"),
        "{dsn}"
    );
    assert_eq!(a.queued().await, 0);
    let again =
        tern_server::admin::run(&a.config, Cli::Queue(QueueCommand::Bounce { id: id.0 })).await;
    assert!(again.unwrap_err().to_string().contains("no message"));
}

/// NOTIFY=SUCCESS (RFC 3461 §6.2.3): a "delivered" report for a local recipient, a "relayed"
/// one for a remote server without DSN; nothing when the sender did not ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_reports_when_the_sender_asks_for_them() {
    let (_dns, mx, a) = with_fake_mx("nodsn.test").await;
    a.add_user("bob@a.test").await;
    let mut client = Client::login(a.addr(Protocol::Submission), "alice@a.test").await;
    let body = message("alice@a.test", "bob@a.test", "local-success");
    let reply = client
        .submit_with(
            "alice@a.test",
            &["bob@a.test"],
            " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@a.test",
            &body,
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let report = dsn_for_alice(&a).await;
    assert!(
        report.contains("Subject: Successful Mail Delivery Report"),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(report.contains("Status: 2.0.0"), "{report}");
    assert!(
        report.contains("Original-Recipient: rfc822;bob@a.test"),
        "{report}"
    );
    assert!(
        report.contains("Subject: local-success"),
        "the headers are quoted: {report}"
    );
    assert!(
        !report.contains("Hello from"),
        "a success report returns no body: {report}"
    );

    let body = message("alice@a.test", "ivy@nodsn.test", "relayed");
    let reply = client
        .submit_with(
            "alice@a.test",
            &["ivy@nodsn.test"],
            " NOTIFY=SUCCESS",
            &body,
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(mx.wait_for(1, WAIT).await);
    let inbox = a.inbox("alice@a.test", 2).await;
    let report = String::from_utf8_lossy(&inbox[1]);
    assert!(report.contains("Action: relayed"), "{report}");
    assert!(
        report.contains("Remote-MTA: dns; mx.nodsn.test"),
        "{report}"
    );

    // Not asked: no report.
    let body = message("alice@a.test", "joe@nodsn.test", "quiet");
    let reply = client
        .submit("alice@a.test", &["joe@nodsn.test"], &body)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(mx.wait_for(2, WAIT).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(a.inbox("alice@a.test", 0).await.len(), 2);
}

/// `outbound.delay_warning`: a recipient still waiting after it gets one "delayed" notice to
/// its sender, however many retries follow; the message is still delivered afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_recipient_gets_one_delay_warning() {
    let dns = TestDns::start().await;
    let port = free_port(Ipv4Addr::new(127, 0, 0, 11));
    dns.add_mx("late.test", 10, "mx.late.test").await;
    dns.add_a("mx.late.test", Ipv4Addr::new(127, 0, 0, 11))
        .await;
    let extra = format!("{}delay_warning = \"1s\"\n", outbound(&dns, port));
    let a = tern("a.test", &["alice"], &extra).await;
    alice_sends(&a, "kim@late.test", "late").await;
    let warning = dsn_for_alice(&a).await;
    assert!(
        warning.contains("Subject: Delayed Mail (still being retried)"),
        "{warning}"
    );
    assert!(warning.contains("Action: delayed"), "{warning}");
    assert!(warning.contains("Status: 4."), "{warning}");
    assert!(
        warning.contains("Final-Recipient: rfc822; kim@late.test"),
        "{warning}"
    );
    // More retries, no second warning.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(a.inbox("alice@a.test", 0).await.len(), 1);
    let mx = FakeMx::start(SocketAddr::from(([127, 0, 0, 11], port))).await;
    assert!(mx.wait_for(1, WAIT).await, "still delivered");
}

/// RFC 1047 / RFC 5321 §6.1: a failure after the message text was sent (here a 421 in answer
/// to the final dot) may mean the first host has the message: the attempt is deferred, not
/// taken to the next MX, so the message is not delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_data_defers_instead_of_trying_the_next_host() {
    let dns = TestDns::start().await;
    let first = FakeMx::start(SocketAddr::from(([127, 0, 0, 12], 0))).await;
    let port = first.addr.port();
    let second = FakeMx::start(SocketAddr::from(([127, 0, 0, 13], port))).await;
    dns.add_mx("two.test", 10, "mx1.two.test").await;
    dns.add_mx("two.test", 20, "mx2.two.test").await;
    dns.add_a("mx1.two.test", Ipv4Addr::new(127, 0, 0, 12))
        .await;
    dns.add_a("mx2.two.test", Ipv4Addr::new(127, 0, 0, 13))
        .await;
    first.script_data(&["421 4.3.2 shutting down"]);
    let a = tern("a.test", &["alice"], &outbound(&dns, port)).await;
    alice_sends(&a, "lou@two.test", "twice").await;
    assert!(
        first.wait_for(1, WAIT).await,
        "delivered by the first host on a retry"
    );
    assert!(
        second.accepted().is_empty(),
        "never handed to the second host"
    );
    assert_eq!(second.connections(), 0);
}
