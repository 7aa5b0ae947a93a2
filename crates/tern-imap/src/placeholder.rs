//! Syntax imap-codec does not read, stood in for by a placeholder it does:
//! - RFC 5182 SEARCHRES (part of IMAP4rev2, RFC 9051 §6.4.4.1): `$`, the result of the last
//!   `SEARCH RETURN (SAVE)`, where a sequence set may stand (`seq-last-command`, RFC 9051 §9);
//! - RFC 8474 §6: the search keys `EMAILID objectid` and `THREADID objectid`.
//!
//! A command that has them is read here first: each `$` in a sequence-set position becomes a
//! placeholder set, each OBJECTID key a placeholder `UID 1` key; the command is parsed as
//! usual, then the sets that came from a `$` are marked [`Set::saved`] (the session puts the
//! saved messages in their place before running the command, `Session::expand_saved`) and the
//! placeholder keys become what they stood for. Which `$` is a sequence set depends on where it
//! stands (`FETCH $ ...` is one, `SEARCH FROM $` is a string), so the search criteria are
//! walked with the number of arguments each key takes. Written by hand because no crate of
//! ours reads it.

use crate::request::{Request, Set};
use crate::search::Key;

/// Where the placeholders of a command stood, in the order the parser meets them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Placeholders {
    /// The command's own sequence set (FETCH, STORE, COPY, MOVE, UID EXPUNGE) was `$`.
    pub(crate) first: bool,
    /// Of the sequence-set search keys, in order, those that were `$`.
    pub(crate) sequence_keys: Vec<usize>,
    /// Of the UID search keys, in order, those whose set was `$`.
    pub(crate) uid_keys: Vec<usize>,
    /// Of the UID search keys, in order, those that stand for an OBJECTID key: what it asked.
    pub(crate) object_keys: Vec<(usize, ObjectKey)>,
}

/// An RFC 8474 §6 search key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObjectKey {
    EmailId(String),
    ThreadId(String),
}

impl ObjectKey {
    /// The criterion: EMAILID of one of ours (`M` and the content's id) names that content;
    /// any other object id, and every THREADID (threads are not tracked, THREADID is NIL),
    /// matches nothing.
    fn key(&self) -> Key {
        match self {
            ObjectKey::EmailId(id) => id
                .strip_prefix('M')
                .and_then(|n| n.parse().ok())
                .map_or(Key::Nothing, Key::EmailId),
            ObjectKey::ThreadId(_) => Key::Nothing,
        }
    }
}

/// What stands for a `$` for imap-codec: any valid set; it is replaced before use.
const PLACEHOLDER: &[u8] = b"1";

/// What stands for an OBJECTID search key for imap-codec: a UID key, replaced after parsing.
const KEY_PLACEHOLDER: &[u8] = b"UID 1";

/// One token of a command: its kind and octet range (strings and literals are skipped whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    Atom,
    String,
}

fn tokens(bytes: &[u8]) -> Option<Vec<(Kind, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b' ' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                out.push((Kind::Open, start..i));
            }
            b')' => {
                i += 1;
                out.push((Kind::Close, start..i));
            }
            b'"' => {
                i += 1;
                loop {
                    match *bytes.get(i)? {
                        b'"' => break,
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
                i += 1;
                out.push((Kind::String, start..i));
            }
            b'{' | b'~' if is_literal_start(&bytes[i..]) => {
                i = crate::extended::literal_at(bytes, i)?.end;
                out.push((Kind::String, start..i));
            }
            _ => {
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'(' | b')' | b'\r' | b'\n') {
                    i += 1;
                }
                out.push((Kind::Atom, start..i));
            }
        }
    }
    Some(out)
}

fn is_literal_start(bytes: &[u8]) -> bool {
    match bytes {
        [b'{', d, ..] | [b'~', b'{', d, ..] => d.is_ascii_digit(),
        _ => false,
    }
}

/// How many arguments a search key takes (RFC 9051 §9 `search-key`, RFC 7162 MODSEQ, RFC
/// 8474 EMAILID and THREADID); keys that take keys (NOT, OR) take none here.
fn arguments(key: &[u8], next_is_string: bool) -> usize {
    match key.to_ascii_uppercase().as_slice() {
        b"BCC" | b"BODY" | b"CC" | b"FROM" | b"SUBJECT" | b"TEXT" | b"TO" | b"BEFORE" | b"ON"
        | b"SINCE" | b"SENTBEFORE" | b"SENTON" | b"SENTSINCE" | b"KEYWORD" | b"UNKEYWORD"
        | b"LARGER" | b"SMALLER" | b"OLDER" | b"YOUNGER" | b"EMAILID" | b"THREADID" => 1,
        b"HEADER" => 2,
        // `MODSEQ [entry-name entry-type-req] mod-sequence-valzer` (RFC 7162 §3.1.5).
        b"MODSEQ" if next_is_string => 3,
        b"MODSEQ" => 1,
        _ => 0,
    }
}

fn is_sequence_set(atom: &[u8]) -> bool {
    !atom.is_empty()
        && atom
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'))
}

/// The index of the token after the group that starts at `at` (an atom, a string, or a
/// parenthesised list).
fn skip_group(tokens: &[(Kind, std::ops::Range<usize>)], at: usize) -> usize {
    if tokens.get(at).map(|t| t.0) != Some(Kind::Open) {
        return at + 1;
    }
    let mut depth = 0usize;
    for (i, (kind, _)) in tokens.iter().enumerate().skip(at) {
        match kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The commands in which a `$` or an OBJECTID key can stand.
const PLACEHOLDER_VERBS: [&[u8]; 8] = [
    b"FETCH", b"STORE", b"COPY", b"MOVE", b"EXPUNGE", b"SEARCH", b"SORT", b"THREAD",
];

/// `message` with each `$` in a sequence-set position replaced by [`PLACEHOLDER`] and each
/// OBJECTID search key by [`KEY_PLACEHOLDER`], and where they stood; `None` when it has none.
pub(crate) fn find(message: &[u8]) -> Option<(Vec<u8>, Placeholders)> {
    // The verb first: any other command is left alone without a scan of its octets (an
    // APPEND imap-codec refused may be megabytes of literal).
    let mut words = message
        .split(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .skip(1);
    let mut verb = words.next()?;
    if verb.eq_ignore_ascii_case(b"UID") {
        verb = words.next()?;
    }
    if !PLACEHOLDER_VERBS
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
    {
        return None;
    }
    if !message.contains(&b'$')
        && !contains_ignoring_case(message, b"EMAILID")
        && !contains_ignoring_case(message, b"THREADID")
    {
        return None;
    }
    let tokens = tokens(message)?;
    let atom = |i: usize| -> Option<&[u8]> {
        match tokens.get(i)? {
            (Kind::Atom, range) => Some(&message[range.clone()]),
            _ => None,
        }
    };
    let is_dollar = |i: usize| atom(i) == Some(b"$".as_slice());
    let mut at = 1;
    let mut verb = atom(at)?.to_ascii_uppercase();
    if verb == b"UID" {
        at += 1;
        verb = atom(at)?.to_ascii_uppercase();
    }
    at += 1;
    let mut refs = Placeholders::default();
    // Token ranges to replace, in order, and what goes in their place.
    let mut replaced: Vec<(std::ops::Range<usize>, &[u8])> = Vec::new();
    let dollar = |i: usize, replaced: &mut Vec<(std::ops::Range<usize>, &[u8])>| {
        replaced.push((tokens[i].1.clone(), PLACEHOLDER));
    };
    match verb.as_slice() {
        b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"EXPUNGE" if is_dollar(at) => {
            refs.first = true;
            dollar(at, &mut replaced);
        }
        b"SEARCH" | b"SORT" | b"THREAD" => {
            // What comes before the criteria: RETURN (...) for SEARCH (RFC 4731), the sort
            // criteria (RFC 5256 §3) or the algorithm (§4), then CHARSET / the charset.
            if verb == b"SEARCH" {
                if atom(at).is_some_and(|a| a.eq_ignore_ascii_case(b"RETURN")) {
                    at = skip_group(&tokens, at + 1);
                }
                if atom(at).is_some_and(|a| a.eq_ignore_ascii_case(b"CHARSET")) {
                    at += 2;
                }
            } else {
                at = skip_group(&tokens, at) + 1;
            }
            let (mut sequences, mut uids) = (0, 0);
            let mut pending = 0;
            let mut uid_argument = false;
            while at < tokens.len() {
                let (kind, _) = tokens[at];
                if matches!(kind, Kind::Open | Kind::Close) {
                    at += 1;
                    continue;
                }
                if pending > 0 {
                    pending -= 1;
                    if uid_argument {
                        if is_dollar(at) {
                            refs.uid_keys.push(uids);
                            dollar(at, &mut replaced);
                        }
                        uids += 1;
                        uid_argument = false;
                    }
                    at += 1;
                    continue;
                }
                if let Some(word) = atom(at) {
                    let object = |id: &[u8]| String::from_utf8_lossy(id).into_owned();
                    let object_key = match (word.to_ascii_uppercase().as_slice(), atom(at + 1)) {
                        (b"EMAILID", Some(id)) => Some(ObjectKey::EmailId(object(id))),
                        (b"THREADID", Some(id)) => Some(ObjectKey::ThreadId(object(id))),
                        _ => None,
                    };
                    if let Some(key) = object_key {
                        refs.object_keys.push((uids, key));
                        replaced.push((tokens[at].1.start..tokens[at + 1].1.end, KEY_PLACEHOLDER));
                        uids += 1;
                        at += 2;
                        continue;
                    }
                    if word == b"$" {
                        refs.sequence_keys.push(sequences);
                        dollar(at, &mut replaced);
                        sequences += 1;
                    } else if is_sequence_set(word) {
                        sequences += 1;
                    } else if word.eq_ignore_ascii_case(b"UID") {
                        pending = 1;
                        uid_argument = true;
                    } else {
                        let next_is_string = tokens.get(at + 1).map(|t| t.0) == Some(Kind::String);
                        pending = arguments(word, next_is_string);
                    }
                }
                at += 1;
            }
        }
        _ => {}
    }
    if replaced.is_empty() {
        return None;
    }
    let mut rewritten = Vec::with_capacity(message.len());
    let mut cursor = 0;
    for (range, placeholder) in replaced {
        rewritten.extend_from_slice(&message[cursor..range.start]);
        rewritten.extend_from_slice(placeholder);
        cursor = range.end;
    }
    rewritten.extend_from_slice(&message[cursor..]);
    Some((rewritten, refs))
}

impl Placeholders {
    /// Marks the sets of `request` that stood for `$` and puts the OBJECTID keys where their
    /// placeholders are (`request` parsed from the rewritten command).
    pub(crate) fn mark(&self, request: &mut Request) {
        let (mut sequences, mut uids) = (0, 0);
        let mut first = self.first;
        request.visit_sets(&mut |set, kind| match kind {
            SetKind::Command => {
                if std::mem::take(&mut first) {
                    *set = Set::saved();
                }
            }
            SetKind::SequenceKey => {
                if self.sequence_keys.binary_search(&sequences).is_ok() {
                    *set = Set::saved();
                }
                sequences += 1;
            }
            SetKind::UidKey => {
                if self.uid_keys.binary_search(&uids).is_ok() {
                    *set = Set::saved();
                }
                uids += 1;
            }
        });
        if let (false, Some(criteria)) = (self.object_keys.is_empty(), request.criteria_mut()) {
            let mut uids = 0;
            criteria.visit_uid_keys(&mut |key| {
                if let Ok(at) = self.object_keys.binary_search_by_key(&uids, |(at, _)| *at) {
                    *key = self.object_keys[at].1.key();
                }
                uids += 1;
            });
        }
    }
}

/// Where a sequence set stands in a request, which decides what `$` becomes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetKind {
    /// The command's own set: UIDs for a UID command, message numbers otherwise.
    Command,
    /// A sequence-set search key: message numbers.
    SequenceKey,
    /// A UID search key: UIDs.
    UidKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(command: &str) -> Option<(String, Placeholders)> {
        find(command.as_bytes()).map(|(b, r)| (String::from_utf8(b).unwrap(), r))
    }

    #[test]
    fn dollar_is_a_set_only_where_a_set_may_stand() {
        let (text, refs) = found("a UID FETCH $ (FLAGS)\r\n").unwrap();
        assert_eq!(text, "a UID FETCH 1 (FLAGS)\r\n");
        assert!(refs.first);
        assert!(found("a COPY 1:3 $\r\n").is_none(), "a mailbox named $");
        assert!(found("a STORE 1 +FLAGS ($)\r\n").is_none(), "a keyword");
        let (text, refs) =
            found("a SEARCH RETURN (SAVE) CHARSET UTF-8 FROM $ 1:2 OR $ UID $ HEADER X $ $\r\n")
                .unwrap();
        assert_eq!(
            text,
            "a SEARCH RETURN (SAVE) CHARSET UTF-8 FROM $ 1:2 OR 1 UID 1 HEADER X $ 1\r\n"
        );
        assert_eq!(refs.sequence_keys, [1, 2]);
        assert_eq!(refs.uid_keys, [0]);
        assert!(!refs.first);
        let (text, _) = found("a UID SORT (DATE) UTF-8 NOT $\r\n").unwrap();
        assert_eq!(text, "a UID SORT (DATE) UTF-8 NOT 1\r\n");
        let (_, refs) = found("a SEARCH SUBJECT {1}\r\n$ $\r\n").unwrap();
        assert_eq!(refs.sequence_keys, [0]);
        assert!(found("a SEARCH MODSEQ \"/flags/$x\" all 5\r\n").is_none());
        assert!(found("a LOGIN $ $\r\n").is_none());
    }

    #[test]
    fn objectid_keys_stand_as_uid_keys_in_their_place() {
        let (text, refs) =
            found("a UID SEARCH UID $ OR EMAILID M42 THREADID T1 SUBJECT emailid\r\n").unwrap();
        assert_eq!(
            text,
            "a UID SEARCH UID 1 OR UID 1 UID 1 SUBJECT emailid\r\n"
        );
        assert_eq!(refs.uid_keys, [0]);
        assert_eq!(
            refs.object_keys,
            [
                (1, ObjectKey::EmailId("M42".into())),
                (2, ObjectKey::ThreadId("T1".into()))
            ]
        );
        assert_eq!(ObjectKey::EmailId("M42".into()).key(), Key::EmailId(42));
        assert_eq!(ObjectKey::EmailId("X9".into()).key(), Key::Nothing);
        assert_eq!(ObjectKey::ThreadId("T1".into()).key(), Key::Nothing);
    }
}
