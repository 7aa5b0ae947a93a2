//! Tern's network edge: binding listeners, TLS, the accept loop and connection bookkeeping.
//!
//! Protocol crates implement [`Service`]; this crate accepts connections, performs the
//! implicit-TLS handshake where the protocol wants one (RFC 8314), gives each connection a
//! session id and a tracing span, logs its opening and closing, and stops accepting on
//! shutdown. [`Shutdown`] is the server's two-stage stop and [`io`] the write rules every
//! protocol shares (an idle timeout per unit of progress, a grace period at shutdown).
//!
//! # Standards
//! - RFC 8314 (implicit TLS), RFC 8446 / 5246 via rustls
//! - RFC 7301 (ALPN): strict, against cross-protocol attacks (ALPACA), see [`TlsAcceptor`]
//!
//! # Security
//! Handles raw connections from anyone. TLS handshakes have a time limit so that a silent
//! peer cannot hold a task forever.

mod accept;
mod alpn;
pub mod io;
mod limiter;
mod quickack;
mod session;
mod shutdown;
mod tls;

pub use accept::{bind, describe_tls, serve, BindError, BoundListener, Service};
pub use alpn::{AppProtocol, TlsAcceptor};
pub use limiter::{ConnectionLimiter, Permit, Refusal};
pub use quickack::QuickAck;
pub use session::{ConnInfo, SessionId};
pub use shutdown::Shutdown;
pub use tls::{load_tls, TlsError, TlsSource};

/// Anything a session can speak over: a TCP stream, a TLS stream, or an in-memory duplex in
/// tests.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
