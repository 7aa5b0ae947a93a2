//! SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4): criteria in our terms, evaluated against the
//! selected mailbox's records (flags, sizes, dates), the stored structure (sent dates) and the
//! store's full-text search (header, body and text substrings), never by reading every message.

use std::collections::{HashMap, HashSet};

use imap_codec::imap_types::search::SearchKey;
use tern_message::{header_block_len, sent_day};
use tern_store::{MessageRecord, StoreError, TextField};
use tern_types::{Flag, MailboxId, Uid};

use crate::placeholder::SetKind;
use crate::request::{set, Set};

/// Seconds in a day: SEARCH dates are days, "disregarding time and timezone" (RFC 9051
/// §6.4.4); Tern takes UTC days.
const DAY: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    All,
    /// Matches nothing (an OBJECTID search key naming no message of ours).
    Nothing,
    /// RFC 8474 §6 EMAILID: the message's content is this one (`MessageRecord::content_id`).
    EmailId(u64),
    /// RFC 3501 §6.4.4 RECENT: the session's \Recent messages; the session puts them in
    /// ([`Key::set_recent`]) before the search runs, and matches nothing until it has.
    Recent,
    Sequence(Set),
    Uid(Set),
    /// The message has (true) or lacks (false) the flag.
    Flag(Flag, bool),
    Larger(u64),
    Smaller(u64),
    /// Internal date before / on / since a UTC day (its first second).
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Text(TextField, String),
    Header(String, String),
    /// RFC 7162 §3.1.5 MODSEQ: changed at or after this mod-sequence.
    ModSeq(u64),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
}

fn text(value: &impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(value.as_ref()).into_owned()
}

fn day(date: &imap_codec::imap_types::datetime::NaiveDate) -> i64 {
    date.as_ref()
        .and_hms_opt(0, 0, 0)
        .map_or(0, |d| d.and_utc().timestamp())
}

impl Key {
    pub(crate) fn from_imap(key: &SearchKey<'_>) -> Option<Key> {
        Some(match key {
            SearchKey::And(keys) => Key::And(
                keys.as_ref()
                    .iter()
                    .map(Key::from_imap)
                    .collect::<Option<_>>()?,
            ),
            SearchKey::SequenceSet(s) => Key::Sequence(set(s)),
            SearchKey::All => Key::All,
            SearchKey::Answered => Key::Flag(Flag::Answered, true),
            SearchKey::Unanswered => Key::Flag(Flag::Answered, false),
            SearchKey::Deleted => Key::Flag(Flag::Deleted, true),
            SearchKey::Undeleted => Key::Flag(Flag::Deleted, false),
            SearchKey::Draft => Key::Flag(Flag::Draft, true),
            SearchKey::Undraft => Key::Flag(Flag::Draft, false),
            SearchKey::Flagged => Key::Flag(Flag::Flagged, true),
            SearchKey::Unflagged => Key::Flag(Flag::Flagged, false),
            SearchKey::Seen => Key::Flag(Flag::Seen, true),
            SearchKey::Unseen => Key::Flag(Flag::Seen, false),
            SearchKey::Keyword(k) => Key::Flag(Flag::Keyword(k.inner().to_string()), true),
            SearchKey::Unkeyword(k) => Key::Flag(Flag::Keyword(k.inner().to_string()), false),
            // RFC 3501 §6.4.4: NEW is RECENT UNSEEN, OLD is NOT RECENT.
            SearchKey::Recent => Key::Recent,
            SearchKey::New => Key::And(vec![Key::Recent, Key::Flag(Flag::Seen, false)]),
            SearchKey::Old => Key::Not(Box::new(Key::Recent)),
            SearchKey::Larger(n) => Key::Larger(u64::from(*n)),
            SearchKey::Smaller(n) => Key::Smaller(u64::from(*n)),
            SearchKey::Before(d) => Key::Before(day(d)),
            SearchKey::On(d) => Key::On(day(d)),
            SearchKey::Since(d) => Key::Since(day(d)),
            SearchKey::SentBefore(d) => Key::SentBefore(day(d)),
            SearchKey::SentOn(d) => Key::SentOn(day(d)),
            SearchKey::SentSince(d) => Key::SentSince(day(d)),
            SearchKey::Subject(v) => Key::Text(TextField::Subject, text(v)),
            SearchKey::From(v) => Key::Text(TextField::From, text(v)),
            SearchKey::To(v) => Key::Text(TextField::To, text(v)),
            SearchKey::Cc(v) => Key::Text(TextField::Cc, text(v)),
            SearchKey::Bcc(v) => Key::Text(TextField::Bcc, text(v)),
            SearchKey::Body(v) => Key::Text(TextField::Body, text(v)),
            SearchKey::Text(v) => Key::Text(TextField::Text, text(v)),
            // HEADER Subject is the SUBJECT key: the decoded Subject is in the index, so no
            // header block has to be read (RFC 9051 §6.4.4 leaves decoding to the server; an
            // empty value, "has the field", stays a header check).
            SearchKey::Header(name, value)
                if name.as_ref().eq_ignore_ascii_case(b"Subject") && !value.as_ref().is_empty() =>
            {
                Key::Text(TextField::Subject, text(value))
            }
            SearchKey::Header(name, value) => Key::Header(text(name), text(value)),
            SearchKey::Uid(s) => Key::Uid(set(s)),
            SearchKey::ModSequence { modseq, .. } => Key::ModSeq(*modseq),
            SearchKey::Not(k) => Key::Not(Box::new(Key::from_imap(k)?)),
            SearchKey::Or(a, b) => {
                Key::Or(Box::new(Key::from_imap(a)?), Box::new(Key::from_imap(b)?))
            }
            #[allow(unreachable_patterns)]
            _ => return None,
        })
    }

    /// Calls `f` on each key that is not NOT, OR or a group, in the order they were written:
    /// the one walk of the criteria every question about them below goes through.
    fn each_leaf<'a>(&'a self, f: &mut impl FnMut(&'a Key)) {
        match self {
            Key::Not(k) => k.each_leaf(f),
            Key::Or(a, b) => {
                a.each_leaf(f);
                b.each_leaf(f);
            }
            Key::And(keys) => keys.iter().for_each(|k| k.each_leaf(f)),
            leaf => f(leaf),
        }
    }

    /// [`Key::each_leaf`], for keys to be replaced.
    fn each_leaf_mut(&mut self, f: &mut impl FnMut(&mut Key)) {
        match self {
            Key::Not(k) => k.each_leaf_mut(f),
            Key::Or(a, b) => {
                a.each_leaf_mut(f);
                b.each_leaf_mut(f);
            }
            Key::And(keys) => keys.iter_mut().for_each(|k| k.each_leaf_mut(f)),
            leaf => f(leaf),
        }
    }

    fn any_leaf(&self, test: impl Fn(&Key) -> bool) -> bool {
        let mut found = false;
        self.each_leaf(&mut |k| found |= test(k));
        found
    }

    /// Every text search the criteria need, to run once each before matching.
    fn text_terms(&self) -> Vec<(TextField, &str)> {
        let mut terms = Vec::new();
        self.each_leaf(&mut |k| match k {
            Key::Text(field, term) => terms.push((*field, term.as_str())),
            // HEADER's candidates: the value somewhere in the headers; the field name is
            // checked on the candidates' header blocks.
            Key::Header(_, value) => terms.push((TextField::Headers, value.as_str())),
            _ => {}
        });
        terms
    }

    /// The (field name, value) pairs of the HEADER keys.
    fn header_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        self.each_leaf(&mut |k| {
            if let Key::Header(name, value) = k {
                pairs.push((name.clone(), value.clone()));
            }
        });
        pairs
    }

    /// Puts the session's recent messages (a UID set) where the criteria say RECENT.
    pub(crate) fn set_recent(&mut self, recent: &Set) {
        self.each_leaf_mut(&mut |k| {
            if *k == Key::Recent {
                *k = Key::Uid(recent.clone());
            }
        });
    }

    /// Calls `f` on each UID key of the criteria, in the order they were written, to replace it.
    pub(crate) fn visit_uid_keys(&mut self, f: &mut dyn FnMut(&mut Key)) {
        self.each_leaf_mut(&mut |k| {
            if matches!(k, Key::Uid(_)) {
                f(k);
            }
        });
    }

    /// Calls `f` on each sequence set of the criteria, in the order they were written.
    pub(crate) fn visit_sets(&mut self, f: &mut dyn FnMut(&mut Set, SetKind)) {
        self.each_leaf_mut(&mut |k| match k {
            Key::Sequence(set) => f(set, SetKind::SequenceKey),
            Key::Uid(set) => f(set, SetKind::UidKey),
            _ => {}
        });
    }

    /// Whether a MODSEQ key is used: the answer then gives the highest mod-sequence found.
    pub(crate) fn uses_modseq(&self) -> bool {
        self.any_leaf(|k| matches!(k, Key::ModSeq(_)))
    }

    fn needs_sent_date(&self) -> bool {
        self.any_leaf(|k| matches!(k, Key::SentBefore(_) | Key::SentOn(_) | Key::SentSince(_)))
    }
}

/// What matching looks at besides the record.
pub(crate) struct Context<'a> {
    /// The session's UIDs in order: message numbers, and `*`.
    pub(crate) uids: &'a [Uid],
    /// Messages each text search found.
    pub(crate) found: HashMap<(TextField, String), HashSet<Uid>>,
    /// Messages whose header block has a field of the name with the value (HEADER).
    pub(crate) headers: HashMap<(String, String), HashSet<Uid>>,
    /// Sent dates (Date field), when a SENT* key needs them.
    pub(crate) sent: HashMap<Uid, i64>,
    /// The UIDs each sequence set (`[0]`) and UID set (`[1]`) of the criteria names, as
    /// ascending disjoint UID ranges (a set with message numbers out of range names none),
    /// keyed by the set's storage: a `$` standing many times is one shared set, resolved once,
    /// and no set is hashed or copied whole per message.
    pub(crate) sets: [HashMap<usize, Vec<(u32, u32)>>; 2],
}

impl Key {
    fn matches(&self, record: &MessageRecord, cx: &Context<'_>) -> bool {
        // Resolved once per search (`resolve_sets`), not once per message.
        let in_set = |s: &Set, by_uid: bool| {
            cx.sets[usize::from(by_uid)]
                .get(&set_key(s))
                .is_some_and(|ranges| in_ranges(ranges, record.uid.0))
        };
        match self {
            Key::All => true,
            Key::Recent | Key::Nothing => false,
            Key::EmailId(id) => record.content_id == *id,
            Key::Sequence(s) => in_set(s, false),
            Key::Uid(s) => in_set(s, true),
            Key::Flag(flag, has) => record.flags.contains(flag) == *has,
            Key::Larger(n) => record.size > *n,
            Key::ModSeq(n) => record.modseq.0 >= *n,
            Key::Smaller(n) => record.size < *n,
            Key::Before(d) => record.internal_date < *d,
            Key::On(d) => (*d..*d + DAY).contains(&record.internal_date),
            Key::Since(d) => record.internal_date >= *d,
            Key::SentBefore(d) => cx.sent.get(&record.uid).is_some_and(|t| t < d),
            Key::SentOn(d) => cx
                .sent
                .get(&record.uid)
                .is_some_and(|t| (*d..*d + DAY).contains(t)),
            Key::SentSince(d) => cx.sent.get(&record.uid).is_some_and(|t| t >= d),
            Key::Text(field, term) => cx
                .found
                .get(&(*field, term.clone()))
                .is_some_and(|uids| uids.contains(&record.uid)),
            Key::Header(name, value) => cx
                .headers
                .get(&(name.clone(), value.clone()))
                .is_some_and(|uids| uids.contains(&record.uid)),
            Key::Not(k) => !k.matches(record, cx),
            Key::Or(a, b) => a.matches(record, cx) || b.matches(record, cx),
            Key::And(keys) => keys.iter().all(|k| k.matches(record, cx)),
        }
    }
}

/// Whether a header block has a field `name` whose value contains `value`, case-insensitively
/// (RFC 9051 §6.4.4 HEADER; an empty value matches any such field).
fn header_has(header: &[u8], name: &str, value: &str) -> bool {
    let text = String::from_utf8_lossy(header);
    let unfolded = text.replace("\r\n ", " ").replace("\r\n\t", " ");
    let value = value.to_lowercase();
    unfolded.lines().any(|line| {
        line.split_once(':').is_some_and(|(field, content)| {
            field.trim().eq_ignore_ascii_case(name) && content.to_lowercase().contains(&value)
        })
    })
}

/// Runs the searches `key` needs and returns the records of the messages that match, in UID
/// order (SORT and THREAD order them by the records' dates and sizes).
pub(crate) async fn run(
    stores: &tern_store::Stores,
    mailbox: MailboxId,
    uids: &[Uid],
    key: &Key,
) -> Result<Vec<tern_store::MessageRecord>, StoreError> {
    let mailboxes = &stores.mailboxes;
    let records = mailboxes.messages(mailbox, Uid(1)).await?;
    let mut cx = Context {
        uids,
        found: HashMap::new(),
        headers: HashMap::new(),
        sent: HashMap::new(),
        sets: Default::default(),
    };
    resolve_sets(key, &mut cx);
    let terms = key.text_terms();
    for (field, term) in terms {
        if cx.found.contains_key(&(field, term.to_string())) {
            continue;
        }
        let hits: HashSet<Uid> = mailboxes
            .search_text(mailbox, field, term)
            .await?
            .into_iter()
            .collect();
        cx.found.insert((field, term.to_string()), hits);
    }
    header_candidates(stores, mailbox, &records, key, &mut cx).await?;
    if key.needs_sent_date() {
        // The stored records in batches: one read each, little memory at a time.
        for batch in records.chunks(256) {
            let uids: Vec<Uid> = batch.iter().map(|r| r.uid).collect();
            for (uid, meta) in mailboxes.messages_meta(mailbox, &uids).await? {
                // RFC 3501 §6.4.4: the Date field's day in its own zone.
                let day = meta.and_then(|m| m.envelope.date.as_deref().and_then(sent_day));
                if let Some(day) = day {
                    cx.sent.insert(uid, day);
                }
            }
        }
    }
    Ok(records
        .into_iter()
        .filter(|r| uids.binary_search(&r.uid).is_ok() && key.matches(r, &cx))
        .collect())
}

/// HEADER keys: of the messages whose headers contain the value (the full-text index), those
/// where it is in the named field, read from their header blocks. The first
/// [`HEADER_GUESS`] octets of the candidates are read together, [`HEADER_BATCH`] at a time
/// (a read per candidate cost a thread hand-off each: 15 times Dovecot's time on 10,000
/// messages); a header longer than that is read whole through its stored structure.
async fn header_candidates(
    stores: &tern_store::Stores,
    mailbox: MailboxId,
    records: &[tern_store::MessageRecord],
    key: &Key,
    cx: &mut Context<'_>,
) -> Result<(), StoreError> {
    let pairs = key.header_pairs();
    let size_of: HashMap<Uid, u64> = records.iter().map(|r| (r.uid, r.size)).collect();
    for (name, value) in pairs {
        let mut candidates: Vec<Uid> = cx
            .found
            .get(&(TextField::Headers, value.clone()))
            .map(|found| found.iter().copied().collect())
            .unwrap_or_default();
        candidates.retain(|uid| size_of.contains_key(uid));
        candidates.sort_unstable();
        let mut hits = HashSet::new();
        for batch in candidates.chunks(HEADER_BATCH) {
            let wanted: Vec<(Uid, std::ops::Range<u64>)> = batch
                .iter()
                .map(|uid| (*uid, 0..size_of[uid].min(HEADER_GUESS)))
                .collect();
            let starts = stores.mailboxes.read_ranges(mailbox, wanted).await?;
            for (uid, start) in batch.iter().zip(starts) {
                let end = header_block_len(&start);
                let header = match end < start.len() || start.len() as u64 >= size_of[uid] {
                    true => {
                        let mut header = start;
                        header.truncate(end);
                        header
                    }
                    // No blank line in the first octets read: a long header block.
                    false => whole_header(stores, mailbox, *uid).await?,
                };
                if header_has(&header, &name, &value) {
                    hits.insert(*uid);
                }
            }
        }
        cx.headers.insert((name, value), hits);
    }
    Ok(())
}

/// Octets of a message read at first for a HEADER key: most header blocks are shorter.
const HEADER_GUESS: u64 = 16 * 1024;
/// Candidates read together.
const HEADER_BATCH: usize = 256;

/// A header block longer than [`HEADER_GUESS`], located by the message's stored structure.
async fn whole_header(
    stores: &tern_store::Stores,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Vec<u8>, StoreError> {
    let Some(meta) = stores.mailboxes.message_meta(mailbox, uid).await? else {
        return Ok(Vec::new());
    };
    let reader = stores.mailboxes.open_message(mailbox, uid).await?;
    let prefix = reader.len().saturating_sub(meta.root.body_end);
    let mut header = Vec::new();
    let want = usize::try_from(prefix + meta.root.body_start).unwrap_or(usize::MAX);
    reader.read_at(0, want, &mut header).await?;
    Ok(header)
}

/// Each sequence and UID set of `key`, resolved against the session's numbering once.
/// Where a set's ranges are stored: what [`Context::sets`] is keyed by.
fn set_key(set: &Set) -> usize {
    std::sync::Arc::as_ptr(&set.0).cast::<()>() as usize
}

/// Whether `n` is in `ranges` (ascending, disjoint).
fn in_ranges(ranges: &[(u32, u32)], n: u32) -> bool {
    let after = ranges.partition_point(|&(lo, _)| lo <= n);
    after > 0 && ranges[after - 1].1 >= n
}

/// The UIDs a set names in this session, as ascending disjoint ranges: a UID set's own ranges
/// (`*` the last UID), a sequence set's ranges of message numbers turned into the UIDs at
/// their ends (UIDs ascend with the numbers), none when a number is out of range.
fn uid_ranges(uids: &[Uid], set: &Set, by_uid: bool) -> Vec<(u32, u32)> {
    if by_uid {
        return set.merged(uids.last().map_or(0, |u| u.0));
    }
    let numbers = set.merged(uids.len() as u32);
    if numbers
        .iter()
        .any(|&(lo, hi)| lo == 0 || hi as usize > uids.len())
    {
        return Vec::new();
    }
    numbers
        .iter()
        .map(|&(lo, hi)| (uids[lo as usize - 1].0, uids[hi as usize - 1].0))
        .collect()
}

/// Resolves each sequence and UID set of the criteria to UID ranges, once per set.
fn resolve_sets(key: &Key, cx: &mut Context<'_>) {
    let uids = cx.uids;
    key.each_leaf(&mut |k| {
        if let Key::Sequence(s) | Key::Uid(s) = k {
            let by_uid = matches!(k, Key::Uid(_));
            cx.sets[usize::from(by_uid)]
                .entry(set_key(s))
                .or_insert_with(|| uid_ranges(uids, s, by_uid));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::header_has;

    #[test]
    fn header_values_are_matched_in_their_named_field_unfolded() {
        let header = b"Subject: a long\r\n subject here\r\nX-Tag: Blue\r\n\r\n";
        assert!(header_has(header, "subject", "LONG SUBJECT"));
        assert!(header_has(header, "x-tag", "blue"));
        assert!(header_has(header, "X-Tag", ""));
        assert!(!header_has(header, "X-Tag", "long"));
        assert!(!header_has(header, "To", ""));
    }
}
