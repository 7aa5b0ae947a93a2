//! The connection driver: greeting, reads with an idle timeout, command framing, message
//! text, pipelining (replies are flushed before every read, RFC 2920 §3.1), STARTTLS.

use std::task::Poll;
use std::time::Duration;

use tern_net::{io, Refusal, Shutdown, Stream, TlsAcceptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::data::DotReceiver;
use crate::line::{frame, Framed, LineError};
use crate::reply::Reply;
use crate::session::{Next, Outcome, Session};
use crate::SmtpSettings;

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;

/// What the driver is reading.
enum Mode {
    Command,
    /// Skipping the rest of an overlong command line, then answering it.
    SkipLine,
    Data(DotReceiver),
    Bdat {
        remaining: usize,
        last: bool,
    },
}

/// The reply for a connection turned away by the connection limits (RFC 5321 §3.8: 421).
pub(crate) fn refusal_text(settings: &SmtpSettings, why: Refusal) -> String {
    let text = match why {
        Refusal::TooManyConnections => "Too many connections, try again later",
        Refusal::TooManyFromAddress => "Too many connections from your address, try again later",
    };
    let mut out = Vec::new();
    Reply::new(421, "4.7.0", format!("{} {text}", settings.hostname)).write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

struct Conn {
    stream: Box<dyn Stream>,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Read target; copied into `input` only after a read completes, so a read cancelled by a
    /// timeout leaves `input` untouched.
    scratch: Vec<u8>,
    /// How long a read or a write may wait without progress.
    idle: Duration,
    shutdown: Shutdown,
}

impl Conn {
    /// Writes the pending replies. A client that stops reading gets the idle timeout; the
    /// start of a shutdown does not interrupt the write (the reply may stand for a committed
    /// message), only the end of its grace period does.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            io::write_all(&mut self.stream, &self.output, self.idle, &self.shutdown).await?;
            self.output.clear();
        }
        Ok(())
    }

    /// Writes a last reply and closes. Past the shutdown's grace period this still writes
    /// what the connection takes at once, and waits for nothing.
    async fn goodbye(&mut self, reply: Reply) {
        reply.write_to(&mut self.output);
        if self.flush().await.is_ok() {
            let _ = io::bounded(self.stream.shutdown(), self.idle, &self.shutdown).await;
        }
    }

    /// Reads more input. `Ok(false)` on end of stream. Cancel-safe.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let n = self.stream.read(&mut self.scratch).await?;
        self.input.extend_from_slice(&self.scratch[..n]);
        Ok(n > 0)
    }
}

/// What ended a wait for input.
enum Wait {
    Read(std::io::Result<bool>),
    Idle,
    /// The shutdown began (between transactions) or its grace period ended (during one).
    Shutdown,
    /// The message transfer took longer than `data_timeout`.
    DataTimeout,
}

/// Waits out the greeting delay; true when the client spoke first (RFC 5321 §4.3.1 has the
/// server speak first, and spam software that does not wait gives itself away).
async fn talks_before_greeting(conn: &mut Conn, delay: Duration) -> bool {
    if delay.is_zero() {
        // Only input already waiting counts: one poll of the read, and no timer. Tokio's
        // timers tick in whole milliseconds, so even a zero timeout held every greeting back
        // about 1 ms (half of a one-session message's time, issue 11 item 7).
        let mut fill = std::pin::pin!(conn.fill());
        let polled =
            std::future::poll_fn(|cx| Poll::Ready(std::future::Future::poll(fill.as_mut(), cx)))
                .await;
        return matches!(polled, Poll::Ready(Ok(true)));
    }
    matches!(tokio::time::timeout(delay, conn.fill()).await, Ok(Ok(true)))
}

pub(crate) async fn run(
    stream: Box<dyn Stream>,
    mut session: Session,
    tls: Option<TlsAcceptor>,
    shutdown: Shutdown,
) {
    let settings = session.settings.clone();
    let mut conn = Conn {
        stream,
        input: Vec::with_capacity(1024),
        output: Vec::new(),
        scratch: vec![0; READ_CHUNK],
        idle: settings.idle_timeout,
        shutdown: shutdown.clone(),
    };
    if talks_before_greeting(&mut conn, settings.greeting_delay).await {
        tracing::info!("client talked before the greeting");
        Reply::new(
            554,
            "5.5.0",
            format!(
                "{} No SMTP service: you talked before the greeting",
                settings.hostname
            ),
        )
        .write_to(&mut conn.output);
        let _ = conn.flush().await;
        return;
    }
    session.greeting().write_to(&mut conn.output);
    let mut mode = Mode::Command;
    // RFC 5321 §4.5.3.2.6: the end of the message transfer, from the 354 or the first BDAT.
    let mut transfer_deadline: Option<Instant> = None;
    loop {
        let in_transfer =
            matches!(mode, Mode::Data(_) | Mode::Bdat { .. }) || session.receiving_body();
        if !in_transfer {
            transfer_deadline = None;
            if shutdown.has_begun() {
                // Between transactions: nothing new starts once the stop has begun.
                conn.goodbye(shutting_down(&settings)).await;
                return;
            }
        }
        let outcome = match step(&mut conn, &mut mode, &mut session, &settings).await {
            Some(outcome) => outcome,
            None => {
                // Nothing more to do with what we have: answer everything, then read.
                if conn.flush().await.is_err() {
                    return;
                }
                let deadline = transfer_deadline.filter(|_| in_transfer);
                let wait = tokio::select! {
                    // First the limits, so that a client that always has more input waiting
                    // still meets them.
                    biased;
                    _ = sleep_until_some(deadline) => Wait::DataTimeout,
                    _ = shutdown.begun(), if !in_transfer => Wait::Shutdown,
                    // A message being received may still arrive within the grace period.
                    _ = shutdown.grace_over(), if in_transfer => Wait::Shutdown,
                    read = tokio::time::timeout(settings.idle_timeout, conn.fill()) => {
                        read.map_or(Wait::Idle, Wait::Read)
                    }
                };
                match wait {
                    Wait::Read(Ok(true)) => continue,
                    Wait::Read(Ok(false) | Err(_)) => return,
                    Wait::Shutdown => {
                        tracing::info!(in_transfer, "closing for the shutdown");
                        conn.goodbye(shutting_down(&settings)).await;
                        return;
                    }
                    Wait::DataTimeout => {
                        // Whatever was received is dropped with the session: nothing is stored.
                        tracing::info!("data timeout");
                        conn.goodbye(Reply::new(
                            421,
                            "4.4.2",
                            format!(
                                "{} The message took longer than {} s, closing connection",
                                settings.hostname,
                                settings.data_timeout.as_secs()
                            ),
                        ))
                        .await;
                        return;
                    }
                    Wait::Idle => {
                        // RFC 5321 §4.5.3.2.7: the server may close after its timeout, with 421.
                        tracing::info!("idle timeout");
                        conn.goodbye(Reply::new(
                            421,
                            "4.4.2",
                            format!("{} Idle timeout, closing connection", settings.hostname),
                        ))
                        .await;
                        return;
                    }
                }
            }
        };
        if let Some(reply) = &outcome.reply {
            reply.write_to(&mut conn.output);
        }
        match outcome.next {
            Next::Continue => mode = Mode::Command,
            Next::ReceiveData => {
                transfer_deadline.get_or_insert(Instant::now() + settings.data_timeout);
                mode = Mode::Data(DotReceiver::new(settings.max_text_line))
            }
            Next::ReceiveBdat { size, last } => {
                transfer_deadline.get_or_insert(Instant::now() + settings.data_timeout);
                mode = Mode::Bdat {
                    remaining: size,
                    last,
                }
            }
            Next::Close => {
                if conn.flush().await.is_ok() {
                    let _ = io::bounded(conn.stream.shutdown(), conn.idle, &shutdown).await;
                }
                return;
            }
            Next::StartTls => {
                if conn.flush().await.is_err() {
                    return;
                }
                let Some(acceptor) = tls.clone() else { return };
                if !conn.input.is_empty() {
                    // RFC 3207 §6 / CVE-2011-0411: anything sent before the handshake is
                    // not protected by it and must not be acted on.
                    tracing::info!(
                        bytes = conn.input.len(),
                        "discarded input pipelined after STARTTLS"
                    );
                    conn.input.clear();
                }
                let Some((tls_stream, description)) =
                    acceptor.upgrade(conn.stream, "STARTTLS").await
                else {
                    return;
                };
                session.tls_started(description);
                conn.stream = tls_stream;
                mode = Mode::Command;
            }
        }
    }
}

/// Makes progress with the input at hand. `None` means more input is needed.
async fn step(
    conn: &mut Conn,
    mode: &mut Mode,
    session: &mut Session,
    settings: &SmtpSettings,
) -> Option<Outcome> {
    match mode {
        Mode::Command => match frame(&conn.input, settings.max_command_line) {
            Framed::Line(n) => {
                let outcome = session.command(&conn.input[..n]).await;
                conn.input.drain(..n);
                Some(outcome)
            }
            Framed::Bad(n, error) => {
                conn.input.drain(..n);
                Some(session.bad_command(line_error_reply(error)))
            }
            Framed::Incomplete { too_long: true } => {
                conn.input.clear();
                *mode = Mode::SkipLine;
                None
            }
            Framed::Incomplete { too_long: false } => None,
        },
        Mode::SkipLine => {
            let lf = conn.input.iter().position(|&b| b == b'\n');
            match lf {
                Some(i) => {
                    conn.input.drain(..=i);
                    Some(session.bad_command(line_error_reply(LineError::TooLong)))
                }
                None => {
                    conn.input.clear();
                    None
                }
            }
        }
        Mode::Data(receiver) => {
            if conn.input.is_empty() {
                return None;
            }
            let (text, used, done) = receiver.feed_reusing(&conn.input);
            session.push_body(text).await;
            conn.input.drain(..used);
            if done {
                let flaws = receiver.flaws();
                return Some(session.end_data(flaws).await);
            }
            None
        }
        Mode::Bdat { remaining, last } => {
            if *remaining > 0 {
                if conn.input.is_empty() {
                    return None;
                }
                let n = (*remaining).min(conn.input.len());
                session.push_body(&conn.input[..n]).await;
                conn.input.drain(..n);
                *remaining -= n;
                if *remaining > 0 {
                    return None;
                }
            }
            Some(session.end_bdat(*last).await)
        }
    }
}

/// RFC 5321 §3.8: 421 when the service must close the channel.
fn shutting_down(settings: &SmtpSettings) -> Reply {
    Reply::new(
        421,
        "4.3.2",
        format!("{} Service shutting down", settings.hostname),
    )
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn line_error_reply(error: LineError) -> Reply {
    match error {
        // RFC 5321 §4.5.3.1.4 and §4.2.2: 500 for a line too long.
        LineError::TooLong => Reply::new(500, "5.5.2", "Line too long"),
        LineError::BareNewline => Reply::new(
            500,
            "5.5.2",
            "Bare CR or LF in a command is not allowed; end lines with CRLF (RFC 5321 §2.3.8)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no greeting delay the check is one look at the socket, without a timer: a zero
    /// timeout went through tokio's millisecond timer wheel and held every greeting back about
    /// 1 ms. The paused clock moves only when something waits on a timer.
    #[tokio::test(start_paused = true)]
    async fn no_greeting_delay_means_no_timer_before_the_greeting() {
        let (server, mut client) = tokio::io::duplex(64);
        let mut conn = Conn {
            stream: Box::new(server),
            input: Vec::new(),
            output: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            idle: Duration::from_secs(60),
            shutdown: Shutdown::new(Duration::from_secs(10)),
        };
        // Off a millisecond boundary, where a zero timeout has to wait for the next tick.
        tokio::time::advance(Duration::from_micros(500)).await;
        let start = tokio::time::Instant::now();
        assert!(!talks_before_greeting(&mut conn, Duration::ZERO).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        client.write_all(b"EHLO early\r\n").await.unwrap();
        assert!(talks_before_greeting(&mut conn, Duration::ZERO).await);
        assert_eq!(conn.input, b"EHLO early\r\n");
    }
}
