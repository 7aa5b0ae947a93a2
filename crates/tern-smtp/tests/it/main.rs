//! The SMTP listener against real clients (lettre, Python's smtplib, swaks) and raw sockets.

mod clients;
mod crash;
mod fuzz_seeds;
mod idn;
mod mime;
mod postmaster;
mod raw;
mod rust_client;
mod submission;
mod trace;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw SMTP connection for transcripts and bad input.
#[derive(Debug)]
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// Connects and reads the greeting.
    pub async fn greeted(addr: SocketAddr) -> Self {
        let mut raw = Self::connect(addr).await;
        let greeting = raw.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// One whole reply (all its lines), or "" when the server closed the connection.
    pub async fn reply(&mut self) -> String {
        self.reply_within(std::time::Duration::from_secs(20)).await
    }

    pub async fn reply_within(&mut self, limit: std::time::Duration) -> String {
        let mut text = String::new();
        loop {
            while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                let last = line.as_bytes().get(3) == Some(&b' ') || line.len() <= 5;
                text.push_str(&line);
                if last {
                    return text;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(limit, self.stream.read(&mut chunk))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return text;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command and checks the reply code.
    pub async fn expect(&mut self, line: &str, code: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(
            reply.starts_with(code),
            "{line:?} -> {reply:?}, expected {code}"
        );
        reply
    }

    /// EHLO, MAIL, RCPT for each recipient (each must be accepted).
    pub async fn envelope(&mut self, from: &str, to: &[&str]) {
        self.expect("EHLO client.test", "250").await;
        self.expect(&format!("MAIL FROM:<{from}>"), "250").await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), "250").await;
        }
    }
}

/// A test server with users alice, bob, carol@example.test, an alias team@ (alice, bob) and
/// a catch-all for example.test that goes to carol.
pub async fn server_with(extra: &str) -> tern_testkit::TestServer {
    let server = tern_testkit::TestServer::start_with(extra).await;
    for user in [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ] {
        server.add_user(user).await;
    }
    let d = server.stores().directory;
    let addr = |s: &str| tern_types::Address::parse(s).unwrap();
    d.add_alias(
        &"team@example.test".parse().unwrap(),
        &[addr("alice@example.test"), addr("bob@example.test")],
    )
    .await
    .unwrap();
    server
}

pub async fn server() -> tern_testkit::TestServer {
    server_with("").await
}

/// The part of a stored message after the trace headers Tern adds.
pub fn without_trace(stored: &[u8]) -> &[u8] {
    let text = stored;
    assert!(
        text.starts_with(b"Return-Path: <"),
        "{}",
        String::from_utf8_lossy(text)
    );
    // Return-Path is one line; Received is folded with tabs and ends at the first line that
    // does not start with a tab after it.
    let mut pos = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(
        text[pos..].starts_with(b"Received: "),
        "{}",
        String::from_utf8_lossy(text)
    );
    loop {
        let next = pos + text[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        pos = next;
        if text.get(pos) != Some(&b'\t') {
            return &text[pos..];
        }
    }
}
