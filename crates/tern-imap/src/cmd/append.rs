//! APPEND (RFC 9051 §6.3.12) with UIDPLUS's APPENDUID (RFC 4315 §3). The message goes through
//! the same blob writer as SMTP delivery, so its MIME structure is recorded in the same commit.

use tern_store::{NewMessage, StoreError};
use tern_types::Flags;

use crate::respond::tagged;
use crate::session::{store_failure, Session};

use tern_types::unix_now as now;

impl Session {
    pub(crate) async fn append(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        flags: Flags,
        date: Option<i64>,
        message: Vec<u8>,
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
        if message.is_empty() {
            return tagged(out, tag, "BAD", "An empty message cannot be appended");
        }
        let stores = &self.shared.stores;
        let blob = match stores.blobs.stage(message).await {
            Ok(blob) => blob,
            Err(e) => return store_failure(out, tag, &e),
        };
        let appended = stores
            .mailboxes
            .append(
                mailbox.id,
                NewMessage {
                    blob,
                    prefix: Vec::new(),
                    flags,
                    internal_date: date.unwrap_or_else(now),
                },
            )
            .await;
        match appended {
            // Durable before the OK (DESIGN principle 2): the store commits with fsync.
            Ok(appended) => {
                // RFC 9051 §6.3.12: into the selected mailbox, EXISTS at once.
                if self.selected_mailbox() == Some(mailbox.id) {
                    self.refresh(out).await;
                }
                tagged(
                    out,
                    tag,
                    "OK",
                    &format!(
                        "[APPENDUID {} {}] APPEND completed",
                        appended.uid_validity.0, appended.uid.0
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
