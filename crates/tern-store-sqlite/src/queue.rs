//! Accepting messages, and the queue in SQLite: messages, per-recipient state, leases, and
//! local delivery.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tern_store::{
    Accepted, Appended, Change, EnvelopeParams, NewQueueMessage, NewRecipient, QueueEntry,
    QueueStore, QueuedRecipient, RecipientState, Route, StoreError, StoreResult,
};
use tern_types::{AccountId, BlobHash, Flags, QueueId, RecipientId};

use crate::blobs::{drop_unreferenced, insert_blob, read_blob};
use crate::convert::{sql_err, Cached};
use crate::mailbox::{append_to, find_mailbox, AppendParts};
use crate::SqliteStore;

/// Recipient columns, from `queue_recipients r JOIN queue_messages q` ([`FROM_RECIPIENTS`]).
const RECIPIENT_COLUMNS: &str =
    "r.id, r.message_id, r.address, r.account_id, r.state, r.attempts, \
     r.next_attempt, r.last_error, q.received_at, r.notify, r.orcpt, r.warned, r.lease_until";
const FROM_RECIPIENTS: &str = "queue_recipients r JOIN queue_messages q ON q.id = r.message_id";
/// Message columns for [`entry_row`], from [`FROM_ENTRIES`].
const ENTRY_COLUMNS: &str =
    "q.id, q.sender, q.size, q.received_at, b.hash, q.envid, q.ret, q.body, q.smtputf8";
const FROM_ENTRIES: &str = "queue_messages q JOIN blobs b ON b.id = q.blob_id";

/// A queued message without its recipients ([`with_recipients`] adds them).
fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueEntry> {
    let hash: Vec<u8> = r.get(4)?;
    Ok(QueueEntry {
        id: QueueId(r.get(0)?),
        sender: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        received_at: r.get(3)?,
        blob: BlobHash::from_slice(&hash).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Blob,
                "bad blob hash".into(),
            )
        })?,
        params: EnvelopeParams {
            envid: r.get(5)?,
            ret: r.get(6)?,
            body: r.get(7)?,
            smtputf8: r.get(8)?,
        },
        recipients: Vec::new(),
    })
}

fn with_recipients(conn: &Connection, mut entry: QueueEntry) -> StoreResult<QueueEntry> {
    let mut rcpts = conn
        .prepare_cached(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM {FROM_RECIPIENTS} WHERE r.message_id = ?1 ORDER BY r.id"
        ))
        .map_err(sql_err)?;
    entry.recipients = rcpts
        .query_map([entry.id.0], recipient_row)
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    Ok(entry)
}

fn recipient_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedRecipient> {
    let account: Option<i64> = r.get(3)?;
    let state: String = r.get(4)?;
    Ok(QueuedRecipient {
        id: RecipientId(r.get(0)?),
        message: QueueId(r.get(1)?),
        address: r.get(2)?,
        route: account.map_or(Route::Remote, |a| Route::Local(AccountId(a))),
        state: RecipientState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("bad state {state:?}").into(),
            )
        })?,
        attempts: r.get(5)?,
        next_attempt: r.get(6)?,
        last_error: r.get(7)?,
        received_at: r.get(8)?,
        notify: r.get(9)?,
        orcpt: r.get(10)?,
        warned: r.get(11)?,
        lease_until: r.get(12)?,
    })
}

fn recipient(conn: &Connection, id: RecipientId) -> StoreResult<QueuedRecipient> {
    conn.row(
        &format!("SELECT {RECIPIENT_COLUMNS} FROM {FROM_RECIPIENTS} WHERE r.id = ?1"),
        [id.0],
        recipient_row,
    )
    .optional()
    .map_err(sql_err)?
    .ok_or_else(|| StoreError::NotFound(format!("queue recipient #{id}")))
}

/// The recipient, if it still waits for delivery. One that is done, or whose message has left
/// the queue, is `Invalid` (not `NotFound`, which callers read as "the account is gone").
fn require_pending(conn: &Connection, id: RecipientId) -> StoreResult<QueuedRecipient> {
    let rcpt = recipient(conn, id).map_err(|e| match e {
        StoreError::NotFound(what) => StoreError::Invalid(format!("{what} is no longer queued")),
        other => other,
    })?;
    if !rcpt.state.is_pending() {
        return Err(StoreError::Invalid(format!(
            "queue recipient #{id} is already {}",
            rcpt.state.as_str()
        )));
    }
    Ok(rcpt)
}

fn set_state(
    conn: &Connection,
    id: RecipientId,
    state: RecipientState,
    error: Option<&str>,
) -> StoreResult<()> {
    conn.exec(
        "UPDATE queue_recipients SET state = ?2, attempts = attempts + 1, last_error = ?3, lease_until = 0
          WHERE id = ?1",
        params![id.0, state.as_str(), error],
    )
    .map_err(sql_err)?;
    Ok(())
}

/// Removes a queued message once every recipient has been delivered or its failure reported.
/// A failed recipient keeps its message in the queue, with its error, until it is reported (a
/// bounce) or an operator removes it: nothing accepted disappears without a record.
fn retire_if_done(conn: &Connection, message: QueueId) -> StoreResult<()> {
    let undelivered: i64 = conn
        .row(
            "SELECT count(*) FROM queue_recipients
              WHERE message_id = ?1 AND state NOT IN ('delivered', 'bounced')",
            [message.0],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if undelivered > 0 {
        return Ok(());
    }
    remove_message(conn, message)?;
    Ok(())
}

/// Deletes a queued message and its recipients; its blob goes too unless a mailbox holds it.
/// Returns how many recipients had not been delivered.
fn remove_message(conn: &Connection, message: QueueId) -> StoreResult<usize> {
    let blob_id: i64 = conn
        .row(
            "SELECT blob_id FROM queue_messages WHERE id = ?1",
            [message.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("queued message {message}")))?;
    let undelivered: i64 = conn
        .row(
            "SELECT count(*) FROM queue_recipients WHERE message_id = ?1 AND state != 'delivered'",
            [message.0],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    conn.exec("DELETE FROM queue_messages WHERE id = ?1", [message.0])
        .map_err(sql_err)?;
    drop_unreferenced(conn, &[blob_id])?;
    Ok(undelivered as usize)
}

/// Marks every recipient still waiting for `account` failed, with `error`: used when the
/// account is removed, so that its queued mail is reported rather than lost.
pub(crate) fn fail_pending_of_account(
    conn: &Connection,
    account: AccountId,
    error: &str,
) -> StoreResult<usize> {
    conn.exec(
        "UPDATE queue_recipients SET state = 'failed', last_error = ?2, lease_until = 0
          WHERE account_id = ?1 AND state IN ('queued', 'held')",
        params![account.0, error],
    )
    .map_err(sql_err)
}

/// The next message id: a store-wide counter, so an id names one message for the store's
/// whole life (log lines and the sender's "queued as" can be matched), whether or not the
/// message ever waits in the queue.
fn next_message_id(conn: &Connection) -> StoreResult<QueueId> {
    let id: i64 = conn
        .row(
            "UPDATE meta SET value = value + 1 WHERE key = 'next_message_id' RETURNING value - 1",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    Ok(QueueId(id))
}

/// Appends a message to an account's INBOX inside the caller's transaction.
fn deliver_to_inbox(
    conn: &Connection,
    account: AccountId,
    blob_id: i64,
    blob_size: u64,
    prefix: &[u8],
    now: i64,
) -> StoreResult<(Appended, Change)> {
    let inbox = find_mailbox(conn, account, "INBOX")?;
    let parts = AppendParts {
        blob_id,
        blob_size,
        prefix,
        flags: &Flags::new(),
        internal_date: now,
    };
    append_to(conn, &inbox, parts)
}

/// Runs `op` inside a savepoint of the caller's transaction: on failure its work is undone and
/// the rest of the transaction carries on. An error that made SQLite roll back the whole
/// transaction is returned as the outer error, since nothing can carry on after it.
fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<StoreResult<T>> {
    conn.exec("SAVEPOINT rcpt", []).map_err(sql_err)?;
    match op() {
        Ok(value) => {
            conn.exec("RELEASE rcpt", []).map_err(sql_err)?;
            Ok(Ok(value))
        }
        Err(e) if conn.is_autocommit() => Err(e),
        Err(e) => {
            conn.execute_batch("ROLLBACK TO rcpt; RELEASE rcpt")
                .map_err(sql_err)?;
            Ok(Err(e))
        }
    }
}

/// The accepting transaction (see [`QueueStore::accept`]).
///
/// `refuse_when_full`: SMTP's hand-off refuses a message every recipient of which is over
/// quota (the client keeps it); a notice of our own (a DSN) is queued instead, to be retried.
fn accept_in(
    conn: &Connection,
    message: &NewQueueMessage,
    refuse_when_full: bool,
) -> StoreResult<(Accepted, Vec<Change>)> {
    let id = next_message_id(conn)?;
    let blob = insert_blob(conn, &message.blob)?;
    let mut delivered = Vec::new();
    let mut delivered_recipients = Vec::new();
    let mut events = Vec::new();
    let mut waiting: Vec<(&NewRecipient, Option<String>)> = Vec::new();
    let mut over_quota = 0;
    for (index, rcpt) in message.recipients.iter().enumerate() {
        let Route::Local(account) = rcpt.route else {
            waiting.push((rcpt, None));
            continue;
        };
        let outcome = in_savepoint(conn, || {
            deliver_to_inbox(
                conn,
                account,
                blob.id,
                blob.size,
                &message.trace_prefix,
                message.received_at,
            )
        })?;
        match outcome {
            Ok((appended, change)) => {
                delivered.push(appended);
                delivered_recipients.push(index);
                events.push(change);
            }
            Err(e) => {
                over_quota += usize::from(matches!(e, StoreError::OverQuota(_)));
                tracing::info!(rcpt = %rcpt.address, "not delivered at once, queued: {e}");
                waiting.push((rcpt, Some(e.to_string())));
            }
        }
    }
    if refuse_when_full && over_quota == message.recipients.len() {
        // Every recipient is local and full: refused whole, the sender keeps the message.
        return Err(StoreError::OverQuota(format!(
            "every recipient of message {id}"
        )));
    }
    if !waiting.is_empty() {
        queue_message(conn, id, blob.id, message, &waiting)?;
    }
    let accepted = Accepted {
        id,
        delivered,
        delivered_recipients,
        queued: waiting.len(),
    };
    Ok((accepted, events))
}

/// Writes the queue entry of message `id` for the recipients that wait, each due at once
/// (`last_error` says why a local one could not be delivered in the accepting commit).
fn queue_message(
    conn: &Connection,
    id: QueueId,
    blob_id: i64,
    message: &NewQueueMessage,
    waiting: &[(&NewRecipient, Option<String>)],
) -> StoreResult<()> {
    conn.exec(
        "INSERT INTO queue_messages (id, blob_id, trace_prefix, sender, envid, ret, body, smtputf8, size, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id.0,
            blob_id,
            &message.trace_prefix,
            message.sender,
            message.params.envid,
            message.params.ret,
            message.params.body,
            message.params.smtputf8,
            (message.trace_prefix.len() as u64 + message.blob.size) as i64,
            message.received_at,
        ],
    )
    .map_err(sql_err)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO queue_recipients (message_id, address, account_id, notify, orcpt, state, next_attempt, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7)",
        )
        .map_err(sql_err)?;
    for (rcpt, error) in waiting {
        let account = match rcpt.route {
            Route::Local(a) => Some(a.0),
            Route::Remote => None,
        };
        stmt.execute(params![
            id.0,
            rcpt.address,
            account,
            rcpt.notify,
            rcpt.orcpt,
            message.received_at,
            error
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

fn deliver_local_in(
    conn: &Connection,
    id: RecipientId,
    now: i64,
) -> StoreResult<(Appended, Change)> {
    let rcpt = require_pending(conn, id)?;
    let Route::Local(account) = rcpt.route else {
        return Err(StoreError::Invalid(format!(
            "queue recipient #{id} is not local"
        )));
    };
    let (blob_id, size, prefix): (i64, i64, Vec<u8>) = conn
        .row(
            "SELECT q.blob_id, b.size, q.trace_prefix FROM queue_messages q JOIN blobs b ON b.id = q.blob_id
              WHERE q.id = ?1",
            [rcpt.message.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(sql_err)?;
    // The queue's blob row is shared: every local recipient references the same one.
    let delivered = deliver_to_inbox(conn, account, blob_id, size as u64, &prefix, now)?;
    set_state(conn, id, RecipientState::Delivered, None)?;
    retire_if_done(conn, rcpt.message)?;
    Ok(delivered)
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn accept(&self, message: NewQueueMessage) -> StoreResult<Accepted> {
        if message.recipients.is_empty() {
            return Err(StoreError::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        let accepted = self
            .inner
            .writer
            .write(move |conn| accept_in(conn, &message, true))
            .await?;
        // Logged in the caller's span, so the lines carry its session id.
        for appended in &accepted.delivered {
            tracing::info!(id = %accepted.id, mailbox = %appended.mailbox, uid = %appended.uid, "message stored");
        }
        if accepted.queued > 0 {
            tracing::info!(id = %accepted.id, recipients = accepted.queued, "message queued");
        }
        Ok(accepted)
    }

    async fn lease_due(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> StoreResult<Vec<QueuedRecipient>> {
        self.inner
            .writer
            .write(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {RECIPIENT_COLUMNS} FROM {FROM_RECIPIENTS}
                          WHERE r.state = 'queued' AND r.next_attempt <= ?1 AND r.lease_until <= ?1
                          ORDER BY r.next_attempt, r.id LIMIT ?2"
                    ))
                    .map_err(sql_err)?;
                let mut due = stmt
                    .query_map(params![now, limit as i64], recipient_row)
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                // next_attempt moves to the lease's end too: leased rows leave the index range
                // that the next call scans (`next_attempt <= now`), so a long queue of leased
                // recipients costs nothing to step over.
                let mut lease = conn
                    .prepare_cached(
                        "UPDATE queue_recipients SET lease_until = ?2, next_attempt = ?2 WHERE id = ?1",
                    )
                    .map_err(sql_err)?;
                for rcpt in &mut due {
                    rcpt.lease_until = now + lease_secs;
                    lease
                        .execute(params![rcpt.id.0, rcpt.lease_until])
                        .map_err(sql_err)?;
                }
                Ok((due, Vec::new()))
            })
            .await
    }

    async fn renew_leases(
        &self,
        leases: &[(RecipientId, i64)],
        until: i64,
    ) -> StoreResult<Vec<RecipientId>> {
        let leases = leases.to_vec();
        self.inner
            .writer
            .write(move |conn| {
                let mut renew = conn
                    .prepare_cached(
                        "UPDATE queue_recipients SET lease_until = ?3, next_attempt = ?3
                          WHERE id = ?1 AND lease_until = ?2 AND state = 'queued'",
                    )
                    .map_err(sql_err)?;
                let mut mine = Vec::new();
                for (id, token) in leases {
                    if renew
                        .execute(params![id.0, token, until])
                        .map_err(sql_err)?
                        == 1
                    {
                        mine.push(id);
                    }
                }
                Ok((mine, Vec::new()))
            })
            .await
    }

    async fn next_due_after(&self, now: i64) -> StoreResult<Option<i64>> {
        self.inner
            .readers
            .read(move |conn| {
                // A range of the (state, next_attempt) index: no scan, however long the queue.
                conn.row(
                    "SELECT min(next_attempt) FROM queue_recipients
                      WHERE state = 'queued' AND next_attempt > ?1",
                    [now],
                    |r| r.get(0),
                )
                .map_err(sql_err)
            })
            .await
    }

    async fn release_leases(&self) -> StoreResult<u64> {
        self.inner
            .writer
            .write(|conn| {
                let n = conn
                    .exec(
                        "UPDATE queue_recipients SET lease_until = 0, next_attempt = 0
                          WHERE lease_until != 0 AND state = 'queued'",
                        [],
                    )
                    .map_err(sql_err)?;
                Ok((n as u64, Vec::new()))
            })
            .await
    }

    async fn deliver_local(&self, recipient: RecipientId, now: i64) -> StoreResult<Appended> {
        let mut results = self.deliver_local_batch(&[recipient], now).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(StoreError::Internal("no delivery result".into())))
    }

    async fn deliver_local_batch(
        &self,
        recipients: &[RecipientId],
        now: i64,
    ) -> StoreResult<Vec<StoreResult<Appended>>> {
        let recipients = recipients.to_vec();
        let results = self
            .inner
            .writer
            .write(move |conn| {
                let mut results = Vec::with_capacity(recipients.len());
                let mut events = Vec::new();
                for id in recipients {
                    // Each delivery in its own savepoint: one failure leaves the others.
                    match in_savepoint(conn, || deliver_local_in(conn, id, now))? {
                        Ok((appended, change)) => {
                            events.push(change);
                            results.push(Ok(appended));
                        }
                        Err(e) => results.push(Err(e)),
                    }
                }
                Ok((results, events))
            })
            .await?;
        for appended in results.iter().flatten() {
            tracing::info!(mailbox = %appended.mailbox, uid = %appended.uid, "message stored");
        }
        Ok(results)
    }

    async fn mark_delivered(&self, recipient: RecipientId) -> StoreResult<()> {
        self.inner
            .writer
            .write(move |conn| {
                let rcpt = require_pending(conn, recipient)?;
                set_state(conn, recipient, RecipientState::Delivered, None)?;
                retire_if_done(conn, rcpt.message)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn defer(
        &self,
        recipient: RecipientId,
        next_attempt: i64,
        error: &str,
    ) -> StoreResult<()> {
        let error = error.to_string();
        self.inner
            .writer
            .write(move |conn| {
                require_pending(conn, recipient)?;
                conn.exec(
                    "UPDATE queue_recipients SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3,
                            lease_until = 0 WHERE id = ?1",
                    params![recipient.0, next_attempt, error],
                )
                .map_err(sql_err)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn fail(&self, recipient: RecipientId, error: &str) -> StoreResult<()> {
        let error = error.to_string();
        self.inner
            .writer
            .write(move |conn| {
                let rcpt = require_pending(conn, recipient)?;
                set_state(conn, recipient, RecipientState::Failed, Some(&error))?;
                retire_if_done(conn, rcpt.message)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn list(&self) -> StoreResult<Vec<QueueEntry>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM {FROM_ENTRIES} ORDER BY q.id"
                    ))
                    .map_err(sql_err)?;
                let messages = stmt
                    .query_map([], entry_row)
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                messages
                    .into_iter()
                    .map(|m| with_recipients(conn, m))
                    .collect()
            })
            .await
    }

    async fn mark_warned(
        &self,
        recipients: &[RecipientId],
        notice: Option<NewQueueMessage>,
    ) -> StoreResult<()> {
        let recipients = recipients.to_vec();
        self.inner
            .writer
            .write(move |conn| {
                let mut mark = conn
                    .prepare_cached("UPDATE queue_recipients SET warned = 1 WHERE id = ?1")
                    .map_err(sql_err)?;
                for id in &recipients {
                    mark.execute([id.0]).map_err(sql_err)?;
                }
                let events = match &notice {
                    Some(notice) => accept_in(conn, notice, false)?.1,
                    None => Vec::new(),
                };
                Ok(((), events))
            })
            .await
    }

    async fn entry(&self, message: QueueId) -> StoreResult<QueueEntry> {
        self.inner
            .readers
            .read(move |conn| {
                let entry = conn
                    .row(
                        &format!("SELECT {ENTRY_COLUMNS} FROM {FROM_ENTRIES} WHERE q.id = ?1"),
                        [message.0],
                        entry_row,
                    )
                    .optional()
                    .map_err(sql_err)?
                    .ok_or_else(|| StoreError::NotFound(format!("queued message {message}")))?;
                with_recipients(conn, entry)
            })
            .await
    }

    async fn report_failures(
        &self,
        failures: &[(RecipientId, String)],
        notice: Option<NewQueueMessage>,
    ) -> StoreResult<Option<Accepted>> {
        let failures = failures.to_vec();
        let accepted = self
            .inner
            .writer
            .write(move |conn| {
                let mut messages = Vec::new();
                for (id, error) in &failures {
                    let rcpt = recipient(conn, *id)?;
                    if !(rcpt.state.is_pending() || rcpt.state == RecipientState::Failed) {
                        return Err(StoreError::Invalid(format!(
                            "queue recipient #{id} is already {}",
                            rcpt.state.as_str()
                        )));
                    }
                    set_state(conn, *id, RecipientState::Bounced, Some(error))?;
                    if !messages.contains(&rcpt.message) {
                        messages.push(rcpt.message);
                    }
                }
                let (accepted, events) = match &notice {
                    Some(notice) => {
                        let (accepted, events) = accept_in(conn, notice, false)?;
                        (Some(accepted), events)
                    }
                    None => (None, Vec::new()),
                };
                for message in messages {
                    retire_if_done(conn, message)?;
                }
                Ok((accepted, events))
            })
            .await?;
        if let Some(accepted) = &accepted {
            tracing::info!(id = %accepted.id, "delivery status notification stored");
        }
        Ok(accepted)
    }

    async fn remove(&self, message: QueueId) -> StoreResult<usize> {
        self.inner
            .writer
            .write(move |conn| Ok((remove_message(conn, message)?, Vec::new())))
            .await
    }

    async fn retry(&self, message: QueueId, now: i64) -> StoreResult<usize> {
        self.inner
            .writer
            .write(move |conn| {
                let exists: Option<i64> = conn
                    .row(
                        "SELECT id FROM queue_messages WHERE id = ?1",
                        [message.0],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                if exists.is_none() {
                    return Err(StoreError::NotFound(format!("queued message {message}")));
                }
                let n = conn
                    .exec(
                        "UPDATE queue_recipients SET state = 'queued', next_attempt = ?2, lease_until = 0
                          WHERE message_id = ?1 AND state NOT IN ('delivered', 'bounced')",
                        params![message.0, now],
                    )
                    .map_err(sql_err)?;
                Ok((n, Vec::new()))
            })
            .await
    }

    async fn read(&self, message: QueueId) -> StoreResult<Vec<u8>> {
        let dir = self.inner.blobs.clone();
        self.inner
            .readers
            .read(move |conn| {
                let (mut prefix, blob_id): (Vec<u8>, i64) = conn
                    .row(
                        "SELECT trace_prefix, blob_id FROM queue_messages WHERE id = ?1",
                        [message.0],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(sql_err)?
                    .ok_or_else(|| StoreError::NotFound(format!("queued message #{message}")))?;
                prefix.extend_from_slice(&read_blob(conn, &dir, blob_id)?);
                Ok(prefix)
            })
            .await
    }
}
