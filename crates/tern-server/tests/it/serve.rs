//! `tern serve`: listeners, TLS, logs, the data-directory lock, recovery after SIGKILL.

use tern_config::Protocol;
use tern_testkit::{ChildServer, TestServer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The first line a server sends (its greeting), without waiting for it to close.
async fn first_read(mut stream: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    while !line.ends_with(b"\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => line.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_listens_and_implicit_tls_uses_the_generated_certificate() {
    let server = TestServer::start().await;
    let mut smtp = TcpStream::connect(server.addr(Protocol::Smtp))
        .await
        .unwrap();
    let mut greeting = [0u8; 64];
    let n = smtp.read(&mut greeting).await.unwrap();
    assert!(
        greeting[..n].starts_with(b"220 mx.test ESMTP"),
        "{:?}",
        String::from_utf8_lossy(&greeting[..n])
    );
    let greetings = [
        (Protocol::Submission, "220 mx.test ESMTP"),
        (Protocol::Imap, "* OK [CAPABILITY IMAP4rev1"),
    ];
    for (protocol, expected) in greetings {
        let stream = TcpStream::connect(server.addr(protocol)).await.unwrap();
        let text = first_read(stream).await;
        assert!(
            text.starts_with(expected) && text.ends_with("\r\n"),
            "{protocol}: {text:?}"
        );
    }
    let cert = server.config.data_dir.join("tls/cert.pem");
    let connector = tern_testkit::tls_connector(&cert);
    for (protocol, expected) in [
        (Protocol::Submissions, "220 mx.test ESMTP"),
        (Protocol::Imaps, "* OK [CAPABILITY IMAP4rev1"),
    ] {
        let tcp = TcpStream::connect(server.addr(protocol)).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake with the generated certificate");
        let text = first_read(tls).await;
        assert!(text.starts_with(expected), "{protocol} over TLS: {text:?}");
    }
    let tcp = TcpStream::connect(server.addr(Protocol::Pop3s))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("mx.test").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("POP3S handshake");
    let mut greeting = [0u8; 64];
    let n = tls.read(&mut greeting).await.unwrap();
    assert!(
        greeting[..n].starts_with(b"+OK mx.test Tern POP3"),
        "{:?}",
        String::from_utf8_lossy(&greeting[..n])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_bind_address_names_its_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.toml");
    std::fs::write(
        &path,
        format!("data_dir = \"d\"\n[listen]\nimap = [\"127.0.0.1:0\", \"127.0.0.1:{port}\"]\n"),
    )
    .unwrap();
    let config = tern_config::load(&path).unwrap();
    let err = tern_server::serve::start(&config, None).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("tern.toml")
            && text.contains("listen.imap[1]")
            && text.contains(&port.to_string()),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bind_creates_nothing_in_data_dir() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.toml");
    // The taken address comes last, after listeners that did bind.
    std::fs::write(
        &path,
        format!(
            "data_dir = \"d\"\n[listen]\nsmtp = [\"127.0.0.1:0\"]\npop3s = [\"127.0.0.1:{port}\"]\n"
        ),
    )
    .unwrap();
    let config = tern_config::load(&path).unwrap();
    let err = tern_server::serve::start(&config, None).await.unwrap_err();
    assert!(format!("{err:#}").contains("listen.pop3s[0]"), "{err:#}");
    let data_dir = dir.path().join("d");
    assert!(
        !data_dir.exists(),
        "{} was created: {:?}",
        data_dir.display(),
        std::fs::read_dir(&data_dir).map(|d| d.count())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_directory() {
    let server = TestServer::start().await;
    let err = tern_server::serve::start(&server.config, None)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("already running"), "{err:#}");
    server.stop().await;
}

/// Listeners are bound before the data directory is locked, so a second server on the same
/// configuration fails on the first one's ports: it must still say what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_ports_says_one_is_running() {
    let server = TestServer::start().await;
    let mut config = server.config.clone();
    let smtp = server.addr(Protocol::Smtp);
    config.listen = vec![(Protocol::Smtp, smtp)];
    let err = tern_server::serve::start(&config, None).await.unwrap_err();
    assert!(format!("{err:#}").contains("already running"), "{err:#}");
    server.stop().await;
}

#[test]
fn sigkill_leaves_no_lock_and_the_next_start_cleans_orphans() {
    let mut server = ChildServer::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_tern")));
    let data = server.data_dir();
    // Leftovers of a crash between writing a blob and committing its metadata.
    let orphan = data.join("blobs/ab").join("ab".repeat(32));
    std::fs::write(&orphan, b"never committed").unwrap();
    let temp = data.join("blobs/tmp/00000000deadbeef");
    std::fs::write(&temp, b"half written").unwrap();
    server.kill();
    // A second start would fail if the killed process's lock outlived it.
    server.restart();
    assert!(!orphan.exists(), "orphaned blob survived the start");
    assert!(!temp.exists(), "temporary file survived the start");
    assert!(
        server.log().contains("removed unreferenced blobs"),
        "{}",
        server.log()
    );
}

#[test]
fn logs_open_and_close_each_connection_with_a_session_id_and_sigterm_stops_cleanly() {
    let mut server = ChildServer::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_tern")));
    let mut stream = std::net::TcpStream::connect(server.addr(Protocol::Submission)).unwrap();
    std::io::Write::write_all(&mut stream, b"QUIT\r\n").unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    let status = server.terminate().expect("exit status");
    assert!(status.success(), "tern serve exited with {status}");
    let log = server.log();
    let opened = log
        .lines()
        .find(|l| l.contains("connection opened"))
        .unwrap_or_else(|| panic!("{log}"));
    let closed = log
        .lines()
        .find(|l| l.contains("connection closed"))
        .unwrap_or_else(|| panic!("{log}"));
    let session = |line: &str| {
        line.split("session=")
            .nth(1)
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    assert!(!session(opened).is_empty(), "{opened}");
    assert_eq!(session(opened), session(closed));
    assert!(
        opened.contains("proto=submission") && opened.contains("peer=127.0.0.1"),
        "{opened}"
    );
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn serve_warns_at_start_when_the_postmaster_address_resolves_to_nothing() {
    let mut server = ChildServer::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_tern")));
    let warning = "mail for <Postmaster> goes to postmaster@example.test, which is neither";
    let log = server.log();
    assert!(log.contains(warning), "{log}");
    assert!(
        log.contains("tern user add postmaster@example.test"),
        "the warning says how to fix it: {log}"
    );
    server.add_user("postmaster@example.test");
    server.restart();
    assert_eq!(server.log().matches(warning).count(), 1, "{}", server.log());
}
