//! RFC 5182 SEARCHRES (part of IMAP4rev2, RFC 9051 §6.4.4.1): `$`, the result of the last
//! `SEARCH RETURN (SAVE)`, where a sequence set may stand (`seq-last-command`, RFC 9051 §9).
//!
//! imap-codec does not read `$`. A command that has one is read here first: each `$` in a
//! sequence-set position is replaced by a placeholder set that imap-codec accepts, the command
//! is parsed as usual, and the sets that came from a `$` are then marked [`Set::saved`]; the
//! session puts the saved messages in their place before running the command
//! (`Session::expand_saved`). Which `$` is a sequence set depends on where it stands (`FETCH
//! $ ...` is one, `SEARCH FROM $` is a string), so the search criteria are walked with the
//! number of arguments each key takes. Written by hand because no crate of ours reads it.

use crate::request::{Request, Set};

/// Where the `$` of a command stood, in the order the parser meets them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SavedRefs {
    /// The command's own sequence set (FETCH, STORE, COPY, MOVE, UID EXPUNGE) was `$`.
    pub(crate) first: bool,
    /// Of the sequence-set search keys, in order, those that were `$`.
    pub(crate) sequence_keys: Vec<usize>,
    /// Of the UID search keys, in order, those whose set was `$`.
    pub(crate) uid_keys: Vec<usize>,
}

/// What stands for a `$` for imap-codec: any valid set; it is replaced before use.
const PLACEHOLDER: &[u8] = b"1";

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

/// `message` with each `$` in a sequence-set position replaced by [`PLACEHOLDER`], and where
/// they stood; `None` when it has none.
pub(crate) fn find(message: &[u8]) -> Option<(Vec<u8>, SavedRefs)> {
    if !message.contains(&b'$') {
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
    let mut refs = SavedRefs::default();
    let mut dollars = Vec::new();
    match verb.as_slice() {
        b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"EXPUNGE" if is_dollar(at) => {
            refs.first = true;
            dollars.push(at);
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
                            dollars.push(at);
                        }
                        uids += 1;
                        uid_argument = false;
                    }
                    at += 1;
                    continue;
                }
                if let Some(word) = atom(at) {
                    if word == b"$" {
                        refs.sequence_keys.push(sequences);
                        dollars.push(at);
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
    if dollars.is_empty() {
        return None;
    }
    let mut rewritten = Vec::with_capacity(message.len());
    let mut cursor = 0;
    for i in dollars {
        let range = tokens[i].1.clone();
        rewritten.extend_from_slice(&message[cursor..range.start]);
        rewritten.extend_from_slice(PLACEHOLDER);
        cursor = range.end;
    }
    rewritten.extend_from_slice(&message[cursor..]);
    Some((rewritten, refs))
}

impl SavedRefs {
    /// Marks the sets of `request` that stood for `$` (parsed from the rewritten command).
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
                if self.sequence_keys.contains(&sequences) {
                    *set = Set::saved();
                }
                sequences += 1;
            }
            SetKind::UidKey => {
                if self.uid_keys.contains(&uids) {
                    *set = Set::saved();
                }
                uids += 1;
            }
        });
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

    fn found(command: &str) -> Option<(String, SavedRefs)> {
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
}
