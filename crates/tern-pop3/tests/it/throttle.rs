//! The login throttle against a real server: guessers are slowed and refused, per client and
//! per network, and never lock an account's owner out (docs/login-throttle.md). Clients are
//! told apart by binding to other loopback source addresses.

use std::time::{Duration, Instant};

use tern_config::Protocol;
use tern_testkit::{TestServer, TEST_PASSWORD};

use crate::{server_with, Pop};

/// Default thresholds (10 per client, 30 per /24, 10 per account with a 250 ms account delay),
/// with failure delays short enough for 50 guesses.
const FAST_FAILURES: &str = "[auth]\nfailure_delay_ms = 1\nfailure_delay_max_ms = 20\n";

/// One guess: `-ERR [AUTH]` when the password was checked, `-ERR [SYS/TEMP]` when refused.
async fn guess(p: &mut Pop, user: &str) -> String {
    p.ok(&format!("USER {user}")).await;
    p.err("PASS wrong guess").await
}

/// Logs in with the right password from `source`; returns how long the PASS took.
async fn owner_logs_in(server: &TestServer, source: &str, user: &str) -> Duration {
    let mut p = Pop::greeted_from(source, server.addr(Protocol::Pop3)).await;
    p.ok(&format!("USER {user}")).await;
    let started = Instant::now();
    p.ok(&format!("PASS {TEST_PASSWORD}")).await;
    let took = started.elapsed();
    p.ok("QUIT").await;
    took
}

/// The right password from `source`, refused before it is checked.
async fn refused(server: &TestServer, source: &str, user: &str) -> String {
    let mut p = Pop::greeted_from(source, server.addr(Protocol::Pop3)).await;
    p.ok(&format!("USER {user}")).await;
    p.err(&format!("PASS {TEST_PASSWORD}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_wrong_guesses_from_one_address_do_not_lock_the_owner_out() {
    let server = server_with(FAST_FAILURES).await;
    let mut guesser = Pop::greeted_from("127.0.0.2", server.addr(Protocol::Pop3)).await;
    let mut answers = Vec::new();
    for _ in 0..50 {
        answers.push(guess(&mut guesser, "alice@example.test").await);
    }
    let checked = answers
        .iter()
        .filter(|a| a.starts_with("-ERR [AUTH]"))
        .count();
    assert_eq!(
        checked, 10,
        "only max_failures_per_ip guesses are checked: {answers:?}"
    );
    assert!(answers[10..]
        .iter()
        .all(|a| a.starts_with("-ERR [SYS/TEMP]")));

    // The owner, from another network, gets in at once.
    let took = owner_logs_in(&server, "127.0.1.2", "alice@example.test").await;
    assert!(took < Duration::from_secs(2), "the owner waited {took:?}");

    // The guesser stays refused, even with the right password, and even for other accounts.
    for user in ["alice@example.test", "bob@example.test"] {
        let r = refused(&server, "127.0.0.2", user).await;
        assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_from_twenty_addresses_of_one_network_do_not_lock_the_owner_out() {
    let server = server_with(FAST_FAILURES).await;
    let mut answers = Vec::new();
    for host in 10..30 {
        let source = format!("127.0.0.{host}");
        let mut guesser = Pop::greeted_from(&source, server.addr(Protocol::Pop3)).await;
        for _ in 0..3 {
            answers.push(guess(&mut guesser, "alice@example.test").await);
        }
    }
    let checked = answers
        .iter()
        .filter(|a| a.starts_with("-ERR [AUTH]"))
        .count();
    assert_eq!(
        checked, 30,
        "only max_failures_per_network guesses are checked"
    );

    let took = owner_logs_in(&server, "127.0.1.2", "alice@example.test").await;
    assert!(took < Duration::from_secs(2), "the owner waited {took:?}");

    // Every address of the guessing network stays refused, old or new.
    for source in ["127.0.0.10", "127.0.0.29", "127.0.0.99"] {
        let r = refused(&server, source, "alice@example.test").await;
        assert!(r.starts_with("-ERR [SYS/TEMP]"), "{source}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_logged_in_recently_gets_in_although_its_network_is_refused() {
    let server = server_with(FAST_FAILURES).await;
    owner_logs_in(&server, "127.0.0.200", "alice@example.test").await;
    for host in 10..20 {
        let source = format!("127.0.0.{host}");
        let mut guesser = Pop::greeted_from(&source, server.addr(Protocol::Pop3)).await;
        for _ in 0..3 {
            guess(&mut guesser, "alice@example.test").await;
        }
    }
    let r = refused(&server, "127.0.0.201", "alice@example.test").await;
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    let took = owner_logs_in(&server, "127.0.0.200", "alice@example.test").await;
    assert!(took < Duration::from_secs(2), "the owner waited {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_count_a_configured_ipv4_network_as_one_client() {
    let server =
        server_with("[clients]\nipv4_prefix = 24\n[pop3]\nmax_connections_per_ip = 2\n").await;
    let addr = server.addr(Protocol::Pop3);
    let _a = Pop::greeted_from("127.0.0.2", addr).await;
    let _b = Pop::greeted_from("127.0.0.3", addr).await;
    let (_, greeting) = Pop::connect_from("127.0.0.4", addr).await;
    assert!(greeting.starts_with("-ERR [SYS/TEMP]"), "{greeting}");
    // Another /24 is another client.
    Pop::greeted_from("127.0.1.4", addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_slip_past_the_client_threshold() {
    let server = server_with(FAST_FAILURES).await;
    let mut guessers = Vec::new();
    for _ in 0..20 {
        let mut p = Pop::greeted_from("127.0.0.2", server.addr(Protocol::Pop3)).await;
        p.ok("USER alice@example.test").await;
        guessers.push(p);
    }
    // Every password is sent before any answer is read: all twenty are in flight at once.
    for p in &mut guessers {
        p.send("PASS wrong guess\r\n").await;
    }
    let mut checked = 0;
    for p in &mut guessers {
        let answer = p.line().await;
        assert!(answer.starts_with("-ERR "), "{answer}");
        checked += usize::from(answer.starts_with("-ERR [AUTH]"));
    }
    assert_eq!(
        checked, 10,
        "max_failures_per_ip guesses are checked, however parallel"
    );
}
