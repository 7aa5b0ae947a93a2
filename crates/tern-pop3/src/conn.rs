//! The POP3 connection driver: lines in, responses out, idle timeout, STLS.

use std::sync::Arc;
use std::time::Duration;

use tern_net::{CancellationToken, ConnInfo, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::session::{Next, Response, Session};
use crate::Pop3Shared;

const READ_CHUNK: usize = 16 * 1024;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Writes `bytes`; false when the client is gone, does not read for the idle timeout, or the
/// server is shutting down (a client that stops reading must not hold its maildrop forever).
async fn send(
    stream: &mut Box<dyn Stream>,
    bytes: &[u8],
    idle: Duration,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        written = tokio::time::timeout(idle, stream.write_all(bytes)) => matches!(written, Ok(Ok(()))),
    }
}

pub(crate) async fn run(
    stream: Box<dyn Stream>,
    info: ConnInfo,
    shared: Arc<Pop3Shared>,
    shutdown: CancellationToken,
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
    loop {
        // Answer every complete line already here (RFC 2449 §6.6 PIPELINING), then read.
        loop {
            let limit = if awaiting_sasl {
                settings.max_command_line.max(MAX_SASL_LINE)
            } else {
                settings.max_command_line
            };
            let Some(line) = take_line(&mut input, limit, &mut skipping) else {
                break;
            };
            // Whatever the line is, it answers a pending SASL challenge.
            let sasl = std::mem::take(&mut awaiting_sasl);
            let response = match line {
                Line::TooLong => Response {
                    bytes: b"-ERR Line too long\r\n".to_vec(),
                    next: Next::Continue,
                },
                Line::Garbage => Response {
                    bytes: b"-ERR Unknown command\r\n".to_vec(),
                    next: Next::Continue,
                },
                Line::Text(text) if sasl => session.sasl_response(&text).await,
                Line::Text(text) => session.command(&text).await,
            };
            output.extend_from_slice(&response.bytes);
            match response.next {
                Next::Continue => {}
                Next::SaslResponse => awaiting_sasl = true,
                Next::Close => {
                    let _ = send(&mut stream, &output, idle, &shutdown).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                Next::StartTls => {
                    if !send(&mut stream, &output, idle, &shutdown).await {
                        return;
                    }
                    output.clear();
                    if !input.is_empty() {
                        // RFC 2595 §4 / CVE-2011-0411: nothing sent before the handshake counts.
                        tracing::info!(bytes = input.len(), "discarded input pipelined after STLS");
                        input.clear();
                    }
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, shared.tls.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let description = tern_net::describe_tls(tls.get_ref().1);
                            tracing::info!(tls = %description, "STLS done");
                            session.tls_started(description);
                            stream = Box::new(tls);
                        }
                        Ok(Err(e)) => {
                            tracing::info!("STLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::info!("STLS handshake timed out");
                            return;
                        }
                    }
                }
            }
            if output.len() >= MAX_PENDING_OUTPUT {
                if !send(&mut stream, &output, idle, &shutdown).await {
                    return;
                }
                output.clear();
            }
        }
        if !output.is_empty() {
            if !send(&mut stream, &output, idle, &shutdown).await {
                return;
            }
            output.clear();
        }
        let read = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = send(&mut stream, b"-ERR [SYS/TEMP] Server shutting down\r\n", idle, &CancellationToken::new()).await;
                return;
            }
            read = tokio::time::timeout(idle, stream.read(&mut scratch)) => read,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => input.extend_from_slice(&scratch[..n]),
            Err(_) => {
                // RFC 1939 §3: the autologout timer closes without entering UPDATE.
                tracing::info!("idle timeout");
                let _ = send(
                    &mut stream,
                    b"-ERR Idle timeout, closing connection\r\n",
                    idle,
                    &shutdown,
                )
                .await;
                return;
            }
        }
    }
}
