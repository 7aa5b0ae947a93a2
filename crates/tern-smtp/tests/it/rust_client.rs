//! lettre, an independent Rust SMTP client, against the SMTP listener.
//!
//! lettre ends the message text with `<CRLF>.<CRLF>` after whatever it is given, so a body
//! handed over without a final CRLF arrives (and is stored) with one.

use lettre::address::Envelope;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tern_config::Protocol;
use tern_testkit::TestServer;

use crate::{server, without_trace};

fn transport(server: &TestServer, tls: bool) -> AsyncSmtpTransport<Tokio1Executor> {
    let tls = if tls {
        let pem = std::fs::read(server.config.data_dir.join("tls/cert.pem")).unwrap();
        let params = TlsParameters::builder("mx.test".into())
            .add_root_certificate(Certificate::from_pem(&pem).unwrap())
            .build_rustls()
            .unwrap();
        Tls::Required(params)
    } else {
        Tls::None
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.addr(Protocol::Smtp).port())
        .hello_name(ClientId::Domain("lettre.test".into()))
        .tls(tls)
        .build()
}

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        Some(from.parse().unwrap()),
        to.iter().map(|t| t.parse().unwrap()).collect(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettre_delivers_to_one_many_aliases_and_plus_addresses() {
    let server = server().await;
    let plain = transport(&server, false);
    plain
        .send_raw(
            &envelope("l@remote.example", &["alice@example.test"]),
            b"Subject: one\r\n\r\nto one",
        )
        .await
        .unwrap();
    plain
        .send_raw(
            &envelope(
                "l@remote.example",
                &[
                    "alice@example.test",
                    "bob@example.test",
                    "carol@example.test",
                ],
            ),
            b"Subject: many\r\n\r\nto three",
        )
        .await
        .unwrap();
    // The alias reaches alice and bob; alice named twice (alias and plus) gets one copy.
    plain
        .send_raw(
            &envelope(
                "l@remote.example",
                &["team@example.test", "alice+work@example.test"],
            ),
            b"Subject: alias\r\n\r\nto the team",
        )
        .await
        .unwrap();
    let alice = server.inbox("alice@example.test", 3).await;
    assert_eq!(alice.len(), 3);
    assert_eq!(without_trace(&alice[0]), b"Subject: one\r\n\r\nto one\r\n");
    assert_eq!(
        without_trace(&alice[2]),
        b"Subject: alias\r\n\r\nto the team\r\n"
    );
    assert_eq!(server.inbox("bob@example.test", 2).await.len(), 2);
    assert_eq!(server.inbox("carol@example.test", 1).await.len(), 1);
    // One blob serves every recipient of a message.
    let blobs = server.stores().blobs.count().await.unwrap();
    assert_eq!(blobs, 3, "one blob per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettre_starttls_8bit_and_smtputf8_are_stored_byte_exact() {
    let server = server().await;
    let tls = transport(&server, true);
    let eight_bit =
        "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÀ bientôt, ça va ?\r\n";
    tls.send_raw(
        &envelope("l@remote.example", &["bob@example.test"]),
        eight_bit.trim_end().as_bytes(),
    )
    .await
    .unwrap();
    let utf8 = "From: Zoë <zoë@remote.example>\r\nSubject: ünïcödé\r\n\r\n日本語\r\n";
    tls.send_raw(
        &envelope("zoë@remote.example", &["bob@example.test"]),
        utf8.trim_end().as_bytes(),
    )
    .await
    .unwrap();
    let bob = server.inbox("bob@example.test", 2).await;
    assert_eq!(without_trace(&bob[0]), eight_bit.as_bytes());
    assert_eq!(without_trace(&bob[1]), utf8.as_bytes());
    let trace = String::from_utf8_lossy(&bob[1]).into_owned();
    assert!(
        trace.starts_with("Return-Path: <zoë@remote.example>"),
        "{trace}"
    );
    assert!(
        trace.contains("with UTF8SMTPS\r\n\t(using TLSv1_3"),
        "{trace}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lettre_sees_unknown_users_and_relaying_refused() {
    let server = server().await;
    let plain = transport(&server, false);
    for (rcpt, reason) in [
        ("nobody@example.test", "No such user"),
        ("someone@remote.example", "Relaying denied"),
    ] {
        let err = plain
            .send_raw(&envelope("l@remote.example", &[rcpt]), b"x\r\n")
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert!(err.to_string().contains(reason), "{err}");
    }
}
