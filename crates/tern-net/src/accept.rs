//! Binding listeners and the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::{ConnInfo, ConnectionLimiter, Refusal, SessionId, Shutdown, Stream, TlsAcceptor};

/// How long a TLS handshake may take, implicit or after STARTTLS.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A protocol: serves one accepted connection until it ends. When `shutdown` begins it
/// finishes the work in flight (bounded by the grace period), then says goodbye and closes.
#[async_trait]
pub trait Service: Send + Sync {
    /// The protocol name used in logs (`smtp`, `imaps`, ...).
    fn name(&self) -> &'static str;
    async fn serve(&self, stream: Box<dyn Stream>, info: ConnInfo, shutdown: Shutdown);
    /// What a connection turned away by the connection limits is told (plaintext listeners
    /// only: on an implicit-TLS listener it is closed without a word, before any handshake).
    fn refusal(&self, _why: Refusal) -> String {
        String::new()
    }
    /// Whether reads are acknowledged at once ([`crate::QuickAck`]): for protocols where a
    /// client's split writes would otherwise wait for a delayed acknowledgement (IMAP
    /// literals).
    fn quick_ack(&self) -> bool {
        false
    }
}

#[derive(Debug)]
pub struct BoundListener {
    pub listener: TcpListener,
    pub addr: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {message}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub message: String,
}

/// Binds one address, with a hint for the usual causes of failure.
pub fn bind(addr: SocketAddr) -> Result<BoundListener, BindError> {
    let fail = |e: std::io::Error| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            }
            std::io::ErrorKind::AddrInUse => " (another program, or another listen entry, uses it)",
            std::io::ErrorKind::AddrNotAvailable => " (this machine has no such address)",
            _ => "",
        };
        BindError {
            addr,
            message: format!("{e}{hint}"),
        }
    };
    let std_listener = std::net::TcpListener::bind(addr).map_err(fail)?;
    std_listener.set_nonblocking(true).map_err(fail)?;
    let listener = TcpListener::from_std(std_listener).map_err(fail)?;
    let addr = listener.local_addr().map_err(fail)?;
    Ok(BoundListener { listener, addr })
}

/// Accepts connections until `shutdown` fires, each served in its own task on `tracker`.
/// `tls` is set for implicit-TLS protocols: the handshake comes before the service.
/// `limiter`, shared by the listeners of one protocol, is consulted before anything else is
/// done for a connection (a task, a TLS handshake), so a flood costs next to nothing.
pub async fn serve(
    bound: BoundListener,
    service: Arc<dyn Service>,
    tls: Option<TlsAcceptor>,
    limiter: Option<Arc<ConnectionLimiter>>,
    shutdown: Shutdown,
    tracker: TaskTracker,
) {
    let local = bound.addr;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.begun() => break,
            accepted = bound.listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%local, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = match limiter.as_ref().map(|l| l.try_acquire(peer.ip())) {
            Some(Err(why)) => {
                tracing::info!(%peer, proto = %service.name(), "connection refused: {why}");
                if tls.is_none() {
                    let text = service.refusal(why);
                    tracker.spawn(async move {
                        let mut tcp = tcp;
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            tcp.write_all(text.as_bytes()),
                        )
                        .await;
                        let _ = tcp.shutdown().await;
                    });
                }
                continue;
            }
            Some(Ok(permit)) => Some(permit),
            None => None,
        };
        let _ = tcp.set_nodelay(true);
        let id = SessionId::next();
        let span = tracing::info_span!("conn", session = %id, proto = %service.name(), %peer);
        let service = service.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(
            async move {
                let started = Instant::now();
                tracing::info!(%local, "connection opened");
                let mut info = ConnInfo {
                    id,
                    peer,
                    local,
                    tls: None,
                };
                let plain: Box<dyn Stream> = match service.quick_ack() {
                    true => Box::new(crate::QuickAck(tcp)),
                    false => Box::new(tcp),
                };
                // Implicit TLS: the same handshake as after STARTTLS, before the service.
                let stream = match tls {
                    None => plain,
                    Some(acceptor) => match acceptor.upgrade(plain, "implicit TLS").await {
                        Some((stream, described)) => {
                            info.tls = Some(described);
                            stream
                        }
                        None => {
                            tracing::info!(
                                ms = started.elapsed().as_millis() as u64,
                                "connection closed"
                            );
                            return;
                        }
                    },
                };
                service.serve(stream, info, shutdown).await;
                drop(permit);
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    "connection closed"
                );
            }
            .instrument(span),
        );
    }
}

/// "TLSv1_3 TLS13_AES_256_GCM_SHA384": the form the logs and Received headers show.
pub fn describe_tls(conn: &rustls::ServerConnection) -> String {
    let version = conn
        .protocol_version()
        .and_then(|v| v.as_str())
        .unwrap_or("TLS");
    let suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("unknown-cipher");
    format!("{version} {suite}")
}
