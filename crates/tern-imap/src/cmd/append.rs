//! APPEND (RFC 9051 §6.3.12) with UIDPLUS's APPENDUID (RFC 4315 §3). The message goes through
//! the same blob writer as SMTP delivery, so its MIME structure is recorded in the same commit.

use tern_message::binary::without_nul;
use tern_message::mime::MimeLimits;
use tern_store::{NewMessage, StoreError};
use tern_types::Uid;

use crate::request::Appending;
use crate::respond::tagged;
use crate::session::{store_failure, Session, State};

use tern_types::unix_now as now;

impl Session {
    /// APPEND of one message or, with MULTIAPPEND (RFC 3502), of several: all of them are
    /// stored in one commit or none is.
    pub(crate) async fn append(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        messages: Vec<Appending>,
    ) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) if why.starts_with("[NONEXISTENT]") => {
                return tagged(out, tag, "NO", "[TRYCREATE] No such mailbox")
            }
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        // `imap.max_keywords` on one message (the mailbox's own count is checked by STORE).
        let limit = self.shared.settings.max_keywords;
        if messages.iter().any(|m| m.flags.keywords().count() > limit) {
            return tagged(
                out,
                tag,
                "NO",
                &format!("[LIMIT] A message holds {limit} keywords at most"),
            );
        }
        // RFC 3502 §6.3.11: a zero-length message is an error, answered NO (a client cancels
        // a MULTIAPPEND this way), and nothing is appended.
        if messages.iter().any(|m| m.message.is_empty()) {
            return tagged(out, tag, "NO", "An empty message cannot be appended");
        }
        let stores = &self.shared.stores;
        let mut staged = Vec::with_capacity(messages.len());
        let flags: Vec<tern_types::Flags> = messages.iter().map(|m| m.flags.clone()).collect();
        for appending in messages {
            // No literal may carry a NUL (RFC 9051 §4.3): parts holding one are stored in
            // base64 (RFC 3516 §4.4), so BODY[] can send them and BINARY[] decodes them.
            let message = match without_nul(&appending.message, &MimeLimits::default()) {
                Ok(None) => appending.message,
                Ok(Some(converted)) => converted,
                Err(e) => return tagged(out, tag, "NO", &format!("[CANNOT] {e}")),
            };
            let blob = match stores.blobs.stage(message).await {
                Ok(blob) => blob,
                Err(e) => return store_failure(out, tag, &e),
            };
            staged.push(NewMessage {
                blob,
                prefix: Vec::new(),
                flags: appending.flags,
                internal_date: appending.date.unwrap_or_else(now),
            });
        }
        // Into the mailbox this session has selected read-write, the new messages are \Recent
        // to it (RFC 3501 §2.3.2), taken in the append's own commit.
        let take_recent = matches!(
            &self.state,
            State::Selected(_, s) if s.mailbox.id == mailbox.id && !s.read_only
        );
        match stores
            .mailboxes
            .append_all(mailbox.id, staged, take_recent)
            .await
        {
            // Durable before the OK (DESIGN principle 2): the store commits with fsync.
            Ok(appended) => {
                if let (State::Selected(_, selected), Some(first), Some(last)) =
                    (&mut self.state, appended.first(), appended.last())
                {
                    if first.recent {
                        selected.take_recent(first.uid..Uid(last.uid.0 + 1));
                    }
                }
                // RFC 9051 §6.3.12: into the selected mailbox, EXISTS at once.
                if self.selected_mailbox() == Some(mailbox.id)
                    && !self.learn_own_appends(out, &appended, &flags)
                {
                    self.refresh(out).await;
                }
                // RFC 4315 §3: APPENDUID with the UIDs in the order the messages came, a set
                // only when there were several.
                let uid_set = crate::respond::sequence_set(&crate::respond::ranges(
                    appended.iter().map(|a| a.uid.0),
                ));
                tagged(
                    out,
                    tag,
                    "OK",
                    &format!(
                        "[APPENDUID {} {uid_set}] APPEND completed",
                        mailbox.uid_validity.0
                    ),
                )
            }
            Err(StoreError::OverQuota(_)) => {
                tagged(out, tag, "NO", "[OVERQUOTA] The mailbox is full")
            }
            Err(e) => store_failure(out, tag, &e),
        }
    }
}
