//! Reporting to the sender: permanent failures in a DSN (RFC 3464) built by [`crate::dsn`],
//! stored in the same commit that marks the recipients reported
//! ([`tern_store::QueueStore::report_failures`]), so that a crash neither loses a bounce nor
//! sends it twice; and successes, when the sender asked (NOTIFY=SUCCESS).
//!
//! # Standards
//! - RFC 3461 §4.1 (NOTIFY: a DSN on failure unless the sender asked otherwise), §4.3 (RET),
//!   §6.2 and RFC 5321 §6.1 (never a DSN for a message with the null sender: no loops)
//! - RFC 5321 §4.5.5 (the DSN itself is sent with the null sender)

use tern_message::return_path;
use tern_store::{
    NewQueueMessage, NewRecipient, QueueEntry, QueuedRecipient, RecipientPolicy, Resolution, Route,
    StoreResult, Stores,
};
use tern_types::{unix_now as now, Address};

pub use crate::dsn::DsnAction;
use crate::dsn::{self, DsnRecipient, ReturnContent};

/// RET=FULL returns the whole message up to this size; above it, the headers only (Postfix's
/// `bounce_size_limit` is 50,000 octets; a mail client's attachment is often larger).
const RETURN_FULL_MAX: usize = 1 << 20;

/// One recipient that failed for good.
#[derive(Debug, Clone)]
pub struct Failed {
    pub recipient: QueuedRecipient,
    /// RFC 3463 code, e.g. `5.1.1`.
    pub status: String,
    /// The remote server's reply, or our reason.
    pub diagnostic: String,
    /// The server that gave the reply, if one did.
    pub remote_mta: Option<String>,
}

/// One recipient delivered (here, or to a server without DSN), for a success report.
#[derive(Debug, Clone)]
pub struct Succeeded {
    pub address: String,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    /// [`DsnAction::Delivered`] or [`DsnAction::Relayed`].
    pub action: DsnAction,
    pub remote_mta: Option<String>,
}

impl Failed {
    /// This recipient's part of a report (RFC 3464 §2.3).
    fn report(&self, action: DsnAction, at: i64) -> DsnRecipient {
        DsnRecipient {
            address: self.recipient.address.clone(),
            original: original_recipient(self.recipient.orcpt.as_deref()),
            action,
            status: self.status.clone(),
            remote_mta: self.remote_mta.clone(),
            diagnostic: Some(self.diagnostic.clone()),
            last_attempt: at,
        }
    }
}

/// The message a report is about.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    /// Its envelope sender, who gets the report; empty for the null sender (no report).
    pub sender: &'a str,
    pub envid: Option<&'a str>,
    pub ret: Option<&'a str>,
    /// When it arrived (seconds since the epoch).
    pub arrival: i64,
    /// The message (at least its header block) for the returned content.
    pub message: &'a [u8],
}

impl<'a> Original<'a> {
    pub fn of(entry: &'a QueueEntry, message: &'a [u8]) -> Self {
        Self {
            sender: &entry.sender,
            envid: entry.params.envid.as_deref(),
            ret: entry.params.ret.as_deref(),
            arrival: entry.received_at,
            message,
        }
    }
}

/// RFC 3464 §2.3.1: address-type ";" address. The queue keeps ORCPT's address decoded
/// (smtp-proto strips "rfc822;" and the xtext).
fn original_recipient(orcpt: Option<&str>) -> Option<String> {
    orcpt.map(|o| format!("rfc822;{o}"))
}

/// What a bounce needs to know of this server.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub hostname: String,
    pub recipients: RecipientPolicy,
}

/// RFC 3461 §4.1: with no NOTIFY the sender is told of failures; NOTIFY=NEVER, or a list
/// without FAILURE, says otherwise.
fn wants_failure_report(notify: Option<&str>) -> bool {
    notify.is_none_or(|n| notify_has(n, "FAILURE"))
}

/// RFC 3461 §4.1: success is reported only when asked for.
pub fn wants_success_report(notify: Option<&str>) -> bool {
    notify.is_some_and(|n| notify_has(n, "SUCCESS"))
}

fn notify_has(notify: &str, keyword: &str) -> bool {
    notify
        .split(',')
        .any(|k| k.trim().eq_ignore_ascii_case(keyword))
}

impl Reporter {
    /// Marks `failed` (recipients of `entry`) reported, with a DSN to the sender when one is
    /// owed. `original` is the message as queued, for the DSN's returned content.
    pub async fn report(
        &self,
        stores: &Stores,
        entry: &QueueEntry,
        original: &[u8],
        failed: &[Failed],
    ) -> StoreResult<()> {
        if failed.is_empty() {
            return Ok(());
        }
        let errors: Vec<_> = failed
            .iter()
            .map(|f| (f.recipient.id, format!("{} {}", f.status, f.diagnostic)))
            .collect();
        let at = now();
        let owed: Vec<DsnRecipient> = failed
            .iter()
            .filter(|f| wants_failure_report(f.recipient.notify.as_deref()))
            .map(|f| f.report(DsnAction::Failed, at))
            .collect();
        let notice = self
            .notice(stores, &Original::of(entry, original), owed)
            .await?;
        if notice.is_none() {
            tracing::info!(queue_id = %entry.id, "failure recorded, no report owed");
        }
        stores.queue.report_failures(&errors, notice).await?;
        Ok(())
    }

    /// Warns the sender, once per recipient, that `late` recipients are still being tried
    /// (RFC 3464 "delayed", when NOTIFY is absent or includes DELAY, RFC 3461 §4.1), and
    /// records the warning in the same commit.
    pub async fn report_delay(
        &self,
        stores: &Stores,
        entry: &QueueEntry,
        original: &[u8],
        late: &[Failed],
    ) -> StoreResult<()> {
        if late.is_empty() {
            return Ok(());
        }
        let at = now();
        let owed: Vec<DsnRecipient> = late
            .iter()
            .filter(|f| {
                f.recipient
                    .notify
                    .as_deref()
                    .is_none_or(|n| notify_has(n, "DELAY"))
            })
            .map(|f| f.report(DsnAction::Delayed, at))
            .collect();
        let notice = self
            .notice(stores, &Original::of(entry, original), owed)
            .await?;
        let ids: Vec<_> = late.iter().map(|f| f.recipient.id).collect();
        stores.queue.mark_warned(&ids, notice).await
    }

    /// Tells the sender of successful deliveries the sender asked to hear about (NOTIFY with
    /// SUCCESS, RFC 3461 §6.2.3.2 "delivered" and §6.2.3.3 "relayed"). The notice is its own
    /// commit after the delivery's: a crash in between loses the notice, never mail.
    pub async fn report_success(
        &self,
        stores: &Stores,
        original: &Original<'_>,
        delivered: &[Succeeded],
    ) -> StoreResult<()> {
        let at = now();
        let owed: Vec<DsnRecipient> = delivered
            .iter()
            .filter(|d| wants_success_report(d.notify.as_deref()))
            .map(|d| DsnRecipient {
                address: d.address.clone(),
                original: original_recipient(d.orcpt.as_deref()),
                action: d.action,
                status: "2.0.0".into(),
                remote_mta: d.remote_mta.clone(),
                diagnostic: None,
                last_attempt: at,
            })
            .collect();
        if let Some(notice) = self.notice(stores, original, owed).await? {
            stores.queue.accept(notice).await?;
        }
        Ok(())
    }

    /// The DSN for `recipients`, staged and routed to the sender; `None` when there is nothing
    /// to report, the sender is null (RFC 3461 §6.2: no loops) or cannot get mail (a local
    /// address that no longer exists).
    async fn notice(
        &self,
        stores: &Stores,
        original: &Original<'_>,
        recipients: Vec<DsnRecipient>,
    ) -> StoreResult<Option<NewQueueMessage>> {
        if recipients.is_empty() || original.sender.is_empty() {
            return Ok(None);
        }
        let route = match self.route(stores, original.sender).await? {
            Some(route) => route,
            None => {
                tracing::warn!(sender = %original.sender, "the sender has no mailbox here; the report is dropped");
                return Ok(None);
            }
        };
        let at = now();
        // RFC 3461 §4.3: a success report carries the headers only, whatever RET says.
        let failed = recipients.iter().any(|r| r.action == DsnAction::Failed);
        let ret = match original.ret {
            Some(r) if failed && r.eq_ignore_ascii_case("FULL") => ReturnContent::Full {
                max: RETURN_FULL_MAX,
            },
            _ => ReturnContent::Headers,
        };
        let id = format!("{:032x}", rand::random::<u128>());
        let bytes = dsn::build(&dsn::Dsn {
            reporting_mta: &self.hostname,
            to: original.sender,
            envid: original.envid,
            arrival: original.arrival,
            recipients: &recipients,
            original: original.message,
            ret,
            now: at,
            id: &id,
        });
        let blob = stores.blobs.stage(bytes).await?;
        Ok(Some(NewQueueMessage {
            blob,
            trace_prefix: return_path("").into_bytes(),
            sender: String::new(),
            // RFC 6533 §3: a report to a UTF-8 address needs SMTPUTF8 on its way.
            params: tern_store::EnvelopeParams {
                smtputf8: !original.sender.is_ascii(),
                ..Default::default()
            },
            recipients: route
                .into_iter()
                .map(|route| NewRecipient {
                    address: original.sender.to_string(),
                    route,
                    // RFC 3461 §6.2: no DSN about a DSN.
                    notify: Some("NEVER".into()),
                    orcpt: None,
                })
                .collect(),
            received_at: at,
        }))
    }

    /// Where mail to the original sender goes: its accounts here, or the outbound queue.
    async fn route(&self, stores: &Stores, sender: &str) -> StoreResult<Option<Vec<Route>>> {
        let Ok(address) = Address::parse(sender) else {
            return Ok(None);
        };
        match stores
            .directory
            .resolve_recipient(&address, self.recipients)
            .await
        {
            Ok(Resolution::Accounts(accounts)) => {
                Ok(Some(accounts.iter().map(|a| Route::Local(a.id)).collect()))
            }
            Ok(Resolution::NotLocal) => Ok(Some(vec![Route::Remote])),
            Ok(Resolution::UnknownUser) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reports_follow_notify() {
        assert!(wants_failure_report(None));
        assert!(wants_failure_report(Some("FAILURE")));
        assert!(wants_failure_report(Some("SUCCESS,failure")));
        assert!(!wants_failure_report(Some("NEVER")));
        assert!(!wants_failure_report(Some("SUCCESS,DELAY")));
        assert!(wants_success_report(Some("success,FAILURE")));
        assert!(!wants_success_report(None));
        assert!(!wants_success_report(Some("FAILURE,DELAY")));
    }
}
