//! Sessions and IDLEs per account: a limit on what one logged-in user holds (a client that
//! opens connections without end, a phone and a laptop each idling on every folder), counted
//! only after a successful login, so nobody without the password can use up a user's share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tern_types::AccountId;

#[derive(Debug, Default)]
struct Counts {
    sessions: usize,
    idles: usize,
}

/// The per-account counts of one server's IMAP listeners.
#[derive(Debug, Default, Clone)]
pub(crate) struct UserSessions(Arc<Mutex<HashMap<AccountId, Counts>>>);

/// What a [`UserSessions`] slot counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Session,
    Idle,
}

/// Held while the slot is used; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: UserSessions,
    account: AccountId,
    kind: Kind,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.owner.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counts) = map.get_mut(&self.account) {
            match self.kind {
                Kind::Session => counts.sessions = counts.sessions.saturating_sub(1),
                Kind::Idle => counts.idles = counts.idles.saturating_sub(1),
            }
            if counts.sessions == 0 && counts.idles == 0 {
                map.remove(&self.account);
            }
        }
    }
}

impl UserSessions {
    fn take(&self, account: AccountId, kind: Kind, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let counts = map.entry(account).or_default();
        let used = match kind {
            Kind::Session => &mut counts.sessions,
            Kind::Idle => &mut counts.idles,
        };
        if *used >= max {
            return None;
        }
        *used += 1;
        Some(Slot {
            owner: self.clone(),
            account,
            kind,
        })
    }

    /// A logged-in session of `account`, if it has fewer than `max`.
    pub(crate) fn session(&self, account: AccountId, max: usize) -> Option<Slot> {
        self.take(account, Kind::Session, max)
    }

    /// An IDLE of `account`, if it has fewer than `max`.
    pub(crate) fn idle(&self, account: AccountId, max: usize) -> Option<Slot> {
        self.take(account, Kind::Idle, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_account_and_given_back() {
        let users = UserSessions::default();
        let a = AccountId(1);
        let first = users.session(a, 2).unwrap();
        let _second = users.session(a, 2).unwrap();
        assert!(users.session(a, 2).is_none());
        assert!(users.session(AccountId(2), 2).is_some(), "another account");
        let _idle = users.idle(a, 1).unwrap();
        assert!(users.idle(a, 1).is_none());
        drop(first);
        assert!(users.session(a, 2).is_some());
    }
}
