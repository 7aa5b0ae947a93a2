//! RCPT TO (RFC 5321 §4.1.1.3): on the MX listener only local recipients, checked before DATA
//! so that nothing accepted can bounce later (no backscatter), and never a relay; on
//! submission, any address for a logged-in user.

use smtp_proto::{
    RcptTo, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
};
use tern_store::{AccountInfo, Resolution, Route, StoreError};
use tern_types::Address;

use crate::address::{forward_path, ForwardPath, PathError};
use crate::postmaster::{resolve_postmaster, PostmasterError};
use crate::reply::Reply;
use crate::session::{Outcome, Recipient, Session};

/// The RCPT parameter flags of the extensions advertised (DSN's NOTIFY).
const NOTIFY_FLAGS: u64 =
    RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY | RCPT_NOTIFY_NEVER;

/// RFC 3461 §4.1 NOTIFY, back to its text form for the queue. SUCCESS is honoured only for
/// a logged-in client: from anyone else it would make us mail a "delivered" report to
/// whatever address MAIL FROM names, quoting their headers (backscatter, as Postfix's advice
/// to discard DSN on port 25 says); what else was asked for stays.
fn notify_text(flags: u64, authenticated: bool) -> Option<String> {
    let flags = match authenticated {
        true => flags,
        false if flags & !RCPT_NOTIFY_SUCCESS == 0 && flags != 0 => RCPT_NOTIFY_NEVER,
        false => flags & !RCPT_NOTIFY_SUCCESS,
    };
    if flags & RCPT_NOTIFY_NEVER != 0 {
        return Some("NEVER".into());
    }
    let parts: Vec<&str> = [
        (RCPT_NOTIFY_SUCCESS, "SUCCESS"),
        (RCPT_NOTIFY_FAILURE, "FAILURE"),
        (RCPT_NOTIFY_DELAY, "DELAY"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

fn relay_denied() -> Reply {
    Reply::new(
        550,
        "5.7.1",
        "Relaying denied: this server only accepts mail for its own domains",
    )
}

fn unknown_user() -> Reply {
    Reply::new(550, "5.1.1", "No such user here")
}

impl Session {
    /// RCPT, with one log line for each refused recipient (accepted ones are logged with
    /// their message).
    pub(crate) async fn rcpt(&mut self, to: RcptTo<String>) -> Outcome {
        let address = to.address.clone();
        let outcome = self.check_rcpt(to).await;
        match outcome.reply {
            Some(reply) if !reply.is_positive() => {
                let from = self.tx.as_ref().map_or("", |t| t.sender.as_str());
                tracing::info!(%from, to = %address, reply = %reply, "recipient refused");
                if reply.code >= 500 {
                    // Permanent refusals count as errors: no endless address probing.
                    return self.bad_command(reply);
                }
                Outcome::reply(reply)
            }
            _ => outcome,
        }
    }

    async fn check_rcpt(&mut self, to: RcptTo<String>) -> Outcome {
        let Some(tx) = &self.tx else {
            return Outcome::reply(Reply::new(503, "5.5.1", "Send MAIL first"));
        };
        if tx.body.is_some() {
            return Outcome::reply(Reply::new(503, "5.5.1", "RCPT is not allowed during BDAT"));
        }
        let extended = self.helo.as_ref().is_some_and(|h| h.extended);
        let has_params = to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0;
        if has_params && !extended {
            // RFC 5321 §4.1.1.11: parameters belong to extensions, which HELO did not open.
            return Outcome::reply(Reply::new(555, "5.5.4", "RCPT parameters require EHLO"));
        }
        if to.flags & !NOTIFY_FLAGS != 0 || to.rrvs != 0 {
            return Outcome::reply(Reply::new(
                555,
                "5.5.4",
                "Unsupported RCPT parameter; this server offers DSN only",
            ));
        }
        if tx.accepted.len() >= self.settings.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452 tells the client to send the rest in another transaction.
            return Outcome::reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        let address = match forward_path(&to.address, tx.params.smtputf8) {
            Ok(ForwardPath::Mailbox(a)) => a,
            Ok(ForwardPath::Postmaster) => {
                return self.accept_recipient(self.postmaster().await, &to)
            }
            Ok(ForwardPath::Unusable { domain }) => {
                return match self.stores.directory.is_local_domain(&domain).await {
                    Ok(true) => Outcome::reply(unknown_user()),
                    Ok(false) => Outcome::reply(relay_denied()),
                    Err(e) => Outcome::reply(self.store_failure(&e)),
                };
            }
            Err(PathError::Syntax) => {
                return Outcome::reply(Reply::new(501, "5.1.3", "Bad recipient address syntax"))
            }
            Err(PathError::NeedsSmtpUtf8) => {
                return Outcome::reply(Reply::new(
                    553,
                    "5.6.7",
                    "Non-ASCII recipient requires the SMTPUTF8 parameter",
                ))
            }
        };
        let resolved = match self
            .stores
            .directory
            .resolve_recipient(&address, self.settings.recipients)
            .await
        {
            Ok(Resolution::Accounts(accounts)) => Ok((address, accounts)),
            Ok(Resolution::UnknownUser) => Err(unknown_user()),
            // Submission relays for its logged-in users (RFC 6409 §4.3); MAIL has checked
            // that this session has one.
            Ok(Resolution::NotLocal) if self.user.is_some() => {
                return self.accept_remote(address, &to)
            }
            Ok(Resolution::NotLocal) => Err(relay_denied()),
            Err(e) => Err(self.store_failure(&e)),
        };
        self.accept_recipient(resolved, &to)
    }

    /// RFC 5321 §4.5.1: `<Postmaster>` is always accepted and goes to the configured
    /// postmaster. When that address resolves to nothing the mail is deferred (451), never
    /// refused or lost, and the log says how to fix it.
    async fn postmaster(&self) -> Result<(Address, Vec<AccountInfo>), Reply> {
        match resolve_postmaster(
            self.settings.postmaster.as_ref(),
            &*self.stores.directory,
            self.settings.recipients,
        )
        .await
        {
            Ok(found) => Ok(found),
            Err(PostmasterError::Store(e)) => Err(self.store_failure(&e)),
            Err(e) => {
                tracing::error!("{e}");
                Err(Reply::new(
                    451,
                    "4.3.0",
                    "The postmaster mailbox is not available, try again later",
                ))
            }
        }
    }

    /// Adds a resolved recipient to the transaction, unless a mailbox is full.
    fn accept_recipient(
        &mut self,
        resolved: Result<(Address, Vec<AccountInfo>), Reply>,
        to: &RcptTo<String>,
    ) -> Outcome {
        let (address, accounts) = match resolved {
            Ok(found) => found,
            Err(reply) => return Outcome::reply(reply),
        };
        if let Some(full) = self.over_quota(&accounts) {
            tracing::info!(rcpt = %address, account = %full.address, "mailbox full");
            return Outcome::reply(self.mailbox_full());
        }
        let Some(tx) = self.tx.as_mut() else {
            return Outcome::reply(Reply::new(503, "5.5.1", "Send MAIL first"));
        };
        tx.accepted.push(address.to_string());
        for account in accounts {
            if tx
                .recipients
                .iter()
                .any(|r| r.route == Route::Local(account.id))
            {
                continue;
            }
            tx.recipients.push(Recipient {
                address: address.to_string(),
                route: Route::Local(account.id),
                notify: notify_text(to.flags, self.user.is_some()),
                orcpt: to.orcpt.clone(),
            });
        }
        Outcome::reply(Reply::new(250, "2.1.5", "Recipient OK"))
    }

    /// A recipient at another domain, for the outbound queue (each address once).
    fn accept_remote(&mut self, address: Address, to: &RcptTo<String>) -> Outcome {
        let Some(tx) = self.tx.as_mut() else {
            return Outcome::reply(Reply::new(503, "5.5.1", "Send MAIL first"));
        };
        let address = address.to_string();
        tx.accepted.push(address.clone());
        if !tx
            .recipients
            .iter()
            .any(|r| r.route == Route::Remote && r.address == address)
        {
            tx.recipients.push(Recipient {
                address,
                route: Route::Remote,
                notify: notify_text(to.flags, self.user.is_some()),
                orcpt: to.orcpt.clone(),
            });
        }
        Outcome::reply(Reply::new(250, "2.1.5", "Recipient OK"))
    }

    /// The first account the declared message size (at least 1 byte) would put over quota.
    fn over_quota<'a>(&self, accounts: &'a [AccountInfo]) -> Option<&'a AccountInfo> {
        let size = self.tx.as_ref().map_or(0, |t| t.declared_size).max(1);
        accounts.iter().find(|a| a.would_exceed_quota(size))
    }

    /// A full mailbox: temporary or permanent as `smtp.over_quota` says.
    pub(crate) fn mailbox_full(&self) -> Reply {
        if self.settings.over_quota_permanent {
            Reply::new(552, "5.2.2", "Mailbox full")
        } else {
            Reply::new(452, "4.2.2", "Mailbox full, try again later")
        }
    }

    /// A store failure: temporary for the client, logged with detail for the administrator.
    pub(crate) fn store_failure(&self, e: &StoreError) -> Reply {
        tracing::error!("store failure: {e}");
        Reply::new(451, "4.3.0", "Temporary server failure, try again later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_reports_only_for_logged_in_clients() {
        assert_eq!(
            notify_text(RCPT_NOTIFY_SUCCESS, true).as_deref(),
            Some("SUCCESS")
        );
        assert_eq!(
            notify_text(RCPT_NOTIFY_SUCCESS, false).as_deref(),
            Some("NEVER")
        );
        assert_eq!(
            notify_text(RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE, false).as_deref(),
            Some("FAILURE")
        );
        assert_eq!(notify_text(0, false), None);
        assert_eq!(
            notify_text(RCPT_NOTIFY_NEVER, false).as_deref(),
            Some("NEVER")
        );
    }
}
