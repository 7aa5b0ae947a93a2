//! The scheduler task.

use std::sync::Arc;
use std::time::Duration;

use tern_store::{QueueEntry, QueuedRecipient, Route, StoreError, Stores};
use tern_types::{unix_now as now, QueueId, RecipientId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bounce::{wants_success_report, DsnAction, Failed, Original, Reporter, Succeeded};
use crate::remote::{domain_of, Outbound};
use crate::RetryPolicy;

/// How long a leased recipient is reserved. A remote task renews the lease when it gets its
/// delivery slot (so time spent waiting for one does not count) and then takes at most
/// `remote::ATTEMPT_BUDGET`; a lease that runs out anyway goes to another worker, and the
/// renewal's token check keeps the first from sending too. A restart forgets leases at once.
pub(crate) const LEASE_SECS: i64 = 3600;
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

/// What the scheduler works with.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub stores: Stores,
    pub retry: RetryPolicy,
    pub reporter: Reporter,
    /// `None`: remote recipients fail (a store used without a network, as in some tests).
    pub outbound: Option<Arc<Outbound>>,
}

/// Starts the scheduler on `tracker`; it stops when `shutdown` fires. Remote deliveries run
/// as tasks of their own on `tracker`.
pub fn spawn(
    scheduler: Scheduler,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> QueueHandle {
    let wake = Arc::new(Notify::new());
    let handle = QueueHandle { wake: wake.clone() };
    tracker.spawn(run(scheduler, wake, shutdown, tracker.clone()));
    handle
}

async fn run(
    scheduler: Scheduler,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        scheduler.drain(&tracker, &shutdown, &wake).await;
        // Sleep until the next deferred recipient is due (retry schedules may be seconds
        // long), or POLL at most.
        let sleep = match scheduler.stores.queue.next_due_after(now()).await {
            Ok(Some(at)) => Duration::from_secs(at.saturating_sub(now()).max(1) as u64).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

impl Scheduler {
    /// Delivers everything due, batch after batch: local recipients here, remote ones in
    /// tasks (one per message and domain) that wait for their delivery slots.
    async fn drain(&self, tracker: &TaskTracker, shutdown: &CancellationToken, wake: &Arc<Notify>) {
        let stores = &self.stores;
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
                self.deliver_local(local).await;
            }
            let mut groups: Vec<((QueueId, String), Vec<QueuedRecipient>)> = Vec::new();
            for rcpt in remote {
                let key = (rcpt.message, domain_of(&rcpt.address));
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, group)) => group.push(rcpt),
                    None => groups.push((key, vec![rcpt])),
                }
            }
            for ((_, domain), group) in groups {
                match &self.outbound {
                    Some(outbound) => {
                        let (outbound, stores) = (outbound.clone(), stores.clone());
                        let (shutdown, wake) = (shutdown.clone(), wake.clone());
                        tracker.spawn(async move {
                            // A shutdown abandons the attempt; the lease is forgotten at the
                            // next start and the recipients are tried again.
                            tokio::select! {
                                _ = shutdown.cancelled() => {}
                                _ = outbound.deliver(&stores, domain, group) => {
                                    // A deferral or a bounce may be due before the
                                    // scheduler's next wake-up: let it look again.
                                    wake.notify_one();
                                }
                            }
                        });
                    }
                    None => {
                        let failed: Vec<Failed> = group
                            .into_iter()
                            .map(|rcpt| Failed {
                                recipient: rcpt,
                                status: "5.4.4".into(),
                                diagnostic: "remote delivery is not configured".into(),
                                remote_mta: None,
                            })
                            .collect();
                        self.report(&failed).await;
                    }
                }
            }
        }
    }

    async fn deliver_local(&self, local: Vec<QueuedRecipient>) {
        // One store operation for the batch: one commit, and UIDs in arrival order.
        let ids: Vec<RecipientId> = local.iter().map(|r| r.id).collect();
        // Read before delivering: the last delivery takes the message out of the queue.
        let originals = self.originals_for_success_reports(&local).await;
        let results = match self.stores.queue.deliver_local_batch(&ids, now()).await {
            Ok(results) => results,
            Err(e) => local.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut failed = Vec::new();
        let mut delivered = Vec::new();
        for (rcpt, result) in local.into_iter().zip(results) {
            match result {
                Ok(_) if wants_success_report(rcpt.notify.as_deref()) => delivered.push(rcpt),
                Ok(_) => {}
                Err(e) => {
                    if let Some(f) = self.record_failure(rcpt, e).await {
                        failed.push(f);
                    }
                }
            }
        }
        self.report(&failed).await;
        self.report_delivered(&delivered, &originals).await;
    }

    /// The queue entry and text of each message with a recipient whose sender asked for a
    /// success report (rare: usually none, and nothing is read).
    async fn originals_for_success_reports(
        &self,
        local: &[QueuedRecipient],
    ) -> Vec<(QueueEntry, Vec<u8>)> {
        let mut messages: Vec<QueueId> = local
            .iter()
            .filter(|r| wants_success_report(r.notify.as_deref()))
            .map(|r| r.message)
            .collect();
        messages.sort_unstable();
        messages.dedup();
        let mut out = Vec::new();
        for message in messages {
            match tokio::try_join!(
                self.stores.queue.entry(message),
                self.stores.queue.read(message)
            ) {
                Ok(found) => out.push(found),
                Err(e) => tracing::warn!(queue_id = %message, "cannot read a queued message: {e}"),
            }
        }
        out
    }

    /// RFC 3461 §6.2.3.2: a "delivered" report for recipients whose sender asked for one.
    async fn report_delivered(
        &self,
        delivered: &[QueuedRecipient],
        originals: &[(QueueEntry, Vec<u8>)],
    ) {
        for (entry, original) in originals {
            let of_message: Vec<Succeeded> = delivered
                .iter()
                .filter(|r| r.message == entry.id)
                .map(|r| Succeeded {
                    address: r.address.clone(),
                    notify: r.notify.clone(),
                    orcpt: r.orcpt.clone(),
                    action: DsnAction::Delivered,
                    remote_mta: None,
                })
                .collect();
            let original = Original::of(entry, original);
            if let Err(e) = self
                .reporter
                .report_success(&self.stores, &original, &of_message)
                .await
            {
                tracing::warn!(queue_id = %entry.id, "cannot send the success report: {e}");
            }
        }
    }

    /// Reports failures of possibly several messages, one DSN per message.
    async fn report(&self, failed: &[Failed]) {
        let mut messages: Vec<QueueId> = failed.iter().map(|f| f.recipient.message).collect();
        messages.sort_unstable();
        messages.dedup();
        for message in messages {
            let of_message: Vec<Failed> = failed
                .iter()
                .filter(|f| f.recipient.message == message)
                .cloned()
                .collect();
            let found = tokio::try_join!(
                self.stores.queue.entry(message),
                self.stores.queue.read(message)
            );
            let result = match found {
                Ok((entry, original)) => {
                    self.reporter
                        .report(&self.stores, &entry, &original, &of_message)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(queue_id = %message, "cannot record the failures: {e}");
            }
        }
    }

    /// Records why a local delivery did not happen: a retry later, or a permanent failure
    /// (returned, for the report). Nothing here deletes a recipient.
    async fn record_failure(&self, rcpt: QueuedRecipient, error: StoreError) -> Option<Failed> {
        let stores = &self.stores;
        let failed = |status: &str, diagnostic: String| {
            Some(Failed {
                recipient: rcpt.clone(),
                status: status.into(),
                diagnostic,
                remote_mta: None,
            })
        };
        let result = match error {
            // Not pending any more (delivered or failed meanwhile): nothing to record.
            StoreError::Invalid(e) => {
                tracing::debug!(queue_id = %rcpt.message, rcpt = %rcpt.address, "skipped: {e}");
                return None;
            }
            // The account or its INBOX is gone: a permanent failure for this recipient.
            StoreError::NotFound(e) => {
                tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "delivery failed: {e} does not exist");
                return failed("5.1.1", format!("{e} does not exist"));
            }
            // A full mailbox may empty, a store failure may pass, a bug may be fixed: retry
            // with backoff, and give up only after the retry period (RFC 5321 §4.5.4.1).
            e @ (StoreError::Temporary(_)
            | StoreError::OverQuota(_)
            | StoreError::Internal(_)
            | StoreError::AlreadyExists(_)
            | StoreError::Limit(_)) => {
                if matches!(e, StoreError::Internal(_)) {
                    tracing::error!(queue_id = %rcpt.message, rcpt = %rcpt.address, "local delivery failed: {e}");
                }
                if self.retry.expired(rcpt.received_at, now()) {
                    tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "giving up: {e}");
                    let status = match e {
                        StoreError::OverQuota(_) => "5.2.2",
                        _ => "4.4.7",
                    };
                    return failed(status, format!("gave up after the maximum queue time: {e}"));
                }
                let delay = self.retry.delay(rcpt.attempts, &mut rand::thread_rng());
                tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, retry_in = delay.as_secs(), "delivery deferred: {e}");
                stores
                    .queue
                    .defer(rcpt.id, now() + delay.as_secs() as i64, &e.to_string())
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(queue_id = %rcpt.message, rcpt = %rcpt.address, "cannot record the delivery outcome: {e}");
        }
        None
    }
}
