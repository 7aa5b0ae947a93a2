//! `<Postmaster>` (RFC 5321 §4.5.1): always accepted as a recipient and delivered to the
//! configured postmaster; as a sender it is a sender, not the null sender.

use tern_config::Protocol;
use tern_testkit::TestServer;
use tern_types::Address;

use crate::{server, server_with, Raw};

/// Sends one message whose envelope is `mail` and `rcpt` and expects it accepted.
async fn send(server: &TestServer, mail: &str, rcpt: &str) {
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    c.expect(mail, "250 2.1.0").await;
    c.expect(rcpt, "250 2.1.5").await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: to the postmaster\r\n\r\nx\r\n.\r\n")
        .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.expect("QUIT", "221").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_postmaster_in_any_case_reaches_the_configured_account() {
    // mx.test, the hostname, is not a local domain: the old mapping to postmaster@hostname
    // was "relaying denied".
    let server = server_with(r#"postmaster = "carol@example.test""#).await;
    send(
        &server,
        "MAIL FROM:<a@remote.example>",
        "RCPT TO:<POSTMASTER>",
    )
    .await;
    send(
        &server,
        "MAIL FROM:<a@remote.example>",
        "RCPT TO:<postMaster>",
    )
    .await;
    let inbox = server.inbox("carol@example.test", 2).await;
    assert_eq!(inbox.len(), 2);
    let text = String::from_utf8_lossy(&inbox[0]);
    assert!(text.contains("\tfor <carol@example.test>;"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_postmaster_defaults_to_postmaster_at_the_first_domain_through_an_alias() {
    let server = server().await;
    let bob = Address::parse("bob@example.test").unwrap();
    server
        .stores()
        .directory
        .add_alias(&"postmaster@example.test".parse().unwrap(), &[bob])
        .await
        .unwrap();
    send(
        &server,
        "MAIL FROM:<a@remote.example>",
        "RCPT TO:<Postmaster>",
    )
    .await;
    assert_eq!(server.inbox("bob@example.test", 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_postmaster_that_resolves_to_nothing_is_deferred_not_refused() {
    let server = server_with(r#"postmaster = "nobody@example.test""#).await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    c.expect("MAIL FROM:<a@remote.example>", "250").await;
    c.expect("RCPT TO:<Postmaster>", "451 4.3.0").await;
    assert_eq!(server.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_from_postmaster_is_a_sender_not_the_null_sender() {
    let server = server().await;
    send(
        &server,
        "MAIL FROM:<Postmaster>",
        "RCPT TO:<alice@example.test>",
    )
    .await;
    // A parameter holding "<postmaster>" does not make the null sender one.
    send(
        &server,
        "MAIL FROM:<> ENVID=<postmaster>",
        "RCPT TO:<alice@example.test>",
    )
    .await;
    let inbox = server.inbox("alice@example.test", 2).await;
    assert!(
        inbox[0].starts_with(b"Return-Path: <Postmaster>\r\n"),
        "{}",
        String::from_utf8_lossy(&inbox[0])
    );
    assert!(
        inbox[1].starts_with(b"Return-Path: <>\r\n"),
        "{}",
        String::from_utf8_lossy(&inbox[1])
    );
}
