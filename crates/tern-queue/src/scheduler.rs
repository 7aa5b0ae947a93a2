//! The scheduler task.

use std::sync::Arc;
use std::time::Duration;

use tern_store::{QueuedRecipient, Route, StoreError, Stores};
use tern_types::RecipientId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::RetryPolicy;

/// How long a leased recipient is reserved for one delivery attempt.
const LEASE_SECS: i64 = 300;
/// Recipients taken per lease: enough that concurrent deliveries share group commits.
const BATCH: usize = 256;
/// How often the queue is looked at without a kick (deferred recipients coming due).
const POLL: Duration = Duration::from_secs(30);

/// Wakes the scheduler: call after every enqueue.
#[derive(Debug, Clone)]
pub struct QueueHandle {
    wake: Arc<Notify>,
}

impl QueueHandle {
    pub fn kick(&self) {
        // notify_one keeps a permit when the scheduler is busy: no kick is lost.
        self.wake.notify_one();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts the scheduler on `tracker`; it stops when `shutdown` fires.
pub fn spawn(
    stores: Stores,
    policy: RetryPolicy,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> QueueHandle {
    let wake = Arc::new(Notify::new());
    let handle = QueueHandle { wake: wake.clone() };
    tracker.spawn(run(stores, policy, wake, shutdown));
    handle
}

async fn run(stores: Stores, policy: RetryPolicy, wake: Arc<Notify>, shutdown: CancellationToken) {
    loop {
        drain(&stores, policy).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Delivers everything due, batch after batch.
async fn drain(stores: &Stores, policy: RetryPolicy) {
    loop {
        let due = match stores.queue.lease_due(now(), LEASE_SECS, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("cannot read the queue: {e}");
                return;
            }
        };
        if due.is_empty() {
            return;
        }
        let (local, remote): (Vec<QueuedRecipient>, Vec<QueuedRecipient>) = due
            .into_iter()
            .partition(|r| matches!(r.route, Route::Local(_)));
        if !local.is_empty() {
            // One store operation for the batch: one commit, and UIDs in arrival order.
            let ids: Vec<RecipientId> = local.iter().map(|r| r.id).collect();
            match stores.queue.deliver_local_batch(&ids, now()).await {
                Ok(results) => {
                    for (rcpt, result) in local.into_iter().zip(results) {
                        if let Err(e) = result {
                            record_failure(stores, policy, &rcpt, e).await;
                        }
                    }
                }
                Err(e) => {
                    for rcpt in &local {
                        record_failure(stores, policy, rcpt, e.clone()).await;
                    }
                }
            }
        }
        for rcpt in remote {
            // Relaying to other servers arrives with the submission service; the SMTP
            // listener never queues a remote recipient. Kept as failed, with the reason.
            tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "remote delivery is not available in this version");
            if let Err(e) = stores
                .queue
                .fail(
                    rcpt.id,
                    "5.4.4 remote delivery is not available in this version",
                )
                .await
            {
                tracing::warn!(queue_id = %rcpt.message, "cannot record the delivery outcome: {e}");
            }
        }
    }
}

/// Records why a local delivery did not happen. Nothing here deletes a recipient: a failure
/// stays in the queue with its error until it is reported or an operator removes it.
async fn record_failure(
    stores: &Stores,
    policy: RetryPolicy,
    rcpt: &QueuedRecipient,
    error: StoreError,
) {
    let result = match error {
        // Not pending any more (delivered or failed meanwhile): nothing to record.
        StoreError::Invalid(e) => {
            tracing::debug!(queue_id = %rcpt.message, rcpt = %rcpt.address, "skipped: {e}");
            return;
        }
        // The account or its INBOX is gone: a permanent failure for this recipient.
        StoreError::NotFound(e) => {
            tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "delivery failed: {e} does not exist");
            stores
                .queue
                .fail(rcpt.id, &format!("5.1.1 {e} does not exist"))
                .await
        }
        // A full mailbox may empty, a store failure may pass, a bug may be fixed: retry with
        // backoff, and give up (kept as failed) only after the retry period (RFC 5321
        // §4.5.4.1).
        e @ (StoreError::Temporary(_)
        | StoreError::OverQuota(_)
        | StoreError::Internal(_)
        | StoreError::AlreadyExists(_)) => {
            if matches!(e, StoreError::Internal(_)) {
                tracing::error!(queue_id = %rcpt.message, rcpt = %rcpt.address, "local delivery failed: {e}");
            }
            if policy.expired(rcpt.received_at, now()) {
                tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "giving up: {e}");
                stores
                    .queue
                    .fail(rcpt.id, &format!("4.4.7 gave up after retries: {e}"))
                    .await
            } else {
                let delay = policy.delay(rcpt.attempts, &mut rand::thread_rng());
                tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, retry_in = delay.as_secs(), "delivery deferred: {e}");
                stores
                    .queue
                    .defer(rcpt.id, now() + delay.as_secs() as i64, &e.to_string())
                    .await
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "cannot record the delivery outcome: {e}");
    }
}
