//! Accepting a message, and the queue for what cannot be delivered at once, with a delivery
//! state per recipient.

use async_trait::async_trait;
use tern_types::{AccountId, BlobHash, QueueId, RecipientId};

use crate::{Appended, StagedBlob, StoreResult};

/// Where a recipient's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Into this account's INBOX.
    Local(AccountId),
    /// To the recipient domain's MX.
    Remote,
}

/// Per-recipient state, Postfix's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    Queued,
    Held,
    Delivered,
    Failed,
    Expired,
    /// Failed, and the failure reported: a DSN went to the sender in the same commit, or
    /// none was owed (null sender, NOTIFY without FAILURE). The message may leave the queue.
    Bounced,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Queued => "queued",
            RecipientState::Held => "held",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
            RecipientState::Expired => "expired",
            RecipientState::Bounced => "bounced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RecipientState::Queued,
            RecipientState::Held,
            RecipientState::Delivered,
            RecipientState::Failed,
            RecipientState::Expired,
            RecipientState::Bounced,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Still waiting for a delivery attempt.
    pub fn is_pending(self) -> bool {
        matches!(self, RecipientState::Queued | RecipientState::Held)
    }
}

/// Envelope parameters kept for the sending path (RFC 3461 §4, RFC 6152, RFC 6531).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeParams {
    pub envid: Option<String>,
    pub ret: Option<String>,
    pub body: Option<String>,
    pub smtputf8: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    pub address: String,
    pub route: Route,
    /// RFC 3461 §4.1 NOTIFY, as given.
    pub notify: Option<String>,
    /// RFC 3461 §4.2 ORCPT, as given.
    pub orcpt: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewQueueMessage {
    pub blob: StagedBlob,
    /// Trace headers (Return-Path, Received) to put before the blob on delivery.
    pub trace_prefix: Vec<u8>,
    /// The envelope sender; empty for the null sender `<>`.
    pub sender: String,
    pub params: EnvelopeParams,
    pub recipients: Vec<NewRecipient>,
    /// Seconds since the Unix epoch.
    pub received_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    pub id: RecipientId,
    pub message: QueueId,
    pub address: String,
    pub route: Route,
    pub state: RecipientState,
    pub attempts: u32,
    pub next_attempt: i64,
    pub last_error: Option<String>,
    /// When its message was received (seconds since the Unix epoch): retries end 5 days on.
    pub received_at: i64,
    /// RFC 3461 §4.1 NOTIFY, as given.
    pub notify: Option<String>,
    /// RFC 3461 §4.2 ORCPT, as given.
    pub orcpt: Option<String>,
    /// The sender has been told this recipient is late.
    pub warned: bool,
    /// Until when the recipient is leased (0: not leased): the token
    /// [`QueueStore::renew_leases`] checks, so that a worker whose lease ran out and was given
    /// to another never delivers too.
    pub lease_until: i64,
}

/// What [`QueueStore::accept`] did with a message, all in one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Names the message in logs and replies; never reused in a store. Its queue entry, if it
    /// has one, has this id.
    pub id: QueueId,
    /// Local recipients delivered in the accepting commit, in recipient order.
    pub delivered: Vec<Appended>,
    /// For each of `delivered`, its index in the message's recipients.
    pub delivered_recipients: Vec<usize>,
    /// Recipients left in the queue: remote ones, and local ones that could not be delivered
    /// at once (a full mailbox, a failure). The scheduler takes them from there.
    pub queued: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: QueueId,
    pub sender: String,
    pub params: EnvelopeParams,
    pub size: u64,
    pub received_at: i64,
    pub blob: BlobHash,
    pub recipients: Vec<QueuedRecipient>,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    /// The durable hand-off, one transaction: the message is delivered to every local
    /// recipient that can take it now, and everything else (remote recipients, a full mailbox,
    /// a failure) is queued. Once this returns the message is ours (SMTP may answer 250).
    ///
    /// When every recipient is local and every one is over quota, nothing is stored and the
    /// answer is [`crate::StoreError::OverQuota`]: the sender is told at once (RFC 5321
    /// §4.2.5 452 / 552) instead of the message waiting for space.
    async fn accept(&self, message: NewQueueMessage) -> StoreResult<Accepted>;
    /// Recipients due at `now`, leased for `lease_secs` so that no other worker takes them.
    async fn lease_due(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> StoreResult<Vec<QueuedRecipient>>;
    /// The earliest time after `now` at which a queued recipient comes due (a deferred one),
    /// so that the scheduler can sleep until then.
    async fn next_due_after(&self, now: i64) -> StoreResult<Option<i64>>;
    /// Extends the leases of the recipients still leased with the token given (their
    /// `lease_until` from [`QueueStore::lease_due`]) to `until`, and returns those: the others
    /// have been leased again meanwhile, or are done, and are not this worker's any more.
    async fn renew_leases(
        &self,
        leases: &[(RecipientId, i64)],
        until: i64,
    ) -> StoreResult<Vec<RecipientId>>;
    /// Forgets every lease. Called by a server at start, when the process that held them is
    /// gone (a crash or SIGKILL): its recipients are due again at once, not when their
    /// leases would have run out.
    async fn release_leases(&self) -> StoreResult<u64>;
    /// Appends the message to the recipient account's INBOX and marks the recipient delivered,
    /// in one transaction: a crash can neither lose nor duplicate the delivery. A recipient
    /// that is no longer queued is refused with `Invalid`.
    async fn deliver_local(&self, recipient: RecipientId, now: i64) -> StoreResult<Appended>;
    /// [`QueueStore::deliver_local`] for several recipients, in the order given (so that
    /// mailboxes keep arrival order), each succeeding or failing on its own.
    async fn deliver_local_batch(
        &self,
        recipients: &[RecipientId],
        now: i64,
    ) -> StoreResult<Vec<StoreResult<Appended>>> {
        let mut out = Vec::with_capacity(recipients.len());
        for &r in recipients {
            out.push(self.deliver_local(r, now).await);
        }
        Ok(out)
    }
    /// A remote server took the message for this recipient.
    async fn mark_delivered(&self, recipient: RecipientId) -> StoreResult<()>;
    /// A temporary failure: try again at `next_attempt`.
    async fn defer(
        &self,
        recipient: RecipientId,
        next_attempt: i64,
        error: &str,
    ) -> StoreResult<()>;
    /// Permanent failures, reported: each recipient (pending, or failed earlier) becomes
    /// [`RecipientState::Bounced`] with its error, and `notice` (the DSN to the sender, when
    /// one is owed) is accepted like any message, all in one commit: a crash can neither lose
    /// the report nor send it twice. Messages with nothing left to do leave the queue.
    async fn report_failures(
        &self,
        failures: &[(RecipientId, String)],
        notice: Option<NewQueueMessage>,
    ) -> StoreResult<Option<Accepted>>;
    /// Records that the sender has been warned of `recipients`' delay, and accepts `notice`
    /// (the "delayed" DSN, when one is owed), in one commit: one warning per recipient.
    async fn mark_warned(
        &self,
        recipients: &[RecipientId],
        notice: Option<NewQueueMessage>,
    ) -> StoreResult<()>;
    /// One queued message, with its recipients.
    async fn entry(&self, message: QueueId) -> StoreResult<QueueEntry>;
    /// A permanent failure. The recipient stays in the queue, failed, with its error: a
    /// message leaves the queue only when every recipient has been delivered, so an accepted
    /// message never disappears without a record (a bounce, or an operator's decision).
    async fn fail(&self, recipient: RecipientId, error: &str) -> StoreResult<()>;
    /// Every message in the queue: those with a recipient still to deliver, and those with a
    /// failed one. A message whose recipients are all delivered leaves the queue.
    async fn list(&self) -> StoreResult<Vec<QueueEntry>>;
    /// Removes a message from the queue, whatever its recipients' state (an operator's
    /// decision). Returns how many recipients had not been delivered.
    async fn remove(&self, message: QueueId) -> StoreResult<usize>;
    /// Makes every recipient of the message that is not delivered due at `now` again, failed
    /// ones included (an operator's decision, after fixing what made them fail). Returns how
    /// many recipients that is.
    async fn retry(&self, message: QueueId, now: i64) -> StoreResult<usize>;
    /// The message as it will be delivered: trace prefix followed by the blob.
    async fn read(&self, message: QueueId) -> StoreResult<Vec<u8>>;
}
