//! The POP3 listeners against Python's poplib, fetchmail and raw sockets.

mod clients;
mod errors;
mod fuzz_seeds;
mod large;
mod raw;
mod throttle;

use std::net::SocketAddr;

use tern_testkit::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A raw POP3 connection.
#[derive(Debug)]
pub struct Pop {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Pop {
    pub async fn connect(addr: SocketAddr) -> (Self, String) {
        Self::from_stream(TcpStream::connect(addr).await.expect("connect")).await
    }

    /// Connects from another loopback source address (all of 127.0.0.0/8 is loopback on
    /// Linux), to look like another client or network.
    pub async fn connect_from(source: &str, addr: SocketAddr) -> (Self, String) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        let source: std::net::IpAddr = source.parse().expect("a source address");
        socket.bind(SocketAddr::new(source, 0)).expect("bind");
        Self::from_stream(socket.connect(addr).await.expect("connect")).await
    }

    pub async fn greeted_from(source: &str, addr: SocketAddr) -> Self {
        let (pop, greeting) = Self::connect_from(source, addr).await;
        assert!(greeting.starts_with("+OK "), "{greeting}");
        pop
    }

    async fn from_stream(stream: TcpStream) -> (Self, String) {
        let (read, writer) = stream.into_split();
        let mut pop = Self {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = pop.line().await;
        (pop, greeting)
    }

    pub async fn greeted(addr: SocketAddr) -> Self {
        let (pop, greeting) = Self::connect(addr).await;
        assert!(greeting.starts_with("+OK "), "{greeting}");
        pop
    }

    /// One response line without its CRLF, or "" at end of stream.
    pub async fn line(&mut self) -> String {
        self.line_within(std::time::Duration::from_secs(20)).await
    }

    /// A response line, waiting as long as it takes: for paused-clock tests, where any pending
    /// timer would be jumped to while the server works on another thread.
    pub async fn line_untimed(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).await.expect("read");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    pub async fn line_within(&mut self, limit: std::time::Duration) -> String {
        let mut line = String::new();
        tokio::time::timeout(limit, self.reader.read_line(&mut line))
            .await
            .expect("a response in time")
            .expect("read");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    pub async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.expect("write");
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    pub async fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line).await;
        assert!(r.starts_with("+OK"), "{line:?} -> {r:?}");
        r
    }

    pub async fn err(&mut self, line: &str) -> String {
        let r = self.cmd(line).await;
        assert!(r.starts_with("-ERR"), "{line:?} -> {r:?}");
        r
    }

    /// The body of a multi-line response, undotted, as raw bytes with CRLF line ends.
    pub async fn multi(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader
                .read_until(b'\n', &mut line)
                .await
                .expect("read");
            assert!(
                line.ends_with(b"\r\n"),
                "line without CRLF: {:?}",
                String::from_utf8_lossy(&line)
            );
            if line == b".\r\n" {
                return out;
            }
            let line = line
                .strip_prefix(b".")
                .filter(|_| line.starts_with(b".."))
                .unwrap_or(&line);
            out.extend_from_slice(line);
        }
    }

    pub async fn login(&mut self, user: &str) {
        self.ok(&format!("USER {user}")).await;
        self.ok(&format!("PASS {}", tern_testkit::TEST_PASSWORD))
            .await;
    }
}

/// A server with alice, bob and fm@example.test.
pub async fn server_with(extra: &str) -> TestServer {
    let server = TestServer::start_with(extra).await;
    for user in ["alice@example.test", "bob@example.test", "fm@example.test"] {
        server.add_user(user).await;
    }
    server
}

pub async fn server() -> TestServer {
    server_with("").await
}

/// Delivers messages to an account over SMTP, and waits until they are in its INBOX.
pub async fn deliver(server: &TestServer, to: &[&str], messages: &[Vec<u8>]) {
    let addr = server.addr(tern_config::Protocol::Smtp);
    tern_testkit::smtp_client::deliver(addr, "sender@remote.example", to, messages).await;
    for rcpt in to {
        let got = server.inbox(rcpt, messages.len()).await.len();
        assert!(
            got >= messages.len(),
            "{rcpt} has {got} of {}",
            messages.len()
        );
    }
}

/// Strips the two trace headers Tern adds (Return-Path, folded Received).
pub fn without_trace(stored: &[u8]) -> &[u8] {
    assert!(
        stored.starts_with(b"Return-Path: <"),
        "{}",
        String::from_utf8_lossy(&stored[..stored.len().min(200)])
    );
    let mut pos = stored.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(stored[pos..].starts_with(b"Received: "));
    loop {
        pos += stored[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        if stored.get(pos) != Some(&b'\t') {
            return &stored[pos..];
        }
    }
}
