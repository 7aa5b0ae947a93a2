//! Strict ALPN (ALPACA): every TLS listener, STARTTLS and implicit, refuses a client that asks
//! for another application protocol with the no_application_protocol alert, and serves one
//! that asks for its own protocol or for none.

use rustls::AlertDescription;
use tern_config::Protocol;
use tern_testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Reads one reply line byte by byte, so nothing after it is taken from the TLS handshake.
async fn line(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    while !text.ends_with(b"\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed"
        );
        text.push(byte[0]);
    }
    String::from_utf8(text).unwrap()
}

/// A plaintext connection that has asked for TLS with `command` and been told to go ahead.
async fn upgraded(server: &TestServer, protocol: Protocol) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr(protocol)).await.unwrap();
    let (commands, go_ahead): (&[&str], &str) = match protocol {
        Protocol::Smtp => (&["EHLO client.test\r\n", "STARTTLS\r\n"], "220 "),
        Protocol::Pop3 => (&["STLS\r\n"], "+OK"),
        _ => unreachable!("only SMTP and POP3 are served with STARTTLS"),
    };
    line(&mut tcp).await;
    for command in commands {
        tcp.write_all(command.as_bytes()).await.unwrap();
        let mut reply = line(&mut tcp).await;
        while reply.starts_with("250-") {
            reply = line(&mut tcp).await;
        }
        if *command != "EHLO client.test\r\n" {
            assert!(reply.starts_with(go_ahead), "{command:?}: {reply:?}");
        }
    }
    tcp
}

/// A TCP connection ready for the TLS handshake of `protocol`.
async fn ready_for_tls(server: &TestServer, protocol: Protocol) -> TcpStream {
    match protocol.implicit_tls() {
        true => TcpStream::connect(server.addr(protocol)).await.unwrap(),
        false => upgraded(server, protocol).await,
    }
}

async fn handshake(
    server: &TestServer,
    protocol: Protocol,
    alpn: &[&str],
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = ready_for_tls(server, protocol).await;
    let cert = server.config.data_dir.join("tls/cert.pem");
    let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();
    tern_testkit::tls_connector_offering(&cert, alpn)
        .connect(name, tcp)
        .await
}

/// The handshake fails because the server sent the no_application_protocol alert.
async fn assert_refused(server: &TestServer, protocol: Protocol, alpn: &[&str]) {
    let err = handshake(server, protocol, alpn)
        .await
        .err()
        .unwrap_or_else(|| panic!("{protocol} accepted a client offering {alpn:?}"));
    let alert = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    assert_eq!(
        alert,
        Some(&rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol
        )),
        "{protocol} offering {alpn:?}: {err}"
    );
}

/// The handshake succeeds, the protocol's own identifier (if any) is the one chosen, and the
/// service speaks first or answers.
async fn assert_served(
    server: &TestServer,
    protocol: Protocol,
    alpn: &[&str],
    chosen: Option<&str>,
) {
    let mut tls = handshake(server, protocol, alpn)
        .await
        .unwrap_or_else(|e| panic!("{protocol} refused a client offering {alpn:?}: {e}"));
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        chosen.map(str::as_bytes),
        "{protocol} offering {alpn:?}"
    );
    // After STARTTLS the client speaks first (RFC 3207 §4.2, RFC 2595 §4).
    match protocol {
        Protocol::Smtp => tls.write_all(b"EHLO client.test\r\n").await.unwrap(),
        Protocol::Pop3 => tls.write_all(b"CAPA\r\n").await.unwrap(),
        _ => {}
    }
    let mut buf = [0u8; 64];
    let n = tls.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    let expected = match protocol {
        Protocol::Smtp => "250-mx.test",
        Protocol::Pop3 | Protocol::Pop3s => "+OK",
        Protocol::Imaps => "* OK [CAPABILITY",
        _ => "220 mx.test",
    };
    assert!(text.starts_with(expected), "{protocol} over TLS: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_refuses_any_alpn_and_serves_a_client_without() {
    let server = TestServer::start().await;
    // SMTP has no identifier in the IANA registry: whatever is offered is another protocol.
    assert_refused(&server, Protocol::Smtp, &["http/1.1"]).await;
    assert_refused(&server, Protocol::Smtp, &["smtp", "h2"]).await;
    assert_served(&server, Protocol::Smtp, &[], None).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_stls_refuses_a_foreign_alpn_and_serves_pop3_or_none() {
    let server = TestServer::start().await;
    assert_refused(&server, Protocol::Pop3, &["http/1.1"]).await;
    assert_refused(&server, Protocol::Pop3, &["imap", "h2"]).await;
    assert_served(&server, Protocol::Pop3, &["h2", "pop3"], Some("pop3")).await;
    assert_served(&server, Protocol::Pop3, &[], None).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3s_refuses_a_foreign_alpn_and_serves_pop3_or_none() {
    let server = TestServer::start().await;
    assert_refused(&server, Protocol::Pop3s, &["http/1.1"]).await;
    assert_refused(&server, Protocol::Pop3s, &["imap"]).await;
    assert_served(&server, Protocol::Pop3s, &["pop3"], Some("pop3")).await;
    assert_served(&server, Protocol::Pop3s, &[], None).await;
    server.stop().await;
}

/// IMAP and submission are not served yet, but their listeners already shake hands with the
/// same acceptor: the rule holds there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_and_submissions_listeners_apply_the_same_rule() {
    let server = TestServer::start().await;
    assert_refused(&server, Protocol::Imaps, &["pop3", "http/1.1"]).await;
    assert_served(&server, Protocol::Imaps, &["imap"], Some("imap")).await;
    assert_served(&server, Protocol::Imaps, &[], None).await;
    assert_refused(&server, Protocol::Submissions, &["http/1.1"]).await;
    assert_served(&server, Protocol::Submissions, &[], None).await;
    server.stop().await;
}
