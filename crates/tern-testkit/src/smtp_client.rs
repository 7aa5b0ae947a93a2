//! A minimal SMTP client for delivering test mail: one connection, commands pipelined, text
//! dot-stuffed. Panics on any refusal (tests want to know).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.expect("read reply");
        assert!(n > 0, "server closed the connection");
        text.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return text;
        }
    }
}

/// RFC 5321 §4.5.2 transparency.
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Delivers every message from `from` to `to` over one SMTP session.
pub async fn deliver(addr: SocketAddr, from: &str, to: &[&str], messages: &[Vec<u8>]) {
    let stream = TcpStream::connect(addr).await.expect("connect to SMTP");
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    assert!(reply(&mut reader).await.starts_with("220"));
    write
        .write_all(b"EHLO testkit.test\r\n")
        .await
        .expect("write");
    assert!(reply(&mut reader).await.starts_with("250"));
    for message in messages {
        let mut envelope = format!("MAIL FROM:<{from}> BODY=8BITMIME\r\n");
        for rcpt in to {
            envelope.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
        }
        envelope.push_str("DATA\r\n");
        write.write_all(envelope.as_bytes()).await.expect("write");
        for _ in 0..to.len() + 1 {
            let r = reply(&mut reader).await;
            assert!(r.starts_with("250"), "refused: {r}");
        }
        let r = reply(&mut reader).await;
        assert!(r.starts_with("354"), "{r}");
        write.write_all(&dot_stuff(message)).await.expect("write");
        let r = reply(&mut reader).await;
        assert!(r.starts_with("250"), "message refused: {r}");
    }
    write.write_all(b"QUIT\r\n").await.expect("write");
    let _ = reply(&mut reader).await;
}
