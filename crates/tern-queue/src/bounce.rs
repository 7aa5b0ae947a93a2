//! Reporting permanent failures to the sender: a DSN (RFC 3464) built by [`crate::dsn`],
//! stored in the same commit that marks the recipients reported
//! ([`tern_store::QueueStore::report_failures`]), so that a crash neither loses a bounce nor
//! sends it twice.
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
use tern_types::Address;

use crate::dsn::{self, DsnAction, DsnRecipient, ReturnContent};

/// RET=FULL returns the whole message up to this size; above it, the headers only (as
/// Postfix's `bounce_size_limit`, which is 50 000).
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

/// What a bounce needs to know of this server.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub hostname: String,
    pub recipients: RecipientPolicy,
}

/// RFC 3461 §4.1: with no NOTIFY the sender is told of failures; NOTIFY=NEVER, or a list
/// without FAILURE, says otherwise.
fn wants_failure_report(notify: Option<&str>) -> bool {
    notify.is_none_or(|n| {
        n.split(',')
            .any(|k| k.trim().eq_ignore_ascii_case("FAILURE"))
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
        let owed: Vec<&Failed> = failed
            .iter()
            .filter(|f| wants_failure_report(f.recipient.notify.as_deref()))
            .collect();
        let notice = match (entry.sender.is_empty(), owed.is_empty()) {
            (false, false) => self.notice(stores, entry, original, &owed).await?,
            _ => None,
        };
        if notice.is_none() {
            tracing::info!(queue_id = %entry.id, "failure recorded, no report owed");
        }
        stores.queue.report_failures(&errors, notice).await?;
        Ok(())
    }

    /// The DSN, staged and routed to the sender; `None` when the sender cannot get mail (a
    /// local address that no longer exists).
    async fn notice(
        &self,
        stores: &Stores,
        entry: &QueueEntry,
        original: &[u8],
        owed: &[&Failed],
    ) -> StoreResult<Option<NewQueueMessage>> {
        let route = match self.route(stores, &entry.sender).await? {
            Some(route) => route,
            None => {
                tracing::warn!(queue_id = %entry.id, sender = %entry.sender, "the sender has no mailbox here; the failure report is dropped");
                return Ok(None);
            }
        };
        let at = now();
        let recipients: Vec<DsnRecipient> = owed
            .iter()
            .map(|f| DsnRecipient {
                address: f.recipient.address.clone(),
                // RFC 3464 §2.3.1: address-type ";" address. The queue keeps ORCPT's address
                // decoded (smtp-proto strips "rfc822;" and the xtext).
                original: f.recipient.orcpt.as_ref().map(|o| format!("rfc822;{o}")),
                action: DsnAction::Failed,
                status: f.status.clone(),
                remote_mta: f.remote_mta.clone(),
                diagnostic: Some(f.diagnostic.clone()),
                last_attempt: at,
            })
            .collect();
        let ret = match entry.params.ret.as_deref() {
            Some(r) if r.eq_ignore_ascii_case("FULL") => ReturnContent::Full {
                max: RETURN_FULL_MAX,
            },
            _ => ReturnContent::Headers,
        };
        let id = format!("{:032x}", rand::random::<u128>());
        let bytes = dsn::build(&dsn::Dsn {
            reporting_mta: &self.hostname,
            to: &entry.sender,
            envid: entry.params.envid.as_deref(),
            arrival: entry.received_at,
            recipients: &recipients,
            original,
            ret,
            now: at,
            id: &id,
        });
        let blob = stores.blobs.stage(bytes).await?;
        Ok(Some(NewQueueMessage {
            blob,
            trace_prefix: return_path("").into_bytes(),
            sender: String::new(),
            params: Default::default(),
            recipients: route
                .into_iter()
                .map(|route| NewRecipient {
                    address: entry.sender.clone(),
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
    }
}
