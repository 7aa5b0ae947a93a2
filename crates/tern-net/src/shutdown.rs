//! The server's stop, in two stages: first stop starting new work, then, a grace period
//! later, give up on what is still running.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Shared by every listener and session of one server.
///
/// When [`Shutdown::begin`] is called, listeners stop accepting and sessions stop starting
/// new commands, but the work in flight goes on: a message being committed still gets its
/// reply, since dropping the reply to committed work makes the sender retry and deliver it
/// twice. Only once `grace` has passed are the writes and reads still waiting abandoned, so
/// the server's stop takes a bounded time whatever its clients do.
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
    began: Arc<OnceLock<Instant>>,
}

impl Shutdown {
    pub fn new(grace: Duration) -> Self {
        Self {
            token: CancellationToken::new(),
            grace,
            began: Arc::new(OnceLock::new()),
        }
    }

    /// Starts the stop. Calling it again changes nothing (the grace period runs from the
    /// first call).
    pub fn begin(&self) {
        self.began.get_or_init(Instant::now);
        self.token.cancel();
    }

    pub fn has_begun(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the stop begins: the moment to stop starting new work.
    pub async fn begun(&self) {
        self.token.cancelled().await;
    }

    /// Resolves when the grace period after the start of the stop has passed: the moment to
    /// abandon whatever still waits on a peer.
    pub async fn grace_over(&self) {
        self.token.cancelled().await;
        let began = *self.began.get_or_init(Instant::now);
        tokio::time::sleep_until(began + self.grace).await;
    }

    /// The grace period this server gives work in flight.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// A token cancelled when the stop begins, for tasks that only need to end then (the
    /// queue, the collector).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_grace_period_runs_from_the_first_begin() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        assert!(!shutdown.has_begun());
        let start = Instant::now();
        shutdown.begin();
        tokio::time::sleep(Duration::from_secs(4)).await;
        shutdown.begin();
        shutdown.begun().await;
        shutdown.grace_over().await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }
}
