//! The maildrop: the INBOX as one session sees it, and the lock that makes that session the
//! only one (RFC 1939 §8: the server should acquire an exclusive-access lock on the maildrop).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tern_store::{StoreResult, Stores};
use tern_types::{AccountId, MailboxId, Uid, UidValidity};

/// Which maildrops are in use. The lock lives in the server's memory and each holder gives it
/// back when its session ends, however it ends; a killed server holds none after its restart.
#[derive(Debug, Default)]
pub struct MaildropLocks {
    held: Mutex<HashSet<AccountId>>,
}

/// An exclusive hold on one maildrop, released when dropped.
#[derive(Debug)]
pub(crate) struct MaildropLock {
    locks: Arc<MaildropLocks>,
    account: AccountId,
}

impl MaildropLocks {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `None` when another session holds the maildrop.
    pub(crate) fn try_lock(self: &Arc<Self>, account: AccountId) -> Option<MaildropLock> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(account).then(|| MaildropLock {
            locks: self.clone(),
            account,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.account);
    }
}

/// One message as the session numbers it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) uid: Uid,
    /// Octets as RETR sends them.
    pub(crate) size: u64,
    pub(crate) deleted: bool,
}

/// The snapshot taken at login: messages that arrive later are not seen until the next session
/// (RFC 1939 §5: numbers stay fixed for the session).
#[derive(Debug)]
pub(crate) struct Maildrop {
    pub(crate) mailbox: MailboxId,
    pub(crate) uid_validity: UidValidity,
    pub(crate) entries: Vec<Entry>,
    _lock: MaildropLock,
}

impl Maildrop {
    pub(crate) async fn open(
        stores: &Stores,
        account: AccountId,
        lock: MaildropLock,
    ) -> StoreResult<Self> {
        let inbox = stores.mailboxes.mailbox(account, "INBOX").await?;
        let sizes = stores.mailboxes.wire_sizes(inbox.id).await?;
        Ok(Self {
            mailbox: inbox.id,
            uid_validity: inbox.uid_validity,
            entries: sizes
                .into_iter()
                .map(|(uid, size)| Entry {
                    uid,
                    size,
                    deleted: false,
                })
                .collect(),
            _lock: lock,
        })
    }

    /// The message numbered `n` (from 1), unless it does not exist or is marked deleted.
    pub(crate) fn get(&self, n: u32) -> Option<&Entry> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.entries.get(index).filter(|e| !e.deleted)
    }

    /// The message numbered `n`, to mark it deleted; `None` as for [`Maildrop::get`].
    pub(crate) fn get_mut(&mut self, n: u32) -> Option<&mut Entry> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.entries.get_mut(index).filter(|e| !e.deleted)
    }

    /// RFC 1939 §7 UIDL: unique within the account and stable across sessions. The INBOX's
    /// UIDVALIDITY and the message's UID never repeat together.
    pub(crate) fn unique_id(&self, entry: &Entry) -> String {
        format!("{}.{}", self.uid_validity, entry.uid)
    }

    /// Messages not marked deleted, and their total size (STAT).
    pub(crate) fn totals(&self) -> (usize, u64) {
        self.entries
            .iter()
            .filter(|e| !e.deleted)
            .fold((0, 0), |(n, size), e| (n + 1, size + e.size))
    }
}
