//! The POP3 connection driver: lines in, responses out, idle timeout, STLS.

use std::sync::Arc;
use std::time::Duration;

use tern_net::{io, ConnInfo, Shutdown, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::session::{Next, Response, Session};
use crate::Pop3Shared;

const READ_CHUNK: usize = 16 * 1024;

/// A line taken from the input.
enum Line {
    Text(String),
    TooLong,
    /// Not UTF-8: no POP3 command or SASL response contains such bytes.
    Garbage,
}

/// The next line in `input` (LF-terminated; a CR before the LF is dropped), if complete.
fn take_line(input: &mut Vec<u8>, max: usize, skipping: &mut bool) -> Option<Line> {
    let lf = input.iter().position(|&b| b == b'\n');
    let Some(lf) = lf else {
        if input.len() > max {
            input.clear();
            *skipping = true;
        }
        return None;
    };
    let raw: Vec<u8> = input.drain(..=lf).collect();
    if std::mem::take(skipping) || raw.len() > max {
        return Some(Line::TooLong);
    }
    let text = raw.strip_suffix(b"\n").unwrap_or(&raw);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    Some(match String::from_utf8(text.to_vec()) {
        Ok(s) => Line::Text(s),
        Err(_) => Line::Garbage,
    })
}

/// RFC 5034 §4: a SASL response may be longer than a command; PLAIN's largest (three fields
/// of 255 octets) is 1024 base64 characters.
const MAX_SASL_LINE: usize = 1024 + 2;
/// Responses are gathered up to this size, then written, so that a client pipelining many
/// RETRs cannot make the server hold all their answers at once.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;

/// Writes `bytes`; false when the client is gone or does not read for the idle timeout (a
/// client that stops reading must not hold its maildrop forever), or when the shutdown's
/// grace period is over. The start of a shutdown does not interrupt it: the answer to the
/// command in flight (a QUIT whose deletions are done) still reaches the client.
async fn send(
    stream: &mut Box<dyn Stream>,
    bytes: &[u8],
    idle: Duration,
    shutdown: &Shutdown,
) -> bool {
    io::write_all(stream, bytes, idle, shutdown).await.is_ok()
}

/// Sends what `output` holds and empties it; false as for [`send`].
async fn send_pending(
    stream: &mut Box<dyn Stream>,
    output: &mut Vec<u8>,
    idle: Duration,
    shutdown: &Shutdown,
) -> bool {
    let sent = send(stream, output, idle, shutdown).await;
    output.clear();
    sent
}

/// What ended a wait for input.
enum Wait {
    Read(std::io::Result<usize>),
    Idle,
    Shutdown,
    /// A command line took longer than `command_timeout` from its first byte.
    CommandTimeout,
}

pub(crate) async fn run(
    stream: Box<dyn Stream>,
    info: ConnInfo,
    shared: Arc<Pop3Shared>,
    shutdown: Shutdown,
) {
    let settings = &shared.settings;
    let idle = settings.idle_timeout;
    let mut session = Session::new(shared.clone(), info);
    let mut stream = stream;
    let mut input: Vec<u8> = Vec::with_capacity(512);
    let mut output: Vec<u8> = session.greeting().bytes;
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut skipping = false;
    let mut awaiting_sasl = false;
    // When the first byte of the command line now being received arrived, and when the
    // last read did (which brought the start of any partial line left after the complete
    // ones were taken).
    let mut line_started: Option<Instant> = None;
    let mut last_read = Instant::now();
    loop {
        // Answer every complete line already here (RFC 2449 §6.6 PIPELINING), then read.
        loop {
            if shutdown.has_begun() {
                // Nothing new starts once the stop has begun; what was answered is sent.
                output.extend_from_slice(SHUTTING_DOWN);
                let _ = send(&mut stream, &output, idle, &shutdown).await;
                return;
            }
            let limit = if awaiting_sasl {
                settings.max_command_line.max(MAX_SASL_LINE)
            } else {
                settings.max_command_line
            };
            let Some(line) = take_line(&mut input, limit, &mut skipping) else {
                break;
            };
            line_started = None;
            // Whatever the line is, it answers a pending SASL challenge.
            let sasl = std::mem::take(&mut awaiting_sasl);
            let response = match line {
                Line::TooLong => Response::line("-ERR", "Line too long", Next::Continue),
                Line::Garbage => Response::line("-ERR", "Unknown command", Next::Continue),
                Line::Text(text) if sasl => session.sasl_response(&text).await,
                Line::Text(text) => session.command(&text).await,
            };
            output.extend_from_slice(&response.bytes);
            if let Some(mut body) = response.body {
                // Streamed in pieces, each written before the next is read: a client on a
                // slow link gets the idle timeout per piece, never for the whole message.
                loop {
                    match body.next(&mut output).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            // Nothing honest can follow part of a multi-line answer.
                            tracing::error!("cannot read a message while sending it: {e}");
                            return;
                        }
                    }
                    if output.len() >= MAX_PENDING_OUTPUT
                        && !send_pending(&mut stream, &mut output, idle, &shutdown).await
                    {
                        return;
                    }
                }
            }
            match response.next {
                Next::Continue => {}
                Next::SaslResponse => awaiting_sasl = true,
                Next::Close => {
                    if send(&mut stream, &output, idle, &shutdown).await {
                        let _ = io::bounded(stream.shutdown(), idle, &shutdown).await;
                    }
                    return;
                }
                Next::StartTls => {
                    if !send_pending(&mut stream, &mut output, idle, &shutdown).await {
                        return;
                    }
                    if !input.is_empty() {
                        // RFC 2595 §4 / CVE-2011-0411: nothing sent before the handshake counts.
                        tracing::info!(bytes = input.len(), "discarded input pipelined after STLS");
                        input.clear();
                    }
                    let Some((tls, description)) = shared.tls.upgrade(stream, "STLS").await else {
                        return;
                    };
                    session.tls_started(description);
                    stream = tls;
                }
            }
            if output.len() >= MAX_PENDING_OUTPUT
                && !send_pending(&mut stream, &mut output, idle, &shutdown).await
            {
                return;
            }
        }
        if !output.is_empty() && !send_pending(&mut stream, &mut output, idle, &shutdown).await {
            return;
        }
        if input.is_empty() && !skipping {
            line_started = None;
        } else {
            line_started.get_or_insert(last_read);
        }
        let deadline = line_started.map(|at| at + settings.command_timeout);
        let wait = tokio::select! {
            // The limits first, so that a client that always has a byte waiting meets them.
            biased;
            _ = sleep_until_some(deadline) => Wait::CommandTimeout,
            _ = shutdown.begun() => Wait::Shutdown,
            read = tokio::time::timeout(idle, stream.read(&mut scratch)) => {
                read.map_or(Wait::Idle, Wait::Read)
            }
        };
        let goodbye: &[u8] = match wait {
            Wait::Read(Ok(0) | Err(_)) => return,
            Wait::Read(Ok(n)) => {
                last_read = Instant::now();
                input.extend_from_slice(scratch.get(..n).unwrap_or_default());
                continue;
            }
            Wait::Shutdown => SHUTTING_DOWN,
            Wait::CommandTimeout => {
                tracing::info!("command timeout");
                b"-ERR Command line not completed in time, closing connection\r\n"
            }
            Wait::Idle => {
                // RFC 1939 §3: the autologout timer closes without entering UPDATE.
                tracing::info!("idle timeout");
                b"-ERR Idle timeout, closing connection\r\n"
            }
        };
        let _ = send(&mut stream, goodbye, idle, &shutdown).await;
        return;
    }
}

/// RFC 3206 §4: SYS/TEMP, the server's own temporary condition.
const SHUTTING_DOWN: &[u8] = b"-ERR [SYS/TEMP] Server shutting down\r\n";

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
