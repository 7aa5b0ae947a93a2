//! FETCH and UID FETCH (RFC 9051 §6.4.5): items from the stored record and structure, bodies
//! streamed from the store.

use std::collections::{HashSet, VecDeque};

use tern_message::mime::{body_structure, imap_envelope, ImapStrings, MessageMeta};
use tern_store::{FlagOp, MessageRecord, StoreError};
use tern_types::{Flag, Flags, MailboxId, Uid};

use crate::request::{Item, Label, Set};
use crate::respond::tagged;
use crate::section::{header_fields, BodySection};
use crate::session::{flag_names, store_failure, Next, Outcome, Piece, Session, State};

impl Session {
    pub(crate) async fn fetch(
        &mut self,
        mut out: Vec<u8>,
        tag: &str,
        set: &Set,
        items: &[Item],
        by_uid: bool,
        changed_since: Option<u64>,
    ) -> Outcome {
        // RFC 7162 §3.1.4: CHANGEDSINCE implies MODSEQ; either turns CONDSTORE on.
        let with_modseq = changed_since.is_some() || items.contains(&Item::ModSeq);
        if with_modseq {
            self.enable_condstore(&mut out);
        }
        let State::Selected(_, selected) = &self.state else {
            tagged(&mut out, tag, "BAD", "No mailbox selected");
            return Outcome::done(out);
        };
        let wanted = match Self::resolve(&selected.uids, set, by_uid) {
            Ok(w) => w,
            Err(why) => {
                tagged(&mut out, tag, "BAD", why);
                return Outcome::done(out);
            }
        };
        let (mailbox, read_only) = (selected.mailbox.id, selected.read_only);
        let mailboxes = self.shared.stores.mailboxes.clone();
        let strings = self.strings();
        let recent = match self.rev2 {
            true => Vec::new(),
            false => selected.recent.clone(),
        };
        // RFC 9051 §6.4.5: fetching a body without .PEEK sets \Seen (not in read-only mode).
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    Item::Body { seen: true, .. } | Item::Binary { seen: true, .. }
                )
            });
        // The messages that got \Seen so: their new flags go in their answer (RFC 3501 §6.4.5).
        let mut newly_seen = HashSet::new();
        if sets_seen && !wanted.is_empty() {
            let seen: Flags = [Flag::Seen].into_iter().collect();
            match mailboxes
                .store_flags(mailbox, &wanted, FlagOp::Add, &seen, None)
                .await
            {
                Ok(changed) => newly_seen.extend(changed.iter().map(|r| r.uid)),
                Err(e) => {
                    store_failure(&mut out, tag, &e);
                    return Outcome::done(out);
                }
            }
        }
        let records: Vec<MessageRecord> = match mailboxes.messages_of(mailbox, &wanted).await {
            Ok(r) => r,
            Err(e) => {
                store_failure(&mut out, tag, &e);
                return Outcome::done(out);
            }
        };
        let run = FetchRun {
            tag: tag.to_string(),
            items: items.to_vec(),
            by_uid,
            changed_since,
            with_modseq,
            mailbox,
            wanted,
            at: 0,
            records,
            record_at: 0,
            metas: VecDeque::new(),
            newly_seen,
            strings,
            recent,
        };
        self.fetch_window(out, Box::new(run)).await
    }

    /// The next window of a FETCH's answers: up to [`WINDOW_OCTETS`] of them, then
    /// `Next::Fetch` so that the connection sends them before the next window is built (the
    /// client parses while the server works); the tagged OK after the last.
    pub(crate) async fn fetch_window(
        &mut self,
        mut out: Vec<u8>,
        mut run: Box<FetchRun>,
    ) -> Outcome {
        let mailboxes = self.shared.stores.mailboxes.clone();
        let FetchRun {
            ref tag,
            ref items,
            by_uid,
            changed_since,
            with_modseq,
            mailbox,
            ref wanted,
            strings,
            ..
        } = *run;
        let is_recent = |uid: Uid| run.recent.iter().any(|r| r.contains(&uid));
        let mut pieces = Vec::new();
        let mut window = 0usize;
        'messages: while run.at < wanted.len() {
            if window >= WINDOW_OCTETS {
                pieces.push(Piece::Bytes(out));
                return Outcome {
                    pieces,
                    next: Next::Fetch(run),
                };
            }
            let (index, uid) = (run.at, &wanted[run.at]);
            run.at += 1;
            while run.records.get(run.record_at).is_some_and(|r| r.uid < *uid) {
                run.record_at += 1;
            }
            // Expunged by another session meanwhile: nothing to say about it.
            let Some(record) = run.records.get(run.record_at).filter(|r| r.uid == *uid) else {
                continue;
            };
            if changed_since.is_some_and(|since| record.modseq.0 <= since) {
                continue;
            }
            let Some(seq) = selected_seq(&self.state, *uid) else {
                continue;
            };
            let mut line = format!("* {seq} FETCH (").into_bytes();
            // Whether part of this message's answer has gone into `pieces` already: until then
            // a message expunged by another session meanwhile is left out whole.
            let mut streamed = false;
            let mut first_item = true;
            let mut sep = |line: &mut Vec<u8>| {
                if !std::mem::take(&mut first_item) {
                    line.push(b' ');
                }
            };
            // RFC 9051 §6.4.9: UID FETCH always returns UID.
            if by_uid && !items.contains(&Item::Uid) {
                sep(&mut line);
                line.extend_from_slice(format!("UID {}", uid.0).as_bytes());
            }
            // Read once per message, when an item needs it.
            let needs_meta = items.iter().any(|i| {
                matches!(i, Item::Envelope | Item::Structure(_) | Item::BinarySize(_))
                    || matches!(i, Item::Binary { part, .. } if !part.is_empty())
                    || matches!(i, Item::Body { section, .. } if *section != BodySection::Full)
            });
            let meta = match needs_meta {
                true => {
                    while run.metas.front().is_some_and(|(u, _)| u < uid) {
                        run.metas.pop_front();
                    }
                    if run.metas.is_empty() {
                        // One read for the next batch of wanted messages.
                        let batch = &wanted[index..(index + META_BATCH).min(wanted.len())];
                        match mailboxes.messages_meta(mailbox, batch).await {
                            Ok(batch) => run.metas = batch.into(),
                            Err(e) => {
                                store_failure(&mut out, tag, &e);
                                return Outcome::done(out);
                            }
                        }
                    }
                    match run.metas.front() {
                        Some((u, _)) if u == uid => run.metas.pop_front().and_then(|(_, m)| m),
                        _ => None,
                    }
                }
                false => None,
            };
            for item in items {
                match item {
                    Item::Flags => {
                        sep(&mut line);
                        let names = flag_names(&record.flags, is_recent(*uid));
                        line.extend_from_slice(format!("FLAGS ({names})").as_bytes());
                    }
                    Item::Uid => {
                        sep(&mut line);
                        line.extend_from_slice(format!("UID {}", uid.0).as_bytes());
                    }
                    Item::Size => {
                        sep(&mut line);
                        line.extend_from_slice(format!("RFC822.SIZE {}", record.size).as_bytes());
                    }
                    Item::InternalDate => {
                        sep(&mut line);
                        line.extend_from_slice(
                            format!("INTERNALDATE \"{}\"", internal_date(record.internal_date))
                                .as_bytes(),
                        );
                    }
                    Item::ModSeq => {}
                    Item::EmailId => {
                        sep(&mut line);
                        let id = crate::respond::email_id(record.content_id);
                        line.extend_from_slice(format!("EMAILID ({id})").as_bytes());
                    }
                    Item::ThreadId => {
                        sep(&mut line);
                        line.extend_from_slice(b"THREADID NIL");
                    }
                    Item::BinarySize(part) => {
                        let size = match part.is_empty() {
                            true => Some(record.size),
                            false => meta
                                .as_ref()
                                .and_then(|m| crate::section::leaf(m, part))
                                .map(|p| p.decoded_size),
                        };
                        let Some(size) = size else {
                            tagged(&mut out, tag, "NO", "[UNKNOWN-CTE] No such leaf part");
                            return Outcome::done(out);
                        };
                        sep(&mut line);
                        line.extend_from_slice(
                            format!("BINARY.SIZE[{}] {size}", dotted(part)).as_bytes(),
                        );
                    }
                    Item::Binary { part, partial, .. } => {
                        // RFC 3516 §4.2: a leaf part's body, decoded; `[]` is the message.
                        let decoded = match part.is_empty() {
                            true => read_range(&mailboxes, mailbox, *uid, 0..record.size).await,
                            false => {
                                let found = meta.as_ref().and_then(|m| {
                                    Some((
                                        crate::section::leaf(m, part)?,
                                        BodySection::Part(part.clone()).range(m, record.size)?,
                                    ))
                                });
                                let Some((leaf, range)) = found else {
                                    tagged(&mut out, tag, "NO", "[UNKNOWN-CTE] No such leaf part");
                                    return Outcome::done(out);
                                };
                                match read_range(&mailboxes, mailbox, *uid, range).await {
                                    Ok(raw) => match tern_message::decode_transfer(
                                        leaf.encoding.as_deref(),
                                        &raw,
                                    ) {
                                        Some(decoded) => Ok(decoded),
                                        None => {
                                            tagged(
                                                &mut out,
                                                tag,
                                                "NO",
                                                "[UNKNOWN-CTE] The part's transfer encoding is unknown",
                                            );
                                            return Outcome::done(out);
                                        }
                                    },
                                    Err(e) => Err(e),
                                }
                            }
                        };
                        let decoded = match decoded {
                            Ok(decoded) => decoded,
                            Err(StoreError::NotFound(_)) if !streamed => continue 'messages,
                            Err(e) => {
                                store_failure(&mut out, tag, &e);
                                return Outcome::done(out);
                            }
                        };
                        let bytes = cut(&decoded, *partial);
                        sep(&mut line);
                        let origin = partial.map_or(String::new(), |(o, _)| format!("<{o}>"));
                        // literal8 (RFC 3516 §4.3): the decoded part may hold NULs.
                        line.extend_from_slice(
                            format!("BINARY[{}]{origin} ~{{{}}}\r\n", dotted(part), bytes.len())
                                .as_bytes(),
                        );
                        line.extend_from_slice(bytes);
                    }
                    Item::Envelope => {
                        if let Some(meta) = &meta {
                            sep(&mut line);
                            line.extend_from_slice(b"ENVELOPE ");
                            imap_envelope(&mut line, meta, strings);
                        }
                    }
                    Item::Structure(extension) => {
                        if let Some(meta) = &meta {
                            sep(&mut line);
                            line.extend_from_slice(if *extension {
                                b"BODYSTRUCTURE "
                            } else {
                                b"BODY "
                            });
                            body_structure(&mut line, meta, *extension, strings);
                        }
                    }
                    Item::Body {
                        section,
                        partial,
                        label,
                        ..
                    } => {
                        sep(&mut line);
                        line.extend_from_slice(body_label(section, *partial, *label).as_bytes());
                        // RFC 9051 §6.4.5: a part that does not exist is sent empty.
                        let range = match section {
                            BodySection::Full => Some(0..record.size),
                            _ => meta.as_ref().and_then(|m| section.range(m, record.size)),
                        };
                        let Some(range) = range else {
                            line.extend_from_slice(b" \"\"");
                            continue;
                        };
                        if let BodySection::Fields { names, not, .. } = section {
                            let header = match read_range(&mailboxes, mailbox, *uid, range).await {
                                Ok(header) => header,
                                Err(StoreError::NotFound(_)) if !streamed => continue 'messages,
                                Err(e) => {
                                    store_failure(&mut out, tag, &e);
                                    return Outcome::done(out);
                                }
                            };
                            let fields = header_fields(&header, names, *not);
                            let fields = cut(&fields, *partial);
                            line.extend_from_slice(format!(" {{{}}}\r\n", fields.len()).as_bytes());
                            let start = line.len();
                            line.extend_from_slice(fields);
                            crate::respond::mask_nul(&mut line[start..]);
                            continue;
                        }
                        let range = cut_range(range, *partial);
                        line.extend_from_slice(
                            format!(" {{{}}}\r\n", range.end - range.start).as_bytes(),
                        );
                        out.extend_from_slice(&line);
                        line.clear();
                        pieces.push(Piece::Bytes(std::mem::take(&mut out)));
                        streamed = true;
                        pieces.push(Piece::Range {
                            mailbox,
                            uid: *uid,
                            range,
                        });
                    }
                }
            }
            if run.newly_seen.contains(uid) && !items.contains(&Item::Flags) {
                sep(&mut line);
                let names = flag_names(&record.flags, is_recent(*uid));
                line.extend_from_slice(format!("FLAGS ({names})").as_bytes());
            }
            if with_modseq {
                sep(&mut line);
                line.extend_from_slice(format!("MODSEQ ({})", record.modseq.0).as_bytes());
            }
            line.extend_from_slice(b")\r\n");
            window += line.len();
            out.extend_from_slice(&line);
        }
        tagged(&mut out, tag, "OK", "FETCH completed");
        pieces.push(Piece::Bytes(out));
        Outcome {
            pieces,
            next: Next::Continue,
        }
    }
}

/// `BODY[section]<origin>` (or an RFC822 form) as the response names it (RFC 9051 §7.5.2).
fn body_label(section: &BodySection, partial: Option<(u32, u32)>, label: Label) -> String {
    match label {
        Label::Rfc822 => "RFC822".into(),
        Label::Rfc822Header => "RFC822.HEADER".into(),
        Label::Rfc822Text => "RFC822.TEXT".into(),
        Label::Body => match partial {
            Some((offset, _)) => format!("BODY[{}]<{offset}>", section.spec()),
            None => format!("BODY[{}]", section.spec()),
        },
    }
}

/// Part numbers as `1.2.3`.
fn dotted(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// `<offset.length>` applied to a section (RFC 9051 §6.4.5): past its end, nothing.
fn cut_range(range: std::ops::Range<u64>, partial: Option<(u32, u32)>) -> std::ops::Range<u64> {
    match partial {
        None => range,
        Some((offset, len)) => {
            let start = range.start.saturating_add(u64::from(offset)).min(range.end);
            let end = start.saturating_add(u64::from(len)).min(range.end);
            start..end
        }
    }
}

fn cut(bytes: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    let range = cut_range(0..bytes.len() as u64, partial);
    &bytes[range.start as usize..range.end as usize]
}

/// A small range of a message (a header block), read whole.
async fn read_range(
    mailboxes: &std::sync::Arc<dyn tern_store::MailboxStore>,
    mailbox: MailboxId,
    uid: Uid,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, StoreError> {
    let reader = mailboxes.open_message(mailbox, uid).await?;
    let mut buf = Vec::new();
    let want = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    reader.read_at(range.start, want, &mut buf).await?;
    Ok(buf)
}

/// Octets of answers (bodies streamed from the store not counted) after which a FETCH hands
/// what it has to the connection before going on.
const WINDOW_OCTETS: usize = 256 * 1024;

/// A FETCH under way: what it asked and how far it has answered (see
/// [`Session::fetch_window`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchRun {
    tag: String,
    items: Vec<Item>,
    by_uid: bool,
    changed_since: Option<u64>,
    with_modseq: bool,
    mailbox: MailboxId,
    /// The messages asked for, in order, and the next one to answer.
    wanted: Vec<Uid>,
    at: usize,
    /// Their records (from the first wanted UID on), and where the walk is.
    records: Vec<MessageRecord>,
    record_at: usize,
    metas: VecDeque<(Uid, Option<MessageMeta>)>,
    /// Those that got \Seen from this FETCH: their answer carries the new flags.
    newly_seen: HashSet<Uid>,
    strings: ImapStrings,
    /// \Recent ranges of an IMAP4rev1 session (none for IMAP4rev2).
    recent: Vec<std::ops::Range<Uid>>,
}

/// Message records (structure, envelope) read at once for a FETCH: enough to save the reads,
/// few enough to keep the memory small.
const META_BATCH: usize = 256;

/// The message sequence number of `uid` in the selected mailbox.
fn selected_seq(state: &State, uid: Uid) -> Option<usize> {
    match state {
        State::Selected(_, selected) => selected.uids.binary_search(&uid).ok().map(|i| i + 1),
        _ => None,
    }
}

/// RFC 9051 §9 `date-time`: "dd-Mon-yyyy hh:mm:ss +0000".
fn internal_date(unix: i64) -> String {
    let date = tern_message::rfc5322_date(unix);
    // rfc5322_date: "Mon, 30 Nov 2026 12:00:00 +0000"
    let parts: Vec<&str> = date.split_whitespace().collect();
    match parts.as_slice() {
        [_, day, month, year, time, zone] => format!("{day:0>2}-{month}-{year} {time} {zone}"),
        _ => date,
    }
}

#[cfg(test)]
mod tests {
    use super::internal_date;

    #[test]
    fn internal_dates() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
    }
}
