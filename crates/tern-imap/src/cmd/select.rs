//! SELECT, EXAMINE and CLOSE (RFC 9051 §6.3.2, §6.3.3, §6.4.1), QRESYNC's resynchronisation
//! (RFC 7162 §3.2.5), and `refresh`: telling a session what other sessions changed.

use tern_store::{MailboxInfo, MessageRecord, StoreError};
use tern_types::{Flag, ModSeq, Uid};

use crate::request::{Resync, Set};
use crate::respond::{tagged, untagged};
use crate::session::{flag_names, store_failure, Selected, Session, State};

impl Session {
    pub(crate) async fn select(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        name: &str,
        read_only: bool,
        resync: Option<Resync>,
    ) {
        let Some(account) = self.account().cloned() else {
            tagged(out, tag, "BAD", "Log in first");
            return;
        };
        if resync.is_some() && !self.qresync {
            // RFC 7162 §3.2.5.
            return tagged(out, tag, "BAD", "QRESYNC needs ENABLE QRESYNC first");
        }
        if matches!(self.state, State::Selected(..)) {
            // RFC 7162 §3.2.11 / RFC 9051 §7.1: what follows is of the new mailbox.
            untagged(out, "OK [CLOSED] Previous mailbox closed");
        }
        // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
        self.state = State::Authenticated(account.clone());
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => {
                tagged(out, tag, "NO", &why);
                return;
            }
        };
        let records = match self
            .shared
            .stores
            .mailboxes
            .messages(mailbox.id, Uid(1))
            .await
        {
            Ok(records) => records,
            Err(e) => return store_failure(out, tag, &e),
        };
        let modseq = records
            .iter()
            .map(|r| r.modseq)
            .max()
            .unwrap_or(ModSeq(0))
            .max(mailbox.highest_modseq);
        // RFC 3501 §2.3.2: SELECT takes the messages no session has seen as recent; EXAMINE
        // sees them without taking them.
        let recent = match read_only {
            true => mailbox.recent_uid..Uid(u32::MAX),
            // Nothing waits to be claimed: no writer round trip (what arrives later is
            // claimed when this session learns of it).
            false if mailbox.recent_uid >= mailbox.uid_next => {
                mailbox.recent_uid..mailbox.recent_uid
            }
            false => match self.shared.stores.mailboxes.claim_recent(mailbox.id).await {
                Ok(claimed) => claimed,
                Err(e) => return store_failure(out, tag, &e),
            },
        };
        let mut selected = Selected {
            mailbox,
            read_only,
            uids: records.iter().map(|r| r.uid).collect(),
            modseq,
            keywords: Default::default(),
            claimed_upto: recent.end,
            recent: vec![recent],
        };
        selected.announce_keywords(&mut Vec::new(), records.iter().map(|r| &r.flags));
        // RFC 9051 §6.3.2 / RFC 3501 §6.3.1: FLAGS, EXISTS, (RECENT), UNSEEN, UIDVALIDITY,
        // UIDNEXT, PERMANENTFLAGS, then the tagged OK with the access mode.
        untagged(out, &selected.flags_line());
        untagged(out, &format!("{} EXISTS", records.len()));
        if self.rev2 {
            // RFC 9051 §6.3.2: LIST with the mailbox's name and attributes; RECENT and
            // [UNSEEN] are IMAP4rev1's only (Appendix E items 11 and 12).
            let mailboxes = match self
                .shared
                .stores
                .mailboxes
                .list_mailboxes(account.id)
                .await
            {
                Ok(mailboxes) => mailboxes,
                Err(e) => return store_failure(out, tag, &e),
            };
            let attributes = Self::attributes(
                &selected.mailbox,
                &crate::cmd::mailboxes::ByName::new(&mailboxes),
            );
            out.extend_from_slice(&self.list_line("LIST", &selected.mailbox.name, &attributes));
        } else {
            untagged(out, &format!("{} RECENT", selected.recent_count()));
            if let Some(first) = records.iter().position(|r| !r.flags.contains(&Flag::Seen)) {
                untagged(out, &format!("OK [UNSEEN {}] First unseen", first + 1));
            }
        }
        let mailbox = &selected.mailbox;
        untagged(
            out,
            &format!("OK [UIDVALIDITY {}] UIDs valid", mailbox.uid_validity.0),
        );
        untagged(
            out,
            &format!("OK [UIDNEXT {}] Predicted next UID", mailbox.uid_next.0),
        );
        // RFC 8474 §4.1.
        untagged(
            out,
            &format!(
                "OK [MAILBOXID ({})] Ok",
                crate::respond::mailbox_id(mailbox)
            ),
        );
        // RFC 7162 §3.1.2.1: every SELECT of a mailbox with persistent mod-sequences says it.
        let highest = records
            .iter()
            .map(|r| r.modseq)
            .max()
            .unwrap_or(ModSeq(0))
            .max(mailbox.highest_modseq);
        untagged(
            out,
            &format!("OK [HIGHESTMODSEQ {}] Highest", highest.0.max(1)),
        );
        untagged(out, &selected.permanent_flags_line());
        if let Some(resync) = resync.filter(|r| r.uid_validity == mailbox.uid_validity.0) {
            if let Err(e) = self
                .resync(out, mailbox, &records, &resync, |uid| {
                    selected.is_recent(uid)
                })
                .await
            {
                return store_failure(out, tag, &e);
            }
        }
        let mode = if read_only {
            "[READ-ONLY]"
        } else {
            "[READ-WRITE]"
        };
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        tagged(out, tag, "OK", &format!("{mode} {verb} completed"));
        self.state = State::Selected(account, selected);
        // RFC 5182 §2.1: a new selection starts with an empty saved result.
        self.saved.clear();
    }

    /// After an APPEND into the selected mailbox: when the appended messages are the only
    /// change since the session last looked (their MODSEQs follow the one it knows, one
    /// each, RFC 7162 §3.1.1) and their `\Recent` is settled, the session learns of them from
    /// the APPEND's own answer (EXISTS, and FLAGS for a new keyword) without asking the
    /// store. False when something else may have changed: the caller refreshes.
    pub(crate) fn learn_own_appends(
        &mut self,
        out: &mut Vec<u8>,
        appended: &[tern_store::Appended],
        flags: &[tern_types::Flags],
    ) -> bool {
        let rev2 = self.rev2;
        let State::Selected(_, selected) = &mut self.state else {
            return false;
        };
        let (Some(first), Some(last)) = (appended.first(), appended.last()) else {
            return false;
        };
        let only_ours = first.modseq.0 == selected.modseq.0 + 1
            && last.modseq.0 == selected.modseq.0 + appended.len() as u64
            && selected.uids.last().is_none_or(|known| *known < first.uid);
        if !only_ours || !(first.recent || selected.read_only) {
            return false;
        }
        selected.announce_keywords(out, flags);
        selected.uids.extend(appended.iter().map(|a| a.uid));
        selected.modseq = last.modseq;
        untagged(out, &format!("{} EXISTS", selected.uids.len()));
        // RFC 3501 §7.3.2: RECENT follows when it changed (IMAP4rev1 only).
        if !rev2 {
            untagged(out, &format!("{} RECENT", selected.recent_count()));
        }
        true
    }

    /// What changed in the selected mailbox since the session last looked (the change log,
    /// by MODSEQ): expunged messages as EXPUNGE, new ones as EXISTS, other sessions' flag
    /// changes as FETCH FLAGS (RFC 9051 §7.4.1, §7.5.1, §7.5.2). Sent only where RFC 9051
    /// §7 allows expunges to be announced: NOOP, CHECK, IDLE.
    pub(crate) async fn refresh(&mut self, out: &mut Vec<u8>) {
        let State::Selected(_, selected) = &mut self.state else {
            return;
        };
        let Ok(changes) = self
            .shared
            .stores
            .mailboxes
            .changes_since(selected.mailbox.id, selected.modseq)
            .await
        else {
            return;
        };
        let mut expunged = changes.expunged;
        if changes.log_floor > selected.modseq {
            // The expunge log no longer reaches back to what this session knew (its floor,
            // `store.expunge_log_max`): what the session knows and the mailbox no longer has
            // is gone.
            let Ok(present) = self
                .shared
                .stores
                .mailboxes
                .messages_of(selected.mailbox.id, &selected.uids)
                .await
            else {
                return;
            };
            let present: Vec<Uid> = present.iter().map(|r| r.uid).collect();
            expunged = selected
                .uids
                .iter()
                .filter(|uid| present.binary_search(uid).is_err())
                .copied()
                .collect();
        }
        forget_uids(out, selected, &expunged, self.qresync);
        selected.announce_keywords(out, changes.changed.iter().map(|r| &r.flags));
        let known = selected.uids.last().copied().unwrap_or(Uid(0));
        let mut added = false;
        for record in &changes.changed {
            if record.uid > known {
                selected.uids.push(record.uid);
                added = true;
            } else if let Ok(index) = selected.uids.binary_search(&record.uid) {
                let names = flag_names(&record.flags, !self.rev2 && selected.is_recent(record.uid));
                let modseq = match self.condstore {
                    true => format!(" MODSEQ ({})", record.modseq.0),
                    false => String::new(),
                };
                untagged(
                    out,
                    &format!(
                        "{} FETCH (FLAGS ({names}) UID {}{modseq})",
                        index + 1,
                        record.uid.0
                    ),
                );
            }
        }
        if added {
            // RFC 3501 §2.3.2: new messages are recent to the first session that learns of
            // them (a read-write one).
            let unclaimed = selected
                .uids
                .last()
                .is_some_and(|u| *u >= selected.claimed_upto);
            if !selected.read_only && unclaimed {
                if let Ok(claimed) = self
                    .shared
                    .stores
                    .mailboxes
                    .claim_recent(selected.mailbox.id)
                    .await
                {
                    selected.take_recent(claimed);
                }
            }
            untagged(out, &format!("{} EXISTS", selected.uids.len()));
            // RFC 3501 §7.3.2: RECENT follows when it changed (IMAP4rev1 only).
            if !self.rev2 {
                untagged(out, &format!("{} RECENT", selected.recent_count()));
            }
        }
        selected.modseq = selected.modseq.max(changes.highest_modseq);
    }

    /// RFC 7162 §3.2.5.1: after SELECT's own responses, what a QRESYNC client missed since
    /// the MODSEQ it knew: VANISHED (EARLIER), then FETCH of the messages changed since.
    pub(crate) async fn resync(
        &self,
        out: &mut Vec<u8>,
        mailbox: &MailboxInfo,
        records: &[MessageRecord],
        resync: &Resync,
        is_recent: impl Fn(Uid) -> bool,
    ) -> Result<(), StoreError> {
        let changes = self
            .shared
            .stores
            .mailboxes
            .changes_since(mailbox.id, ModSeq(resync.modseq))
            .await?;
        let present: Vec<Uid> = records.iter().map(|r| r.uid).collect();
        let known = resync.known_uids.as_ref();
        let gone =
            crate::vanished::since(&changes, resync.modseq, &present, mailbox.uid_next, known);
        if !gone.is_empty() {
            untagged(
                out,
                &format!("VANISHED (EARLIER) {}", crate::respond::sequence_set(&gone)),
            );
        }
        let last = mailbox.uid_next.0.saturating_sub(1);
        for record in &changes.changed {
            if known.is_some_and(|set| !set.contains(record.uid.0, last)) {
                continue;
            }
            let Ok(index) = present.binary_search(&record.uid) else {
                continue;
            };
            let names = flag_names(&record.flags, !self.rev2 && is_recent(record.uid));
            untagged(
                out,
                &format!(
                    "{} FETCH (UID {} FLAGS ({names}) MODSEQ ({}))",
                    index + 1,
                    record.uid.0,
                    record.modseq.0
                ),
            );
        }
        Ok(())
    }

    /// RFC 7162 §3.2.6: UID FETCH (CHANGEDSINCE n VANISHED) first names the UIDs of `set`
    /// expunged since n, as VANISHED (EARLIER).
    pub(crate) async fn tell_vanished(
        &self,
        out: &mut Vec<u8>,
        since: u64,
        set: Option<&Set>,
    ) -> Result<(), StoreError> {
        let State::Selected(_, selected) = &self.state else {
            return Ok(());
        };
        let mailboxes = &self.shared.stores.mailboxes;
        let changes = mailboxes
            .changes_since(selected.mailbox.id, ModSeq(since))
            .await?;
        // Below the log's floor the answer is worked out from what the mailbox holds now.
        let present: Vec<Uid> = match since < changes.log_floor.0 {
            true => mailboxes
                .messages(selected.mailbox.id, Uid(1))
                .await?
                .iter()
                .map(|r| r.uid)
                .collect(),
            false => Vec::new(),
        };
        let gone = crate::vanished::since(&changes, since, &present, changes.uid_next, set);
        if !gone.is_empty() {
            untagged(
                out,
                &format!("VANISHED (EARLIER) {}", crate::respond::sequence_set(&gone)),
            );
        }
        Ok(())
    }

    pub(crate) async fn close(&mut self, out: &mut Vec<u8>, tag: &str, expunge: bool) {
        let state = std::mem::replace(&mut self.state, State::NotAuthenticated);
        let State::Selected(account, selected) = state else {
            self.state = state;
            tagged(out, tag, "BAD", "No mailbox selected");
            return;
        };
        self.state = State::Authenticated(account);
        // RFC 9051 §6.4.1: CLOSE removes \Deleted messages silently (not in read-only mode).
        if expunge && !selected.read_only {
            let mailboxes = &self.shared.stores.mailboxes;
            if let Err(e) = mailboxes.expunge_deleted(selected.mailbox.id, None).await {
                return store_failure(out, tag, &e);
            }
        }
        tagged(out, tag, "OK", "Mailbox closed");
    }
}

/// Takes expunged UIDs out of a session's numbering and tells the client: one EXPUNGE per
/// message (RFC 9051 §7.5.1), or after ENABLE QRESYNC one VANISHED for them all (RFC 7162
/// §3.2.10), which clients of QRESYNC must get instead.
pub(crate) fn forget_uids(out: &mut Vec<u8>, selected: &mut Selected, gone: &[Uid], qresync: bool) {
    let mut gone: Vec<Uid> = gone
        .iter()
        .copied()
        .filter(|uid| selected.uids.binary_search(uid).is_ok())
        .collect();
    if gone.is_empty() {
        return;
    }
    gone.sort_unstable();
    gone.dedup();
    let mut vanished = Vec::new();
    // Each EXPUNGE names the number the message has once the ones before it are gone.
    for (already, uid) in gone.iter().enumerate() {
        match (qresync, selected.uids.binary_search(uid)) {
            (true, _) => vanished.push(*uid),
            (false, Ok(index)) => untagged(out, &format!("{} EXPUNGE", index + 1 - already)),
            (false, Err(_)) => {}
        }
    }
    // One pass, not a `Vec::remove` per message (quadratic on a large expunge).
    selected.uids.retain(|uid| gone.binary_search(uid).is_err());
    if !vanished.is_empty() {
        vanished.sort_unstable();
        let ranges = crate::respond::ranges(vanished.iter().map(|u| u.0));
        untagged(
            out,
            &format!("VANISHED {}", crate::respond::sequence_set(&ranges)),
        );
    }
}
