//! The SMTP client that relays a queued message to another MTA: one connection, one
//! transaction, one final reply per recipient.
//!
//! Our own client on smtp-proto's reply parsers, not mail-send: mail-send ends DATA with an
//! extra empty line, leaves a dot at byte 0 unstuffed, stops at the first refused RCPT, has one
//! timeout for every stage and no HELO fallback (docs/research/sending.md §1).
//!
//! # Standards
//! - RFC 5321 (§3.2 HELO fallback, §3.3 mail transactions, §4.5.2 transparency, §4.5.3.2
//!   timeouts)
//! - RFC 2920 (PIPELINING), RFC 3207 (STARTTLS), RFC 7435 (opportunistic security)
//! - RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8)
//! - RFC 3461 (DSN parameters, xtext), RFC 3463 (enhanced status codes)
//!
//! # Security
//! Replies come from any server on the Internet: one reply is capped at smtp-proto's
//! `MAX_RESPONSE_LENGTH`, every read and write has a deadline, and what a server sends ahead
//! of the TLS handshake is discarded (STARTTLS response injection, CVE-2011-0411). Envelope
//! values are checked for line breaks before they go into a command line.

mod command;
mod conn;
mod data;
mod tls;

#[cfg(test)]
mod tests;

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use smtp_proto::{
    EhloResponse, EXT_8BIT_MIME, EXT_DSN, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS,
};
use tokio::net::TcpStream;

use conn::{Conn, WireError};
pub use tls::insecure_tls_config;

/// How long each stage may take. The defaults are RFC 5321 §4.5.3.2's minimums; `connect` is
/// ours (the RFC names none).
///
/// EHLO, HELO, STARTTLS (with its handshake) and QUIT have no timeout of their own in the RFC;
/// they use `mail`, as Postfix's `smtp_helo_timeout` and `smtp_starttls_timeout` (300 s) do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connection set-up.
    pub connect: Duration,
    /// The 220 greeting (§4.5.3.2.1: 5 minutes).
    pub greeting: Duration,
    /// The reply to MAIL (§4.5.3.2.2: 5 minutes), and to EHLO, HELO, STARTTLS and QUIT.
    pub mail: Duration,
    /// The reply to each RCPT (§4.5.3.2.3: 5 minutes).
    pub rcpt: Duration,
    /// The 354 reply to DATA (§4.5.3.2.4: 2 minutes).
    pub data_init: Duration,
    /// Each write of message text (§4.5.3.2.5: 3 minutes).
    pub data_block: Duration,
    /// The reply to the final "." (§4.5.3.2.6: 10 minutes).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            connect: Duration::from_secs(30),
            greeting: 5 * MINUTE,
            mail: 5 * MINUTE,
            rcpt: 5 * MINUTE,
            data_init: 2 * MINUTE,
            data_block: 3 * MINUTE,
            data_end: 10 * MINUTE,
        }
    }
}

/// What every connection of this server uses.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The name sent in EHLO/HELO: this server's host name (RFC 5321 §4.1.1.1).
    pub helo_name: String,
    pub timeouts: Timeouts,
    /// The TLS client for STARTTLS; [`insecure_tls_config`] for opportunistic TLS.
    pub tls: Arc<rustls::ClientConfig>,
}

/// One recipient of the transaction, with its DSN parameters as stored at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecipient {
    pub address: String,
    /// RFC 3461 §4.1 NOTIFY value (`NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY`).
    pub notify: Option<String>,
    /// RFC 3461 §4.2 ORCPT: the original address, decoded (`bob@example.org`), with or without
    /// an `rfc822;` prefix. It is xtext-encoded here.
    pub orcpt: Option<String>,
}

/// The envelope of one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The reverse-path; empty for the null sender (`MAIL FROM:<>`).
    pub sender: &'a str,
    pub recipients: &'a [OutRecipient],
    /// RFC 3461 §4.4 ENVID, decoded; xtext-encoded here.
    pub envid: Option<&'a str>,
    /// RFC 3461 §4.3 RET: `FULL` or `HDRS`.
    pub ret: Option<&'a str>,
    /// The message needs SMTPUTF8 (RFC 6531): non-ASCII addresses or header fields.
    pub smtputf8: bool,
    /// The message has 8-bit content (RFC 6152).
    pub eight_bit: bool,
}

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus(pub [u8; 3]);

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [class, subject, detail] = self.0;
        write!(f, "{class}.{subject}.{detail}")
    }
}

/// A server's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The enhanced status code, when the server sent one (RFC 2034).
    pub status: Option<EnhancedStatus>,
    /// The text, its lines joined by spaces and control characters replaced, so that it can
    /// go into a log line or a DSN's Diagnostic-Code as it is.
    pub text: String,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 5xx: the server will not accept this, ever (RFC 5321 §4.2.1).
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    fn from_response(response: smtp_proto::Response<String>) -> Self {
        // smtp-proto leaves [0, 0, 0] when there was none; class 0 is not a valid class.
        let status = (response.esc[0] != 0).then_some(EnhancedStatus(response.esc));
        let text = response
            .message
            .split('\n')
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .replace(|c: char| c.is_control(), " ");
        Self {
            code: response.code,
            status,
            text,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(status) = self.status {
            write!(f, " {status}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

/// What a transaction came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// One final reply per recipient, in order.
    pub replies: Vec<Reply>,
    /// The server offered DSN (RFC 3461), so NOTIFY went with the recipients and notifying
    /// the sender of success is its job from now on; without it, a sender who asked for
    /// success notices gets a "relayed" one from us (RFC 3461 §6.2.3.3).
    pub dsn: bool,
}

/// Why a whole transaction failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server refused it: its reply.
    Reply(Reply),
    /// A reason of ours (the connection broke, the server lacks an extension the message
    /// needs), with the status code a DSN reports.
    Local {
        status: EnhancedStatus,
        text: String,
    },
}

impl Failure {
    /// The enhanced status code for a DSN: the server's, or ours.
    pub fn status(&self) -> Option<EnhancedStatus> {
        match self {
            Failure::Reply(reply) => reply.status,
            Failure::Local { status, .. } => Some(*status),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Reply(reply) => reply.fmt(f),
            Failure::Local { status, text } => write!(f, "{status} {text}"),
        }
    }
}

/// A delivery attempt that produced no per-recipient result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// This host could not be used (no connection, the greeting or EHLO never came, the TLS
    /// handshake failed): try the domain's next host (RFC 5321 §5.1).
    #[error("{0}")]
    Connect(String),
    /// The transaction failed for every recipient: bounce them all when `permanent`, else
    /// retry later.
    #[error("{failure}")]
    Session { failure: Failure, permanent: bool },
}

impl AttemptError {
    fn refused(reply: Reply) -> Self {
        AttemptError::Session {
            permanent: reply.is_permanent(),
            failure: Failure::Reply(reply),
        }
    }

    fn local(status: [u8; 3], text: impl Into<String>) -> Self {
        AttemptError::Session {
            permanent: status[0] == 5,
            failure: Failure::Local {
                status: EnhancedStatus(status),
                text: text.into(),
            },
        }
    }
}

/// Before MAIL nothing of the message has been sent: a temporary refusal (a 421 or 4xx
/// greeting, EHLO or STARTTLS) is this host's problem, and the next host may take the message
/// (RFC 5321 §5.1). After MAIL a temporary failure defers the message instead: the host may
/// already have it (a lost reply to the final dot), and a second host would deliver it twice.
fn next_host(e: AttemptError) -> AttemptError {
    match e {
        AttemptError::Session {
            failure,
            permanent: false,
        } => AttemptError::Connect(failure.to_string()),
        other => other,
    }
}

/// Before MAIL, a broken connection is this host's problem: try the next one.
fn setup(e: WireError) -> AttemptError {
    AttemptError::Connect(e.to_string())
}

/// After MAIL, the transaction is lost: retry later. A break after the final "." may mean the
/// message arrives twice (RFC 1047); retrying is still the only choice that loses nothing.
fn in_transaction(e: WireError) -> AttemptError {
    let status = match e {
        WireError::Malformed(..) => [4, 5, 0],
        _ => [4, 4, 2],
    };
    AttemptError::local(status, e.to_string())
}

/// The extensions the server offered; none after HELO.
#[derive(Debug, Default)]
struct Extensions(EhloResponse<String>);

impl Extensions {
    /// The extensions listed in a 250 reply to EHLO. A list smtp-proto cannot parse counts as
    /// empty: the server did greet us, and plain SMTP works with every server.
    fn parse(reply: &[u8]) -> Self {
        match EhloResponse::parse(&mut reply.iter()) {
            Ok(response) => Extensions(response),
            Err(e) => {
                tracing::info!("cannot parse the EHLO reply ({e:?}); using no extension");
                Extensions::default()
            }
        }
    }

    fn has(&self, extension: u32) -> bool {
        self.0.capabilities & extension != 0
    }

    /// The SIZE limit, when the server declared one (RFC 1870 §4: 0 means none).
    fn size_limit(&self) -> Option<usize> {
        (self.has(EXT_SIZE) && self.0.size != 0).then_some(self.0.size)
    }
}

/// Connects to `addr`, reads the greeting, says EHLO (HELO when EHLO is refused), upgrades with
/// STARTTLS when offered, then runs one transaction: MAIL, every RCPT, DATA. Returns one final
/// reply per recipient, in order: its RCPT refusal, or for an accepted one the reply to DATA
/// or to the message. Then QUIT.
///
/// `tls_server_name` is the MX host's name, sent as SNI; the certificate is not checked
/// unless `settings.tls` does.
pub async fn send(
    addr: SocketAddr,
    tls_server_name: &str,
    settings: &ClientSettings,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Result<Delivery, AttemptError> {
    command::check_envelope(envelope)?;
    let timeouts = &settings.timeouts;
    let tcp = match tokio::time::timeout(timeouts.connect, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(AttemptError::Connect(format!("connect to {addr}: {e}"))),
        Err(_) => {
            return Err(AttemptError::Connect(format!(
                "connect to {addr}: timed out"
            )))
        }
    };
    let mut conn = Conn::new(tcp);
    let outcome = session(
        &mut conn,
        addr,
        tls_server_name,
        settings,
        envelope,
        message,
    )
    .await;
    if in_step(&outcome) {
        conn.quit(timeouts.mail).await;
    }
    outcome
}

/// RFC 5321 §4.1.1.10: QUIT ends every session that is still in step, a refused one too
/// (§3.1: after a 554 greeting the server waits for QUIT). After a 421, a broken connection
/// or a failed handshake there is nobody to say it to.
fn in_step(outcome: &Result<Delivery, AttemptError>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(AttemptError::Session {
            failure: Failure::Reply(reply),
            ..
        }) => reply.code != 421,
        // Ours: a missing extension (5xx) leaves the session in step, a broken one (4xx) not.
        Err(AttemptError::Session {
            failure: Failure::Local { status, .. },
            ..
        }) => status.0[0] == 5,
        Err(AttemptError::Connect(_)) => false,
    }
}

/// The greeting, EHLO, STARTTLS when offered, and the transaction.
async fn session(
    conn: &mut Conn,
    addr: SocketAddr,
    tls_server_name: &str,
    settings: &ClientSettings,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Result<Delivery, AttemptError> {
    // RFC 5321 §3.1: 220 opens the session; 554 (or any other refusal) ends it.
    let greeting = conn
        .read_reply(settings.timeouts.greeting, "greeting")
        .await
        .map_err(setup)?;
    if !greeting.is_positive() {
        return Err(next_host(AttemptError::refused(greeting)));
    }
    let mut extensions = hello(conn, settings).await.map_err(next_host)?;
    if extensions.has(EXT_START_TLS)
        && start_tls(conn, addr, tls_server_name, settings)
            .await
            .map_err(next_host)?
    {
        // RFC 3207 §4.2: forget what the first EHLO said and ask again.
        extensions = hello(conn, settings).await.map_err(next_host)?;
    }
    let replies = transaction(conn, &extensions, settings, envelope, message).await?;
    Ok(Delivery {
        replies,
        dsn: extensions.has(EXT_DSN),
    })
}

/// STARTTLS and the handshake; false when the server refused it and the session goes on in
/// plaintext.
async fn start_tls(
    conn: &mut Conn,
    addr: SocketAddr,
    tls_server_name: &str,
    settings: &ClientSettings,
) -> Result<bool, AttemptError> {
    let limit = settings.timeouts.mail;
    conn.write(b"STARTTLS\r\n", limit, "STARTTLS")
        .await
        .map_err(setup)?;
    let reply = conn.read_reply(limit, "STARTTLS").await.map_err(setup)?;
    if reply.code == 421 {
        return Err(AttemptError::refused(reply));
    }
    if reply.code != 220 {
        // RFC 3207 §4: after a refusal (454) the session goes on in plaintext, and
        // opportunistic security (RFC 7435 §3) prefers that to not delivering.
        tracing::info!(%addr, %reply, "STARTTLS refused; going on without TLS");
        return Ok(false);
    }
    // A failed handshake leaves nothing to fall back on on this connection: the next host
    // (or the next attempt) is the way on. Retrying this host in plaintext is not done.
    let name = tls::server_name(tls_server_name, addr.ip());
    conn.start_tls(settings.tls.clone(), name, limit)
        .await
        .map_err(setup)?;
    Ok(true)
}

/// EHLO, or HELO when the server does not know EHLO.
async fn hello(conn: &mut Conn, settings: &ClientSettings) -> Result<Extensions, AttemptError> {
    let limit = settings.timeouts.mail;
    let ehlo = format!("EHLO {}\r\n", settings.helo_name);
    conn.write(ehlo.as_bytes(), limit, "EHLO")
        .await
        .map_err(setup)?;
    let reply = conn.read_reply(limit, "EHLO").await.map_err(setup)?;
    if reply.code == 250 {
        return Ok(Extensions::parse(conn.last_reply()));
    }
    if !reply.is_permanent() {
        return Err(AttemptError::refused(reply));
    }
    // RFC 5321 §3.2: a server that does not support EHLO answers 5xx; HELO still works.
    let helo = format!("HELO {}\r\n", settings.helo_name);
    conn.write(helo.as_bytes(), limit, "HELO")
        .await
        .map_err(setup)?;
    let reply = conn.read_reply(limit, "HELO").await.map_err(setup)?;
    if reply.is_positive() {
        Ok(Extensions::default())
    } else {
        Err(AttemptError::refused(reply))
    }
}

/// MAIL, RCPT for every recipient, DATA, the message: the per-recipient replies.
async fn transaction(
    conn: &mut Conn,
    extensions: &Extensions,
    settings: &ClientSettings,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Result<Vec<Reply>, AttemptError> {
    if envelope.smtputf8 && !extensions.has(EXT_SMTP_UTF8) {
        // RFC 6531 §3.4: without SMTPUTF8 at the next hop the message cannot go on.
        return Err(AttemptError::local(
            [5, 6, 7],
            "the recipient's server does not support SMTPUTF8",
        ));
    }
    if envelope.eight_bit && !extensions.has(EXT_8BIT_MIME) {
        // RFC 6152 §3: 8-bit text may only go to a server that offers 8BITMIME; converting
        // it (to quoted-printable) would break a DKIM signature, so it is returned instead.
        return Err(AttemptError::local(
            [5, 6, 3],
            "the recipient's server does not accept 8-bit mail (no 8BITMIME)",
        ));
    }
    if let Some(limit) = extensions.size_limit() {
        if message.len() > limit {
            // RFC 1870 §6.1: the server would refuse it (552); do not send it at all.
            return Err(AttemptError::local(
                [5, 3, 4],
                format!(
                    "the message ({} octets) is larger than the server's limit ({limit} octets)",
                    message.len()
                ),
            ));
        }
    }
    let mail = command::mail_from(
        envelope,
        command::MailOptions {
            size: extensions.has(EXT_SIZE).then_some(message.len()),
            eight_bit: envelope.eight_bit && extensions.has(EXT_8BIT_MIME),
            dsn: extensions.has(EXT_DSN),
        },
    );
    let rcpts: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| command::rcpt_to(r, extensions.has(EXT_DSN)))
        .collect();
    let timeouts = &settings.timeouts;
    let exchange = if extensions.has(EXT_PIPELINING) {
        pipelined(conn, timeouts, &mail, &rcpts).await?
    } else {
        lockstep(conn, timeouts, &mail, &rcpts).await?
    };
    let accepted = exchange.rcpt.iter().any(Reply::is_positive);
    let outcome = match exchange.data {
        Some(data) if data.code == 354 && accepted => {
            data::send_message(conn, message, timeouts.data_block)
                .await
                .map_err(in_transaction)?;
            read(conn, timeouts.data_end, "end of data").await?
        }
        Some(data) if data.code == 354 => {
            // RFC 2920 §3.1: DATA was pipelined and accepted although no RCPT was; end the
            // empty message at once, and forget its reply.
            conn.write(b".\r\n", timeouts.data_block, "end of data")
                .await
                .map_err(in_transaction)?;
            read(conn, timeouts.data_end, "end of data").await?;
            return Ok(exchange.rcpt);
        }
        Some(data) => data,
        None => return Ok(exchange.rcpt),
    };
    Ok(exchange
        .rcpt
        .into_iter()
        .map(|r| if r.is_positive() { outcome.clone() } else { r })
        .collect())
}

/// The replies to RCPT and DATA (none when DATA was not sent).
struct Exchange {
    rcpt: Vec<Reply>,
    data: Option<Reply>,
}

/// RFC 2920 §3.1: MAIL, the RCPTs and DATA (last in the group) in one write, then the replies
/// in order.
async fn pipelined(
    conn: &mut Conn,
    timeouts: &Timeouts,
    mail: &str,
    rcpts: &[String],
) -> Result<Exchange, AttemptError> {
    let mut batch = String::from(mail);
    rcpts.iter().for_each(|r| batch.push_str(r));
    batch.push_str("DATA\r\n");
    conn.write(batch.as_bytes(), timeouts.mail, "MAIL")
        .await
        .map_err(in_transaction)?;
    let mail = read(conn, timeouts.mail, "MAIL").await?;
    let mut rcpt = Vec::with_capacity(rcpts.len());
    for _ in rcpts {
        rcpt.push(read(conn, timeouts.rcpt, "RCPT").await?);
    }
    let data = read(conn, timeouts.data_init, "DATA").await?;
    if !mail.is_positive() {
        if data.code == 354 {
            // The server is waiting for text although it refused MAIL: end it, then report.
            conn.write(b".\r\n", timeouts.data_block, "end of data")
                .await
                .map_err(in_transaction)?;
            read(conn, timeouts.data_end, "end of data").await?;
        }
        return Err(AttemptError::refused(mail));
    }
    Ok(Exchange {
        rcpt,
        data: Some(data),
    })
}

/// One command at a time, each waiting for its reply (RFC 5321 §3.3).
async fn lockstep(
    conn: &mut Conn,
    timeouts: &Timeouts,
    mail: &str,
    rcpts: &[String],
) -> Result<Exchange, AttemptError> {
    conn.write(mail.as_bytes(), timeouts.mail, "MAIL")
        .await
        .map_err(in_transaction)?;
    let reply = read(conn, timeouts.mail, "MAIL").await?;
    if !reply.is_positive() {
        return Err(AttemptError::refused(reply));
    }
    let mut rcpt = Vec::with_capacity(rcpts.len());
    for command in rcpts {
        conn.write(command.as_bytes(), timeouts.rcpt, "RCPT")
            .await
            .map_err(in_transaction)?;
        rcpt.push(read(conn, timeouts.rcpt, "RCPT").await?);
    }
    if !rcpt.iter().any(Reply::is_positive) {
        // RFC 5321 §3.3: DATA needs at least one accepted recipient.
        return Ok(Exchange { rcpt, data: None });
    }
    conn.write(b"DATA\r\n", timeouts.data_init, "DATA")
        .await
        .map_err(in_transaction)?;
    let data = read(conn, timeouts.data_init, "DATA").await?;
    Ok(Exchange {
        rcpt,
        data: Some(data),
    })
}

/// A reply inside the transaction. 421 means the server is closing the connection (RFC 5321
/// §3.8): the whole transaction is over, to retry later.
async fn read(
    conn: &mut Conn,
    limit: Duration,
    stage: &'static str,
) -> Result<Reply, AttemptError> {
    let reply = conn
        .read_reply(limit, stage)
        .await
        .map_err(in_transaction)?;
    if reply.code == 421 {
        return Err(AttemptError::refused(reply));
    }
    Ok(reply)
}
