//! One SMTP connection: replies read into a buffer and parsed incrementally, commands written
//! whole, each with a deadline; the STARTTLS upgrade.

use std::{fmt, io, sync::Arc, time::Duration};

use rustls::pki_types::ServerName;
use smtp_proto::{
    response::parser::{ResponseReceiver, MAX_RESPONSE_LENGTH},
    Error as ParseError,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    time::{timeout, timeout_at, Instant},
};

use super::Reply;

/// Plain TCP before STARTTLS and TLS after share this type, so the session is written once.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// What went wrong on the wire, and at which stage.
#[derive(Debug)]
pub(super) enum WireError {
    Timeout(&'static str),
    Io(&'static str, io::Error),
    /// The server closed the connection.
    Closed(&'static str),
    /// Not an SMTP reply, or one longer than `MAX_RESPONSE_LENGTH`.
    Malformed(&'static str, String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Timeout(stage) => write!(f, "timed out at {stage}"),
            WireError::Io(stage, e) => write!(f, "connection failed at {stage}: {e}"),
            WireError::Closed(stage) => write!(f, "the server closed the connection at {stage}"),
            WireError::Malformed(stage, why) => write!(f, "malformed reply to {stage}: {why}"),
        }
    }
}

pub(super) struct Conn {
    stream: Box<dyn Transport>,
    /// Bytes received: the last reply, then what came after it (pipelined replies arrive
    /// together, RFC 2920 §3.1).
    buf: Vec<u8>,
    /// Where the last reply ends in `buf`.
    pos: usize,
}

impl Conn {
    pub(super) fn new(tcp: TcpStream) -> Self {
        Self {
            stream: Box::new(tcp),
            buf: Vec::with_capacity(1024),
            pos: 0,
        }
    }

    /// Reads one reply, single or multi-line, which must arrive whole within `limit`.
    pub(super) async fn read_reply(
        &mut self,
        limit: Duration,
        stage: &'static str,
    ) -> Result<Reply, WireError> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let deadline = Instant::now() + limit;
        let mut receiver = ResponseReceiver::default();
        // The receiver keeps its state between calls: feed it each byte once.
        let mut fed = 0;
        loop {
            if fed < self.buf.len() {
                let mut bytes = self.buf[fed..].iter();
                match receiver.parse(&mut bytes) {
                    Ok(response) => {
                        self.pos = self.buf.len() - bytes.len();
                        return Ok(Reply::from_response(response));
                    }
                    Err(ParseError::NeedsMoreData { .. }) => fed = self.buf.len(),
                    Err(e) => return Err(WireError::Malformed(stage, format!("{e:?}"))),
                }
            }
            // Everything in the buffer belongs to this unfinished reply.
            if self.buf.len() >= MAX_RESPONSE_LENGTH {
                return Err(WireError::Malformed(
                    stage,
                    format!("longer than {MAX_RESPONSE_LENGTH} octets"),
                ));
            }
            self.buf.reserve(1024);
            match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) => return Err(WireError::Closed(stage)),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(WireError::Io(stage, e)),
                Err(_) => return Err(WireError::Timeout(stage)),
            }
        }
    }

    /// The raw bytes of the last reply read (for the EHLO parser).
    pub(super) fn last_reply(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// Writes and flushes `bytes` within `limit`.
    pub(super) async fn write(
        &mut self,
        bytes: &[u8],
        limit: Duration,
        stage: &'static str,
    ) -> Result<(), WireError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WireError::Io(stage, e)),
            Err(_) => Err(WireError::Timeout(stage)),
        }
    }

    /// The TLS handshake after the server's 220 to STARTTLS.
    pub(super) async fn start_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        limit: Duration,
    ) -> Result<(), WireError> {
        let extra = self.buf.len() - self.pos;
        if extra > 0 {
            // RFC 3207 §4.2 and CVE-2011-0411: anything after the 220 was sent before TLS,
            // where anyone on the path could have put it; it must not be taken for a reply
            // inside TLS.
            tracing::info!(
                octets = extra,
                "discarding plaintext received after the STARTTLS reply"
            );
        }
        self.buf.clear();
        self.pos = 0;
        // The handshake takes the stream; a dead one stands in meanwhile, and stays when the
        // handshake fails: nothing is sent on this connection after that.
        let closed = Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let plain = std::mem::replace(&mut self.stream, closed);
        let connector = tokio_rustls::TlsConnector::from(config);
        match timeout(limit, connector.connect(name, plain)).await {
            Ok(Ok(tls)) => {
                self.stream = Box::new(tls);
                Ok(())
            }
            Ok(Err(e)) => Err(WireError::Io("TLS handshake", e)),
            Err(_) => Err(WireError::Timeout("TLS handshake")),
        }
    }

    /// QUIT and its reply (RFC 5321 §4.1.1.10). The transaction is over either way, so a
    /// failure here changes nothing.
    pub(super) async fn quit(&mut self, limit: Duration) {
        if self.write(b"QUIT\r\n", limit, "QUIT").await.is_ok() {
            let _ = self.read_reply(limit, "QUIT").await;
        }
    }
}
