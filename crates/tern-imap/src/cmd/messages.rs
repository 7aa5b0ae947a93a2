//! STORE, EXPUNGE (and UID EXPUNGE), COPY and MOVE (RFC 9051 §6.4; RFC 4315 UIDPLUS, RFC 6851).

use tern_store::{FlagOp, StoreError};
use tern_types::{Flags, ModSeq, Uid};

use crate::request::Set;
use crate::respond::{tagged, untagged};
use crate::session::{flag_names, store_failure, Selected, Session, State};

/// A UID list as a sequence set (for COPYUID): single UIDs, comma-separated.
/// UIDs in ascending order as a `uid-set` of ranges (RFC 4315 §3: source and destination
/// sets of COPYUID correspond in that order, both ascending here).
fn uid_list(uids: impl Iterator<Item = Uid>) -> String {
    crate::respond::sequence_set(&crate::respond::ranges(uids.map(|u| u.0)))
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn store(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        set: &Set,
        op: FlagOp,
        flags: &Flags,
        silent: bool,
        by_uid: bool,
        unchanged_since: Option<u64>,
    ) {
        if unchanged_since.is_some() {
            self.enable_condstore(out);
        }
        let with_modseq = self.condstore;
        let selected = match selected_for(&self.state, true) {
            Ok(selected) => selected,
            Err((status, text)) => return tagged(out, tag, status, text),
        };
        let uids = match Self::resolve(&selected.uids, set, by_uid) {
            Ok(uids) => uids,
            Err(why) => return tagged(out, tag, "BAD", why),
        };
        // `imap.max_keywords`: a mailbox holds that many keywords at most (as this session
        // knows them: from SELECT on and from what it was told since), so one client cannot
        // grow every FLAGS answer and message row without end. Only a STORE that brings a
        // keyword the mailbox does not have yet is refused: a mailbox already past the limit
        // (a lowered limit, other sessions' APPENDs) still takes \Seen and the keywords it has.
        if op != FlagOp::Remove {
            let limit = self.shared.settings.max_keywords;
            let new = flags
                .keywords()
                .filter(|k| !selected.keywords.contains(*k))
                .count();
            if new > 0
                && (selected.keywords.len() + new > limit || flags.keywords().count() > limit)
            {
                return tagged(
                    out,
                    tag,
                    "NO",
                    &format!("[LIMIT] A mailbox holds {limit} keywords at most"),
                );
            }
        }
        let mailbox = selected.mailbox.id;
        let changed = match self
            .shared
            .stores
            .mailboxes
            .store_flags(mailbox, &uids, op, flags, unchanged_since.map(ModSeq))
            .await
        {
            Ok(changed) => changed,
            Err(e) => return store_failure(out, tag, &e),
        };
        if let State::Selected(_, selected) = &mut self.state {
            selected.announce_keywords(out, changed.iter().map(|r| &r.flags));
        }
        let State::Selected(_, selected) = &self.state else {
            return;
        };
        // RFC 9051 §6.4.6: the new flags of each changed message, unless .SILENT.
        if !silent {
            for record in &changed {
                let Some(seq) = selected.uids.binary_search(&record.uid).ok() else {
                    continue;
                };
                let names = flag_names(&record.flags, !self.rev2 && selected.is_recent(record.uid));
                let uid = if by_uid {
                    format!(" UID {}", record.uid.0)
                } else {
                    String::new()
                };
                let modseq = match with_modseq {
                    true => format!(" MODSEQ ({})", record.modseq.0),
                    false => String::new(),
                };
                untagged(
                    out,
                    &format!("{} FETCH (FLAGS ({names}){uid}{modseq})", seq + 1,),
                );
            }
        }
        // RFC 7162 §3.1.3: what UNCHANGEDSINCE kept from being changed is named in MODIFIED.
        if let Some(since) = unchanged_since {
            let changed: std::collections::HashSet<Uid> = changed.iter().map(|r| r.uid).collect();
            let modified: Vec<String> = match self
                .shared
                .stores
                .mailboxes
                .messages_of(mailbox, &uids)
                .await
            {
                Ok(records) => records
                    .iter()
                    .filter(|r| !changed.contains(&r.uid))
                    .filter(|r| r.modseq.0 > since)
                    .filter_map(|r| match by_uid {
                        true => Some(r.uid.0.to_string()),
                        false => selected
                            .uids
                            .binary_search(&r.uid)
                            .ok()
                            .map(|i| (i + 1).to_string()),
                    })
                    .collect(),
                Err(e) => return store_failure(out, tag, &e),
            };
            if !modified.is_empty() {
                return tagged(
                    out,
                    tag,
                    "OK",
                    &format!(
                        "[MODIFIED {}] Conditional STORE failed for some",
                        modified.join(",")
                    ),
                );
            }
        }
        tagged(out, tag, "OK", "STORE completed");
    }

    /// Removes the selected mailbox's `\Deleted` messages (those in `only`, for UID EXPUNGE)
    /// and reports each with its sequence number (RFC 9051 §7.5.1).
    pub(crate) async fn expunge(&mut self, out: &mut Vec<u8>, tag: &str, only: Option<&Set>) {
        let selected = match selected_for(&self.state, true) {
            Ok(selected) => selected,
            Err((status, text)) => return tagged(out, tag, status, text),
        };
        let within = match only.map(|set| Self::resolve(&selected.uids, set, true)) {
            Some(Ok(uids)) => Some(uids),
            Some(Err(why)) => return tagged(out, tag, "BAD", why),
            None => None,
        };
        let mailbox = selected.mailbox.id;
        let mailboxes = self.shared.stores.mailboxes.clone();
        let removed = match mailboxes.expunge_deleted(mailbox, within.as_deref()).await {
            Ok(removed) => removed,
            Err(e) => return store_failure(out, tag, &e),
        };
        self.forget(out, &removed);
        // Expunges by other sessions and new messages too: EXPUNGE may announce them.
        self.refresh(out).await;
        tagged(out, tag, "OK", "EXPUNGE completed");
    }

    /// Takes expunged messages out of this session's numbering, telling the client.
    fn forget(&mut self, out: &mut Vec<u8>, removed: &[Uid]) {
        let qresync = self.qresync;
        if let State::Selected(_, selected) = &mut self.state {
            super::select::forget_uids(out, selected, removed, qresync);
        }
    }

    pub(crate) async fn copy(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        set: &Set,
        to: &str,
        by_uid: bool,
        remove: bool,
    ) {
        let (from, uids) = {
            let selected = match selected_for(&self.state, remove) {
                Ok(selected) => selected,
                Err((status, text)) => return tagged(out, tag, status, text),
            };
            match Self::resolve(&selected.uids, set, by_uid) {
                Ok(uids) => (selected.mailbox.id, uids),
                Err(why) => return tagged(out, tag, "BAD", why),
            }
        };
        let target = match self.find_mailbox(to).await {
            Ok(target) => target,
            // RFC 9051 §6.4.7: TRYCREATE tells the client CREATE would help.
            Err(why) if why.starts_with("[NONEXISTENT]") => {
                return tagged(out, tag, "NO", "[TRYCREATE] No such mailbox")
            }
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        let mailboxes = &self.shared.stores.mailboxes;
        let result = match remove {
            true => mailboxes.move_messages(from, &uids, target.id).await,
            false => mailboxes.copy_messages(from, &uids, target.id).await,
        };
        let pairs = match result {
            Ok(pairs) => pairs,
            Err(StoreError::OverQuota(_)) => {
                return tagged(out, tag, "NO", "[OVERQUOTA] The mailbox is full")
            }
            Err(e) => return store_failure(out, tag, &e),
        };
        // RFC 4315 §3: COPYUID destination-UIDVALIDITY source-UIDs destination-UIDs.
        let code = match pairs.is_empty() {
            true => String::new(),
            false => format!(
                "[COPYUID {} {} {}] ",
                target.uid_validity.0,
                uid_list(pairs.iter().map(|p| p.0)),
                uid_list(pairs.iter().map(|p| p.1))
            ),
        };
        if remove {
            // RFC 6851 §4.3: the COPYUID goes in an untagged OK before the expunges.
            if !code.is_empty() {
                untagged(out, &format!("OK {code}Moved"));
            }
            let moved: Vec<Uid> = pairs.iter().map(|p| p.0).collect();
            self.forget(out, &moved);
            // A move within the mailbox (RFC 6851 allows it) brings new UIDs: EXISTS.
            if self.selected_mailbox() == Some(target.id) {
                self.refresh(out).await;
            }
            tagged(out, tag, "OK", "MOVE completed");
        } else {
            if self.selected_mailbox() == Some(target.id) {
                self.refresh(out).await;
            }
            tagged(out, tag, "OK", &format!("{code}COPY completed"));
        }
    }
}

/// The selected mailbox, for a command that reads it or (`changes`) changes it; else the
/// status and text to refuse with: BAD with none selected, NO [READ-ONLY] when it was
/// opened with EXAMINE (RFC 9051 §6.3.3).
fn selected_for(state: &State, changes: bool) -> Result<&Selected, (&'static str, &'static str)> {
    match state {
        State::Selected(_, selected) if changes && selected.read_only => {
            Err(("NO", "[READ-ONLY] The mailbox is selected read-only"))
        }
        State::Selected(_, selected) => Ok(selected),
        _ => Err(("BAD", "No mailbox selected")),
    }
}
