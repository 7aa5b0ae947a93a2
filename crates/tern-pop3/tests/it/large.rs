//! Large messages: RETR over a slow link, and the memory a RETR costs.

use std::time::Duration;

use tern_config::Protocol;
use tern_store::NewMessage;
use tern_types::Flags;
use tokio::io::AsyncReadExt;

use crate::{server, Pop};

/// A text of about `size` octets in CRLF lines, some starting with "." (to be dot-stuffed).
fn big_text(size: usize) -> Vec<u8> {
    let mut text = b"Subject: big\r\n\r\n".to_vec();
    let mut i = 0u64;
    while text.len() < size {
        let lead = if i.is_multiple_of(7) { "." } else { "" };
        text.extend_from_slice(format!("{lead}line {i:010} {}\r\n", "z".repeat(60)).as_bytes());
        i += 1;
    }
    text
}

/// Reads a multi-line answer's body at `rate` octets per `every`, and un-stuffs it.
async fn read_slowly(p: &mut Pop, rate: usize, every: Duration) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; rate];
    while !raw.ends_with(b"\r\n.\r\n") {
        tokio::time::sleep(every).await;
        let n = p.reader.read(&mut buf).await.expect("read");
        assert!(n > 0, "the server closed after {} octets", raw.len());
        raw.extend_from_slice(&buf[..n]);
    }
    let mut text = Vec::with_capacity(raw.len());
    for line in raw[..raw.len() - 3].split_inclusive(|&b| b == b'\n') {
        text.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    text
}

/// A client that reads a 24 MB message steadily but slowly (64 KiB every 2 s: over 12
/// minutes in all, on the paused clock) gets all of it: the idle timeout (600 s) applies to
/// each piece, not to the whole answer. (Slower than this, the last few MB that the kernel
/// buffers after the server's final write would take the client longer than the idle timeout
/// to drain, while the server, done writing, waits for the next command: that timeout is
/// right to fire.)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_steady_reader_gets_a_large_message() {
    let server = server().await;
    let stores = server.stores();
    let inbox = tern_testkit::inbox_of(&stores, "alice@example.test").await;
    let text = big_text(24_000_000);
    let mut writer = stores.blobs.writer().await.unwrap();
    for piece in text.chunks(1 << 20) {
        writer.write(piece).await.unwrap();
    }
    let blob = writer.finish().await.unwrap();
    assert!(blob.inline.is_none(), "the message must be a file blob");
    stores
        .mailboxes
        .append(
            inbox.id,
            NewMessage {
                blob,
                prefix: Vec::new(),
                flags: Flags::new(),
                internal_date: 0,
            },
        )
        .await
        .unwrap();
    let mut p = Pop::greeted(server.addr(Protocol::Pop3)).await;
    // No client-side timers while the password is checked on another thread (see
    // `idle_sessions_are_closed_after_the_timeout`).
    p.send(&format!(
        "USER alice@example.test\r\nPASS {}\r\nRETR 1\r\n",
        tern_testkit::TEST_PASSWORD
    ))
    .await;
    assert!(p.line_untimed().await.starts_with("+OK"));
    assert!(p.line_untimed().await.starts_with("+OK Logged in"));
    let status = p.line_untimed().await;
    assert_eq!(status, format!("+OK {} octets", text.len()));
    let started = tokio::time::Instant::now();
    let got = read_slowly(&mut p, 64 * 1024, Duration::from_secs(2)).await;
    assert!(started.elapsed() > Duration::from_secs(600));
    assert!(got == text, "the message came back different");
}

/// The server's memory high-water mark (VmHWM) and resident size (VmRSS), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    tern_testkit::process::memory_kib(pid).expect("the server's /proc/<pid>/status")
}

fn cpu_ticks(pid: u32) -> u64 {
    tern_testkit::process::cpu_ticks(pid).expect("the server's /proc/<pid>/stat")
}

/// Waits until the server has used (almost) no CPU for half a second: work that follows a
/// delivery (the full-text indexer reads and analyses the new message) is done; its idle
/// polling stays under a clock tick.
async fn until_idle(pid: u32) {
    let mut last = cpu_ticks(pid);
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_ticks(pid);
        if now <= last + 1 {
            return;
        }
        last = now;
    }
    panic!("the server never went idle");
}

/// RETR of a 45 MB message raises the server's peak memory by a few buffers, not by the
/// message (it used to hold it about three times: some 135 MB).
#[test]
fn retr_memory_does_not_grow_with_the_message() {
    let server = tern_testkit::ChildServer::spawn(&tern_testkit::tern_binary());
    server.add_user("alice@example.test");
    let pid = server.pid().expect("running");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = big_text(45_000_000);
    let (smtp, pop3) = (server.addr(Protocol::Smtp), server.addr(Protocol::Pop3));
    let growth_kib = runtime.block_on(async {
        tern_testkit::smtp_client::deliver(
            smtp,
            "s@remote.example",
            &["alice@example.test"],
            std::slice::from_ref(&text),
        )
        .await;
        let mut p = Pop::greeted(pop3).await;
        p.ok("USER alice@example.test").await;
        // The local delivery follows the 250 closely.
        let mut logged_in = p.ok("PASS pw").await;
        for _ in 0..100 {
            if !logged_in.contains(" 0 messages") {
                break;
            }
            p.ok("QUIT").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            p = Pop::greeted(pop3).await;
            p.ok("USER alice@example.test").await;
            logged_in = p.ok("PASS pw").await;
        }
        // The indexer's pass over the new message is not RETR's memory.
        until_idle(pid).await;
        // Linux: writing 5 to clear_refs resets the high-water mark to the current size.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let (_, before) = memory_kib(pid);
        p.ok("RETR 1").await;
        let got = p.multi().await;
        assert!(
            got.len() > text.len(),
            "the whole message, trace headers included"
        );
        let (peak, _) = memory_kib(pid);
        p.ok("QUIT").await;
        peak.saturating_sub(before)
    });
    assert!(
        growth_kib < 16 * 1024,
        "RETR of a {} MB message raised the server's peak memory by {} MiB",
        text.len() / 1_000_000,
        growth_kib / 1024
    );
    eprintln!(
        "RETR of {} octets: peak memory +{growth_kib} KiB",
        text.len()
    );
}

/// A server (configured with `extra`) whose alice has one 20 MB message, taken apart so the
/// test can shut it down, and a POP3 session logged in as alice; with the message's text.
async fn logged_in_with_a_large_message(
    extra: &str,
) -> (
    tern_server::serve::RunningServer,
    tempfile::TempDir,
    Pop,
    Vec<u8>,
) {
    let server = crate::server_with(extra).await;
    let text = big_text(20_000_000);
    crate::deliver(
        &server,
        &["alice@example.test"],
        std::slice::from_ref(&text),
    )
    .await;
    let tern_testkit::TestServer { dir, server, .. } = server;
    let mut p = Pop::greeted(server.addr(Protocol::Pop3).unwrap()).await;
    p.login("alice@example.test").await;
    (server, dir, p, text)
}

/// A RETR under way when the server is told to stop is sent whole (within `shutdown_grace`),
/// then the session is told the server is shutting down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retr_in_flight_at_shutdown_is_sent_whole() {
    let (server, _dir, mut p, text) = logged_in_with_a_large_message("").await;
    p.ok("RETR 1").await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = p.multi().await;
    assert!(
        crate::without_trace(&got) == text,
        "the message came back different"
    );
    assert_eq!(p.line().await, "-ERR [SYS/TEMP] Server shutting down");
    stopping.await.unwrap();
}

/// `shutdown_grace` bounds the stop: a client that stops reading in the middle of a RETR
/// keeps the server no longer than the grace period (1 s here), not the idle timeout (600 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_the_shutdown_only_for_the_grace_period() {
    let (server, _dir, mut p, _) = logged_in_with_a_large_message("shutdown_grace = 1\n").await;
    p.send("RETR 1\r\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "the stop took {took:?}"
    );
    drop(p);
}
