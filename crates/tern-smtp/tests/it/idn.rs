//! Internationalised domains over SMTP: a domain added in one spelling (U-label or A-label)
//! receives mail addressed in the other, for accounts, aliases and the catch-all.

use tern_config::Protocol;
use tern_types::{Address, Domain};

use crate::Raw;

/// Sends one message to `rcpt` with MAIL parameters `params` and expects it accepted.
async fn deliver_to(c: &mut Raw, rcpt: &str, params: &str) {
    c.expect(&format!("MAIL FROM:<sender@remote.example>{params}"), "250")
        .await;
    c.expect(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5").await;
    c.expect("DATA", "354").await;
    c.send(b"Subject: idn\r\n\r\nx\r\n.\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0"), "{rcpt}: {reply}");
}

/// A server with `domain` added as spelled, an account bob@, an alias info@ and a
/// catch-all, all going to bob, written in the domain's other spelling.
async fn server_with_domain(domain: &str, other: &str) -> tern_testkit::TestServer {
    let server = tern_testkit::TestServer::start().await;
    let d = server.stores().directory;
    d.add_domain(&Domain::parse(domain).unwrap()).await.unwrap();
    server.add_user(&format!("bob@{other}")).await;
    let bob = Address::parse(&format!("bob@{other}")).unwrap();
    for source in [format!("info@{domain}"), format!("@{domain}")] {
        d.add_alias(&source.parse().unwrap(), std::slice::from_ref(&bob))
            .await
            .unwrap();
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_added_as_u_label_receives_a_label_and_u_label_mail() {
    let server = server_with_domain("bücher.example", "xn--bcher-kva.example").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    // Without SMTPUTF8 only the A-label can be written (RFC 6531 §3.4).
    for rcpt in [
        "bob@xn--bcher-kva.example",
        "info@XN--BCHER-KVA.example",
        "anyone@xn--bcher-kva.example",
    ] {
        deliver_to(&mut c, rcpt, "").await;
    }
    for rcpt in [
        "bob@bücher.example",
        "info@BÜCHER.example",
        "anyone@bücher.example",
    ] {
        deliver_to(&mut c, rcpt, " SMTPUTF8").await;
    }
    c.expect("MAIL FROM:<sender@remote.example>", "250").await;
    c.expect("RCPT TO:<bob@bücher.example>", "553 5.6.7").await;
    c.expect("RCPT TO:<bob@xn--bcher-kva.other>", "550 5.7.1")
        .await;
    let inbox = server.inbox("bob@bücher.example", 6).await;
    assert_eq!(inbox.len(), 6);
    let first = String::from_utf8_lossy(&inbox[0]);
    assert!(
        first.contains("\tfor <bob@xn--bcher-kva.example>;"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_added_as_a_label_receives_u_label_mail() {
    let server = server_with_domain("xn--bcher-kva.example", "bücher.example").await;
    let mut c = Raw::greeted(server.addr(Protocol::Smtp)).await;
    c.expect("EHLO client.test", "250").await;
    for rcpt in [
        "bob@bücher.example",
        "info@bücher.example",
        "anyone@bücher.example",
    ] {
        deliver_to(&mut c, rcpt, " SMTPUTF8").await;
    }
    deliver_to(&mut c, "bob@xn--bcher-kva.example", "").await;
    assert_eq!(server.inbox("bob@xn--bcher-kva.example", 4).await.len(), 4);
}
