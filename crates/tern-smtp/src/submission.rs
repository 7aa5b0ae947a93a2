//! What the submission listeners add to SMTP (RFC 6409): who may send, as which addresses,
//! and the fixes a message submission agent makes to what a client hands it.

use std::sync::Arc;

use tern_auth::Authenticator;
use tern_config::PlaintextAuth;
use tern_message::mime::{EnvelopeAddress, MessageMeta};
use tern_store::{AccountAuth, Resolution};
use tern_types::Address;

use crate::reply::Reply;
use crate::session::Session;

/// The submission policy, shared by the `submission` and `submissions` listeners.
#[derive(Debug)]
pub struct SubmissionPolicy {
    /// Password checks and the failed-login throttle, shared with the other listeners.
    pub auth: Arc<Authenticator>,
    /// When AUTH may be used without TLS (RFC 4954 §4: never in the clear by default).
    pub plaintext: PlaintextAuth,
    /// Accounts that may send as any address.
    pub send_as_any: Vec<Address>,
}

/// Why a sender address is refused: RFC 6409 §4.3 lets the MSA check that the client may use
/// it. 553 5.7.1 is RFC 3463's "delivery not authorized".
pub(crate) fn not_yours(what: &str, address: &str) -> Reply {
    Reply::new(
        553,
        "5.7.1",
        format!("{what} <{address}> is not one of your addresses"),
    )
}

impl Session {
    /// Whether a password may be sent on this connection now.
    pub(crate) fn auth_allowed(&self) -> bool {
        self.info.tls.is_some()
            || self
                .submission
                .as_ref()
                .is_some_and(|p| p.plaintext.allows(self.info.is_loopback()))
    }

    /// Whether the logged-in user may send as `address`: their own address, an alias that
    /// reaches their account, or anything for a `send_as_any` account.
    pub(crate) async fn may_send_as(
        &self,
        user: &AccountAuth,
        address: &Address,
    ) -> Result<bool, Reply> {
        let Some(policy) = &self.submission else {
            return Ok(false);
        };
        if policy.send_as_any.contains(&user.address) || *address == user.address {
            return Ok(true);
        }
        match self
            .stores
            .directory
            .resolve_recipient(address, self.settings.recipients)
            .await
        {
            Ok(Resolution::Accounts(accounts)) => Ok(accounts.iter().any(|a| a.id == user.id)),
            Ok(_) => Ok(false),
            Err(e) => Err(self.store_failure(&e)),
        }
    }

    /// RFC 6409 §8.1 asks for a From field, and every address in it must be the sender's own
    /// (the envelope check alone would let a client sign mail as anyone; DKIM and DMARC judge
    /// the From field).
    pub(crate) async fn check_from(&self, user: &AccountAuth, meta: &MessageMeta) -> Option<Reply> {
        let mailboxes: Vec<String> = meta
            .envelope
            .from
            .iter()
            .filter_map(|a| match a {
                EnvelopeAddress::Mailbox {
                    local: Some(local),
                    domain: Some(domain),
                    ..
                } => Some(format!("{local}@{domain}")),
                _ => None,
            })
            .collect();
        if mailboxes.is_empty() {
            return Some(Reply::new(
                550,
                "5.6.0",
                "The message has no From address (RFC 5322 §3.6.2); add one",
            ));
        }
        for text in mailboxes {
            let allowed = match Address::parse(&text) {
                Ok(address) => match self.may_send_as(user, &address).await {
                    Ok(allowed) => allowed,
                    Err(reply) => return Some(reply),
                },
                Err(_) => false,
            };
            if !allowed {
                return Some(not_yours("From address", &text));
            }
        }
        None
    }

    /// RFC 6409 §8.2 and §8.3: the MSA adds Date and Message-ID when the client left them
    /// out, so that the message is valid RFC 5322 when it leaves.
    pub(crate) fn added_fields(&self, meta: &MessageMeta, at: i64) -> String {
        let mut fields = String::new();
        if meta.envelope.date.is_none() {
            fields.push_str(&format!("Date: {}\r\n", tern_message::rfc5322_date(at)));
        }
        if meta.envelope.message_id.is_none() {
            let unique: u128 = rand::random();
            fields.push_str(&format!(
                "Message-ID: <{unique:032x}.{at}@{}>\r\n",
                self.settings.hostname
            ));
        }
        fields
    }
}
