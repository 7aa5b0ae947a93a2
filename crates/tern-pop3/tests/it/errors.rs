//! Every POP3 error path: IN-USE, dropped connections, passwords before TLS, bad commands,
//! delayed logins, limits, and the lock after SIGKILL (the login throttle is in throttle.rs).

use std::time::Duration;

use tern_config::Protocol;
use tern_testkit::{ChildServer, TestServer};

use crate::{deliver, server, server_with, Pop};

async fn stat_count(server: &TestServer, user: &str) -> usize {
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.login(user).await;
    let stat = p.ok("STAT").await;
    p.ok("QUIT").await;
    stat.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_gets_in_use_until_the_first_ends() {
    let server = server().await;
    let mut first = Pop::greeted(server.addr(Protocol::Pop3)).await;
    first.login("alice@example.test").await;
    let mut second = Pop::greeted(server.addr(Protocol::Pop3)).await;
    second.ok("USER alice@example.test").await;
    let r = second
        .err(&format!("PASS {}", tern_testkit::TEST_PASSWORD))
        .await;
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    // Another account is not affected.
    second.login("bob@example.test").await;
    // The lock goes with the session, even when the client just disappears.
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = Pop::greeted(server.addr(Protocol::Pop3)).await;
    third.login("alice@example.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_deletes_nothing() {
    let server = server().await;
    deliver(
        &server,
        &["alice@example.test"],
        &[
            b"Subject: keep\r\n\r\nx\r\n".to_vec(),
            b"Subject: keep 2\r\n\r\ny\r\n".to_vec(),
        ],
    )
    .await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.login("alice@example.test").await;
    p.ok("DELE 1").await;
    p.ok("DELE 2").await;
    drop(p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stat_count(&server, "alice@example.test").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_refused_before_stls_then_accepted_after() {
    let server = server_with("[auth]\nplaintext_without_tls = \"never\"\n").await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.ok("CAPA").await;
    let capa = String::from_utf8(p.multi().await).unwrap();
    assert!(
        !capa.contains("USER") && !capa.contains("SASL") && capa.contains("STLS"),
        "{capa}"
    );
    let r = p.err("USER alice@example.test").await;
    assert!(r.starts_with("-ERR [AUTH]") && r.contains("STLS"), "{r}");
    assert!(p.err("PASS x").await.starts_with("-ERR [AUTH]"));
    assert!(p
        .err("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB0ZXN0IHBhc3N3b3JkIDE=")
        .await
        .starts_with("-ERR [AUTH]"));
    // Over STLS the same login works (Python's poplib does the handshake).
    let port = server.addr(Protocol::Pop3).port().to_string();
    let cafile = server.config.data_dir.join("tls/cert.pem");
    let script = r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
p = poplib.POP3("127.0.0.1", int(sys.argv[1]))
p.stls(context=ctx)
p.user("alice@example.test"); p.pass_("test password 1")
print(p.stat()); p.quit()
"#;
    let mut python = std::process::Command::new("python3");
    python.arg("-c").arg(script).arg(port).arg(cafile);
    tern_testkit::run_client(python, "python3 poplib over STLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_get_err_and_change_nothing() {
    let server = server().await;
    deliver(
        &server,
        &["alice@example.test"],
        &[b"Subject: x\r\n\r\nx\r\n".to_vec()],
    )
    .await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    for bad in [
        "XYZZY",
        "RETR 1",
        "DELE 1",
        "LIST",
        "PASS x",
        "APOP alice 0123",
        "STAT now",
        "",
    ] {
        p.err(bad).await;
    }
    p.login("alice@example.test").await;
    for bad in [
        "RETR",
        "RETR one",
        "DELE -1",
        "DELE 1 2",
        "TOP 1",
        "LIST 99",
        "USER bob@example.test",
        "STLS",
        "\u{1}\u{2}",
    ] {
        p.err(bad).await;
    }
    p.send("RETR \u{ff}\r\n").await;
    assert!(p.line().await.starts_with("-ERR"));
    p.ok("QUIT").await;
    assert_eq!(stat_count(&server, "alice@example.test").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_lines_are_refused() {
    let server = server().await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    let r = p.err(&format!("USER {}", "a".repeat(300))).await;
    assert!(r.contains("too long"), "{r}");
    p.ok("USER alice@example.test").await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failed_logins_are_delayed() {
    let server = server_with("[auth]\nfailure_delay_ms = 3000\n").await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    p.ok("USER alice@example.test").await;
    let started = tokio::time::Instant::now();
    p.send("PASS wrong\r\n").await;
    assert!(p.line_untimed().await.starts_with("-ERR [AUTH]"));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idle_sessions_are_closed_after_the_timeout() {
    let server = server().await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    // No client-side timers while the password is checked on another thread: the paused
    // clock would jump to them.
    p.send(&format!(
        "USER alice@example.test\r\nPASS {}\r\n",
        tern_testkit::TEST_PASSWORD
    ))
    .await;
    assert!(p.line_untimed().await.starts_with("+OK"));
    assert!(p.line_untimed().await.starts_with("+OK Logged in"));
    let started = tokio::time::Instant::now();
    let line = p.line_untimed().await;
    assert!(line.starts_with("-ERR Idle timeout"), "{line}");
    assert!(started.elapsed() >= Duration::from_secs(600));
    assert_eq!(p.line_untimed().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits() {
    let server = server_with("[pop3]\nmax_connections_per_ip = 2\n").await;
    let _a = Pop::greeted(server.addr(Protocol::Pop3)).await;
    let _b = Pop::greeted(server.addr(Protocol::Pop3)).await;
    let (_, greeting) = Pop::connect(server.addr(Protocol::Pop3)).await;
    assert!(greeting.starts_with("-ERR [SYS/TEMP]"), "{greeting}");
}

#[test]
fn the_maildrop_lock_does_not_outlive_a_killed_server() {
    let mut server = ChildServer::spawn(&tern_testkit::tern_binary());
    server.add_user("alice@example.test");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (smtp, addr) = (server.addr(Protocol::Smtp), server.addr(Protocol::Pop3));
    let (held, uidl) = runtime.block_on(async {
        let messages = tern_testkit::corpus(3, 5);
        tern_testkit::smtp_client::deliver(
            smtp,
            "s@remote.example",
            &["alice@example.test"],
            &messages,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut p = Pop::greeted(addr).await;
        p.ok("USER alice@example.test").await;
        p.ok("PASS pw").await;
        p.ok("UIDL").await;
        let uidl = p.multi().await;
        (p, uidl)
    });
    server.kill();
    server.restart();
    let addr = server.addr(Protocol::Pop3);
    runtime.block_on(async {
        let mut p = Pop::greeted(addr).await;
        p.ok("USER alice@example.test").await;
        p.ok("PASS pw").await;
        // Unique ids survive the restart.
        p.ok("UIDL").await;
        assert_eq!(p.multi().await, uidl);
        p.ok("QUIT").await;
    });
    assert_eq!(String::from_utf8_lossy(&uidl).lines().count(), 3);
    drop(held);
}

/// A command line must be complete within `pop3.command_timeout` of its first byte, however
/// steadily it trickles in (here one octet every 100 ms, far within the idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_command_line_is_cut_off_after_the_command_timeout() {
    let server = server_with("[pop3]\ncommand_timeout = 2\n").await;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    // A complete line resets the clock: this one is answered normally.
    p.ok("USER alice@example.test").await;
    let started = std::time::Instant::now();
    let answer = loop {
        p.send("x").await;
        let mut line = String::new();
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::io::AsyncBufReadExt::read_line(&mut p.reader, &mut line),
        )
        .await
        {
            Ok(_) => break line,
            Err(_) => assert!(started.elapsed() < Duration::from_secs(20), "no answer"),
        }
    };
    assert!(
        answer.starts_with("-ERR Command line not completed"),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(p.line().await, "");
}
