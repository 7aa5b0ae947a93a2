//! MAIL FROM (RFC 5321 §4.1.1.2) and its parameters: SIZE (RFC 1870), BODY (RFC 6152,
//! RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461).

use smtp_proto::{
    MailFrom, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_RET_FULL,
    MAIL_RET_HDRS, MAIL_SMTPUTF8,
};
use tern_store::EnvelopeParams;
use tern_types::Address;

use crate::address::{reverse_path, PathError, ReversePathText};
use crate::reply::Reply;
use crate::session::{Outcome, Session, Transaction};
use crate::submission::not_yours;

/// MAIL parameters of the extensions this listener advertises: SIZE (a field), BODY,
/// SMTPUTF8, and DSN's RET and ENVID (a field).
const OFFERED_FLAGS: u64 = MAIL_BODY_7BIT
    | MAIL_BODY_8BITMIME
    | MAIL_BODY_BINARYMIME
    | MAIL_RET_FULL
    | MAIL_RET_HDRS
    | MAIL_SMTPUTF8;

fn has_unadvertised_parameters(from: &MailFrom<String>, submission: bool) -> bool {
    // Submission takes DATA only (see `ehlo.rs`), so BINARYMIME is not offered there.
    let offered = match submission {
        true => OFFERED_FLAGS & !MAIL_BODY_BINARYMIME,
        false => OFFERED_FLAGS,
    };
    from.flags & !offered != 0
        || from.trans_id.is_some()
        || from.by != 0
        || from.solicit.is_some()
        || from.mtrk.is_some()
        // RFC 4954 §5: AUTH= is accepted where AUTH is offered (and ignored: the session's
        // own login is what counts).
        || (from.auth.is_some() && !submission)
        || from.hold_for != 0
        || from.hold_until != 0
        || from.mt_priority != 0
}

impl Session {
    /// MAIL; `postmaster` says the raw line's path was `<Postmaster>` (smtp-proto reads it
    /// as "", like `<>`).
    pub(crate) async fn mail(&mut self, from: MailFrom<String>, postmaster: bool) -> Outcome {
        let Some(helo) = &self.helo else {
            return Outcome::reply(Reply::new(503, "5.5.1", "Send EHLO or HELO first"));
        };
        if self.submission.is_some() && self.user.is_none() {
            // RFC 6409 §4.3 / RFC 4954 §6: submission needs a login first.
            return Outcome::reply(Reply::new(530, "5.7.0", "Authentication required"));
        }
        if self.tx.is_some() {
            return Outcome::reply(Reply::new(
                503,
                "5.5.1",
                "A transaction is already in progress; RSET first",
            ));
        }
        let has_params = from.flags != 0 || from.size != 0 || from.env_id.is_some();
        if has_params && !helo.extended {
            // RFC 5321 §4.1.1.11: parameters belong to extensions, which HELO did not open.
            return Outcome::reply(Reply::new(555, "5.5.4", "MAIL parameters require EHLO"));
        }
        if has_unadvertised_parameters(&from, self.submission.is_some()) {
            // RFC 5321 §4.1.1.11: a parameter of an extension not offered is refused with 555;
            // accepting it would silently drop what it asks for (REQUIRETLS, HOLDUNTIL, ...).
            return Outcome::reply(Reply::new(555, "5.5.4", "Unsupported MAIL parameter"));
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        let text = match postmaster {
            true => ReversePathText::Postmaster,
            false => ReversePathText::Parsed(&from.address),
        };
        let sender = match reverse_path(text, smtputf8) {
            Ok(sender) => sender,
            Err(PathError::Syntax) => {
                return Outcome::reply(Reply::new(501, "5.1.7", "Bad sender address syntax"))
            }
            Err(PathError::NeedsSmtpUtf8) => {
                return Outcome::reply(Reply::new(
                    553,
                    "5.6.7",
                    "Non-ASCII sender requires the SMTPUTF8 parameter",
                ))
            }
        };
        if let Some(reply) = self.check_sender(&sender).await {
            return Outcome::reply(reply);
        }
        // RFC 1870 §6: refuse at once what is declared too big.
        if from.size as u64 > self.settings.max_message_size {
            return Outcome::reply(Reply::new(
                552,
                "5.3.4",
                format!(
                    "Message size exceeds the limit of {} bytes",
                    self.settings.max_message_size
                ),
            ));
        }
        let binary = from.flags & MAIL_BODY_BINARYMIME != 0;
        let body = if binary {
            Some("BINARYMIME")
        } else if from.flags & MAIL_BODY_8BITMIME != 0 {
            Some("8BITMIME")
        } else {
            None
        };
        let ret = if from.flags & MAIL_RET_FULL != 0 {
            Some("FULL")
        } else if from.flags & MAIL_RET_HDRS != 0 {
            Some("HDRS")
        } else {
            None
        };
        self.tx = Some(Transaction {
            sender,
            params: EnvelopeParams {
                envid: from.env_id,
                ret: ret.map(String::from),
                body: body.map(String::from),
                smtputf8,
            },
            binary,
            declared_size: from.size as u64,
            accepted: Vec::new(),
            recipients: Vec::new(),
            body: None,
        });
        Outcome::reply(Reply::new(250, "2.1.0", "Sender OK"))
    }
}

impl Session {
    /// Submission: the envelope sender must be one of the user's addresses (RFC 6409 §4.3).
    /// The null sender is for servers' own notices; only `send_as_any` accounts may use it.
    async fn check_sender(&self, sender: &str) -> Option<Reply> {
        let (Some(policy), Some(user)) = (&self.submission, &self.user) else {
            return None;
        };
        if sender.is_empty() {
            return (!policy.send_as_any.contains(&user.address))
                .then(|| not_yours("The null sender", ""));
        }
        let Ok(address) = Address::parse(sender) else {
            return Some(not_yours("Sender", sender));
        };
        match self.may_send_as(user, &address).await {
            Ok(true) => None,
            Ok(false) => Some(not_yours("Sender", sender)),
            Err(reply) => Some(reply),
        }
    }
}
