//! SEARCH (RFC 9051 §6.4.4, RFC 4731 ESEARCH), SORT and THREAD (RFC 5256) over the selected
//! mailbox.

use tern_store::MessageRecord;
use tern_types::Uid;

use crate::extended::SearchReturn;
use crate::respond::{string, tagged, untagged};
use crate::session::{store_failure, Session, State};

impl Session {
    /// What SEARCH, SORT and THREAD share: a selected mailbox, a known charset and known keys,
    /// then the search; `None` once the refusal has been written.
    pub(crate) async fn matching(
        &self,
        out: &mut Vec<u8>,
        tag: &str,
        key: Option<crate::search::Key>,
        charset_ok: bool,
    ) -> Option<(crate::search::Key, Vec<MessageRecord>)> {
        let State::Selected(_, selected) = &self.state else {
            tagged(out, tag, "BAD", "No mailbox selected");
            return None;
        };
        if !charset_ok {
            tagged(
                out,
                tag,
                "NO",
                "[BADCHARSET (UTF-8 US-ASCII)] Unknown charset",
            );
            return None;
        }
        let Some(mut key) = key else {
            tagged(
                out,
                tag,
                "NO",
                "[CANNOT] A search key this version does not know",
            );
            return None;
        };
        key.set_recent(&selected.recent_set());
        let stores = &self.shared.stores;
        match crate::search::run(stores, selected.mailbox.id, &selected.uids, &key).await {
            Ok(found) => Some((key, found)),
            Err(e) => {
                store_failure(out, tag, &e);
                None
            }
        }
    }

    /// What SORT and THREAD start from: the selected mailbox and the records of the messages
    /// the criteria match (read once, by the search); `None` once the refusal has been
    /// written.
    async fn matching_records(
        &self,
        out: &mut Vec<u8>,
        tag: &str,
        key: Option<crate::search::Key>,
        charset_ok: bool,
    ) -> Option<(&crate::session::Selected, Vec<MessageRecord>)> {
        let (_, found) = self.matching(out, tag, key, charset_ok).await?;
        let State::Selected(_, selected) = &self.state else {
            return None;
        };
        Some((selected, found))
    }

    /// ` n n n`: UIDs, or this session's sequence numbers of them.
    pub(crate) fn numbers(&self, uids: impl Iterator<Item = Uid>, by_uid: bool) -> String {
        let State::Selected(_, selected) = &self.state else {
            return String::new();
        };
        uids.filter_map(|uid| match by_uid {
            true => Some(uid.0 as usize),
            false => selected.uids.binary_search(&uid).ok().map(|i| i + 1),
        })
        .map(|n| format!(" {n}"))
        .collect()
    }

    pub(crate) async fn search(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
        returning: Option<SearchReturn>,
    ) {
        // RFC 9051 §6.4.4: an IMAP4rev2 client is answered with ESEARCH, ALL when it asked
        // for nothing else.
        let returning = match (returning, self.rev2) {
            (None, true) => Some(SearchReturn {
                all: true,
                ..SearchReturn::default()
            }),
            (returning, _) => returning,
        };
        let save = returning.is_some_and(|r| r.save);
        let Some((key, found)) = self.matching(out, tag, key, charset_ok).await else {
            // RFC 5182 §2.1: a SAVE search that fails leaves `$` empty.
            if save {
                self.saved.clear();
            }
            return;
        };
        // RFC 7162 §3.1.5: a MODSEQ search answers with the highest mod-sequence it found.
        let highest = match key.uses_modseq() {
            true => found.iter().map(|r| r.modseq.0).max(),
            false => None,
        };
        if key.uses_modseq() {
            self.enable_condstore(out);
        }
        if save {
            self.save_result(&found, returning.unwrap_or_default());
        }
        if let Some(returning) = returning {
            // RFC 5182 §2.4: SAVE alone answers with nothing but the tagged OK.
            if returning
                == (SearchReturn {
                    save: true,
                    ..SearchReturn::default()
                })
            {
                return tagged(out, tag, "OK", "SEARCH completed, result saved");
            }
            let numbers: Vec<u32> = self
                .numbers(found.iter().map(|r| r.uid), by_uid)
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            // RFC 7162 §3.1.10: with only MIN and/or MAX, the mod-sequence of the messages
            // returned; with ALL or COUNT, the highest of all that matched.
            let highest = match (highest, returning.all || returning.count) {
                (Some(_), false) => {
                    let ends = [
                        found.first().filter(|_| returning.min),
                        found.last().filter(|_| returning.max),
                    ];
                    ends.into_iter().flatten().map(|r| r.modseq.0).max()
                }
                (highest, _) => highest,
            };
            let line = esearch(tag, by_uid, &numbers, returning, highest);
            untagged(out, &line);
            return tagged(out, tag, "OK", "SEARCH completed");
        }
        let mut line = format!(
            "SEARCH{}",
            self.numbers(found.iter().map(|r| r.uid), by_uid)
        );
        if let Some(highest) = highest {
            line.push_str(&format!(" (MODSEQ {highest})"));
        }
        untagged(out, &line);
        tagged(out, tag, "OK", "SEARCH completed");
    }

    /// RFC 5182 §2.4 (RFC 9051 §6.4.4.2): what SAVE keeps: the MIN and/or MAX message when
    /// only they were asked for, otherwise every message found.
    fn save_result(&mut self, found: &[MessageRecord], returning: SearchReturn) {
        let ends_only = (returning.min || returning.max) && !(returning.all || returning.count);
        self.saved = match ends_only {
            true => {
                let mut ends = Vec::new();
                if let (true, Some(first)) = (returning.min, found.first()) {
                    ends.push(first.uid);
                }
                if let (true, Some(last)) = (returning.max, found.last()) {
                    ends.push(last.uid);
                }
                ends.dedup();
                ends
            }
            false => found.iter().map(|r| r.uid).collect(),
        };
    }

    pub(crate) async fn sort(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        order: &crate::sort::Order,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
    ) {
        let Some((selected, found)) = self.matching_records(out, tag, key, charset_ok).await else {
            return;
        };
        let stores = &self.shared.stores;
        let mailbox = selected.mailbox.id;
        let sorted = match crate::sort::sort(stores, mailbox, &selected.uids, &found, order).await {
            Ok(sorted) => sorted,
            Err(e) => return store_failure(out, tag, &e),
        };
        untagged(
            out,
            &format!("SORT{}", self.numbers(sorted.into_iter(), by_uid)),
        );
        tagged(out, tag, "OK", "SORT completed");
    }

    pub(crate) async fn thread(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        ordered_subject: Option<bool>,
        key: Option<crate::search::Key>,
        charset_ok: bool,
        by_uid: bool,
    ) {
        let Some(ordered_subject) = ordered_subject else {
            return tagged(
                out,
                tag,
                "NO",
                "[CANNOT] The algorithms offered are ORDEREDSUBJECT and REFERENCES",
            );
        };
        let Some((selected, found)) = self.matching_records(out, tag, key, charset_ok).await else {
            return;
        };
        let stores = &self.shared.stores;
        let mailbox = selected.mailbox.id;
        let threads = match ordered_subject {
            true => {
                crate::thread::ordered_subject(stores, mailbox, &selected.uids, &found, by_uid)
                    .await
            }
            false => {
                crate::thread::references(stores, mailbox, &selected.uids, &found, by_uid).await
            }
        };
        match threads {
            Ok(threads) if threads.is_empty() => untagged(out, "THREAD"),
            Ok(threads) => untagged(out, &format!("THREAD {threads}")),
            Err(e) => return store_failure(out, tag, &e),
        }
        tagged(out, tag, "OK", "THREAD completed");
    }
}

/// RFC 4731 §3.1 (RFC 9051 §7.3.4): `ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL
/// set]` for ascending `numbers`; MIN, MAX and ALL are left out when nothing matched. A MODSEQ
/// search adds the highest mod-sequence found (RFC 7162 §3.1.10).
fn esearch(
    tag: &str,
    by_uid: bool,
    numbers: &[u32],
    returning: SearchReturn,
    highest: Option<u64>,
) -> String {
    let mut line = String::from("ESEARCH (TAG ");
    let mut quoted = Vec::new();
    string(&mut quoted, tag, false);
    line.push_str(&String::from_utf8_lossy(&quoted));
    line.push(')');
    if by_uid {
        line.push_str(" UID");
    }
    if let (true, Some(min)) = (returning.min, numbers.first()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (returning.max, numbers.last()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if returning.count {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if returning.all && !numbers.is_empty() {
        let ranges = crate::respond::ranges(numbers.iter().copied());
        line.push_str(&format!(" ALL {}", crate::respond::sequence_set(&ranges)));
    }
    if let (Some(highest), false) = (highest, numbers.is_empty()) {
        line.push_str(&format!(" MODSEQ {highest}"));
    }
    line
}
