//! A remote mail server for sending tests, on a loopback address: it speaks just enough SMTP
//! (RFC 5321, with PIPELINING and 8BITMIME) for Tern's outbound client, answers RCPT and the
//! end of data as the test scripts it, and records every message it accepts.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the fake server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sender: String,
    pub recipients: Vec<String>,
    /// The message text, dot-unstuffed, without the final `.` line.
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    /// Replies for the next RCPT commands, in order; "250 2.1.5 OK" once empty.
    rcpt_replies: VecDeque<String>,
    /// Replies for the next ends of data; "250 2.0.0 OK" once empty.
    data_replies: VecDeque<String>,
    accepted: Vec<Accepted>,
    connections: usize,
}

/// Stops listening when dropped.
#[derive(Debug)]
pub struct FakeMx {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply_of(queue: &mut VecDeque<String>, default: &str) -> String {
    queue.pop_front().unwrap_or_else(|| default.to_string())
}

impl FakeMx {
    /// Listens on `addr` (port 0 for any).
    pub async fn start(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the fake MX");
        let addr = listener.local_addr().expect("fake MX address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.lock().expect("state").connections += 1;
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// The next RCPT commands get these replies (e.g. "451 4.3.0 try later"), in order.
    pub fn script_rcpt(&self, replies: &[&str]) {
        let mut state = self.state.lock().expect("state");
        state
            .rcpt_replies
            .extend(replies.iter().map(|r| r.to_string()));
    }

    /// The next ends of data get these replies, in order.
    pub fn script_data(&self, replies: &[&str]) {
        let mut state = self.state.lock().expect("state");
        state
            .data_replies
            .extend(replies.iter().map(|r| r.to_string()));
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.state.lock().expect("state").accepted.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().expect("state").connections
    }

    /// Waits until `n` messages have been accepted; false after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.accepted().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let out = |text: String| text + "\r\n";
    if write
        .write_all(out("220 fake.test ESMTP".into()).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut sender = String::new();
    let mut recipients = Vec::new();
    loop {
        let mut line = String::new();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-fake.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8".to_string()
        } else if upper.starts_with("HELO") {
            "250 fake.test".to_string()
        } else if upper.starts_with("MAIL FROM:") {
            sender = path_of(&line);
            recipients.clear();
            "250 2.1.0 OK".to_string()
        } else if upper.starts_with("RCPT TO:") {
            let reply = reply_of(
                &mut state.lock().expect("state").rcpt_replies,
                "250 2.1.5 OK",
            );
            if reply.starts_with('2') {
                recipients.push(path_of(&line));
            }
            reply
        } else if upper.starts_with("DATA") {
            if recipients.is_empty() {
                "554 5.5.1 no valid recipients".to_string()
            } else {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let Some(data) = read_data(&mut lines).await else {
                    return;
                };
                let mut state = state.lock().expect("state");
                let reply = reply_of(&mut state.data_replies, "250 2.0.0 OK");
                if reply.starts_with('2') {
                    state.accepted.push(Accepted {
                        sender: sender.clone(),
                        recipients: recipients.clone(),
                        data,
                    });
                }
                reply
            }
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 2.0.0 OK".to_string()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.1 not implemented".to_string()
        };
        if write.write_all(out(reply).as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The address between `<` and `>`.
fn path_of(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_string()
}

/// Message text up to `.` alone on a line, unstuffed (RFC 5321 §4.5.2).
async fn read_data(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if lines.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        let text = match line.first() {
            Some(b'.') => &line[1..],
            _ => &line[..],
        };
        data.extend_from_slice(text);
    }
}
