//! Session identifiers and what a service knows about its connection.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one connection in the logs and in the trace headers it produces. Unique within
/// a process run; the high bits come from the start time so that runs rarely collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u64);

static NEXT: AtomicU64 = AtomicU64::new(0);

impl SessionId {
    pub fn next() -> Self {
        let base = *START_BITS;
        Self(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

static START_BITS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos & 0xffff_ffff) << 24
});

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014x}", self.0 & 0x00ff_ffff_ffff_ffff)
    }
}

/// What a service knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: SessionId,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The TLS version and cipher suite when the connection started with TLS.
    pub tls: Option<String>,
}

impl ConnInfo {
    /// Loopback peers may log in without TLS (see the security section of DESIGN).
    pub fn is_loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }
}
