//! Command syntax of extensions that imap-codec does not parse: RFC 4731 ESEARCH
//! (`SEARCH RETURN (...)`), RFC 5258 LIST-EXTENDED with RFC 5819 LIST-STATUS (selection
//! options, several patterns, `RETURN (...)`), and RFC 8474 OBJECTID's FETCH items (EMAILID,
//! THREADID) and STATUS item (MAILBOXID). Written by hand because no crate of ours reads them;
//! only asked for when imap-codec has refused a command.
//!
//! The Fragmentizer has already framed the command, literals included, so this reads whole
//! bytes. For SEARCH, FETCH and STATUS only the extension's part is read here: the command is
//! handed back to imap-codec with that part taken out, so the rest has one parser.

use imap_codec::decode::Decoder;
use imap_codec::CommandCodec;

use crate::request::{Item, Request, StatusItem};

/// What `SEARCH RETURN (...)` asked for (RFC 4731 §3.1); none asked means ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SearchReturn {
    pub(crate) min: bool,
    pub(crate) max: bool,
    pub(crate) count: bool,
    pub(crate) all: bool,
    /// RFC 5182 SAVE: keep the result for `$`.
    pub(crate) save: bool,
}

/// LIST-EXTENDED's selection and return options (RFC 5258 §3, RFC 5819, RFC 6154 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ListOptions {
    /// Selection SUBSCRIBED: only subscribed mailboxes, marked `\Subscribed`.
    pub(crate) subscribed_only: bool,
    /// Selection RECURSIVEMATCH: also parents with a subscribed child, with CHILDINFO.
    pub(crate) recursive: bool,
    /// Selection SPECIAL-USE: only mailboxes with a special use.
    pub(crate) special_use_only: bool,
    /// Return SUBSCRIBED: `\Subscribed` on the subscribed ones.
    pub(crate) return_subscribed: bool,
    /// Return STATUS (items): a STATUS response after each selectable mailbox.
    pub(crate) status: Option<Vec<StatusItem>>,
}

/// The command in `message` (one whole command as framed), if it is one of the forms read
/// here: `Some(Ok((tag, request)))`, `Some(Err(tag))` for one of them that is malformed, and
/// `None` for anything else.
pub(crate) fn parse(message: &[u8]) -> Option<Result<(String, Request), String>> {
    // RFC 5182 `$`: read with a placeholder set, then marked (`placeholder.rs`).
    if let Some((rewritten, refs)) = crate::placeholder::find(message) {
        let parsed = match decode_tagged(&rewritten) {
            Some(parsed) => parsed,
            None => parse(&rewritten)?,
        };
        return Some(parsed.map(|(tag, mut request)| {
            refs.mark(&mut request);
            (tag, request)
        }));
    }
    let mut words = Words::new(message);
    let tag = String::from_utf8(words.atom()?.to_vec()).ok()?;
    let mut verb = words.atom()?;
    let uid = verb.eq_ignore_ascii_case(b"UID");
    if uid {
        verb = words.atom()?;
    }
    if verb.eq_ignore_ascii_case(b"SEARCH") {
        let after_verb = words.at;
        let keyword = words.atom()?;
        if !keyword.eq_ignore_ascii_case(b"RETURN") {
            return None;
        }
        let parsed = search_return(&mut words).and_then(|returning| {
            // The command again, without `RETURN (...)`, for imap-codec.
            let mut plain = message[..after_verb].to_vec();
            plain.extend_from_slice(message.get(words.at..)?);
            let (_, command) = CommandCodec::default().decode(&plain).ok()?;
            match Request::from_command(&command) {
                Request::Search {
                    key,
                    charset_ok,
                    uid,
                    ..
                } => Some(Request::Search {
                    key,
                    charset_ok,
                    uid,
                    returning: Some(returning),
                }),
                _ => None,
            }
        });
        return Some(parsed.map(|r| (tag.clone(), r)).ok_or(tag));
    }
    if verb.eq_ignore_ascii_case(b"APPEND") && !uid {
        return Some(append(message, &tag, &mut words).ok_or(tag));
    }
    if verb.eq_ignore_ascii_case(b"LIST") && !uid {
        return Some(list(&mut words).map(|r| (tag.clone(), r)).ok_or(tag));
    }
    if verb.eq_ignore_ascii_case(b"CREATE") && !uid {
        return Some(create(&mut words).map(|r| (tag.clone(), r)).ok_or(tag));
    }
    if verb.eq_ignore_ascii_case(b"FETCH") {
        words.atom()?;
        let (plain, ours) = without(message, &mut words, &[b"EMAILID", b"THREADID"], b"UID")?;
        let parsed = decode(&plain).and_then(|request| match request {
            Request::Fetch {
                set,
                mut items,
                uid,
                changed_since,
                vanished,
            } => {
                if ours.placeholder && !uid {
                    items.retain(|i| *i != Item::Uid);
                }
                items.extend(ours.found.iter().map(|name| match name.as_slice() {
                    b"EMAILID" => Item::EmailId,
                    _ => Item::ThreadId,
                }));
                Some(Request::Fetch {
                    set,
                    items,
                    uid,
                    changed_since,
                    vanished,
                })
            }
            _ => None,
        });
        return Some(parsed.map(|r| (tag.clone(), r)).ok_or(tag));
    }
    if verb.eq_ignore_ascii_case(b"STATUS") && !uid {
        words.string()?;
        let (plain, ours) = without(message, &mut words, &[b"MAILBOXID"], b"MESSAGES")?;
        let parsed = decode(&plain).and_then(|request| match request {
            Request::Status { mailbox, mut items } => {
                if ours.placeholder {
                    items.clear();
                }
                items.push(StatusItem::MailboxId);
                Some(Request::Status { mailbox, items })
            }
            _ => None,
        });
        return Some(parsed.map(|r| (tag.clone(), r)).ok_or(tag));
    }
    None
}

/// `CREATE name (USE (attributes))` (RFC 6154 §3), after `CREATE`.
fn create(words: &mut Words) -> Option<Request> {
    let mailbox = String::from_utf8(words.string()?).ok()?;
    let mut parameters = words.list()?.into_iter();
    let (Some(Word::Atom(keyword)), Some(Word::List(uses)), None) =
        (parameters.next(), parameters.next(), parameters.next())
    else {
        return None;
    };
    if !keyword.eq_ignore_ascii_case(b"USE") || !words.at_end() {
        return None;
    }
    let uses = uses
        .into_iter()
        .map(|u| match u {
            Word::Atom(a) => String::from_utf8(a.to_vec()).ok(),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Request::Create { mailbox, uses })
}

/// imap-codec's reading of a command (rewritten without extension syntax).
fn decode(command: &[u8]) -> Option<Request> {
    let (_, command) = CommandCodec::default().decode(command).ok()?;
    Some(Request::from_command(&command))
}

/// imap-codec's reading of a whole command with its tag, if it reads it.
fn decode_tagged(command: &[u8]) -> Option<Result<(String, Request), String>> {
    let (_, command) = CommandCodec::default().decode(command).ok()?;
    Some(Ok((
        command.tag.as_ref().to_string(),
        Request::from_command(&command),
    )))
}

/// APPEND with several messages (RFC 3502 MULTIAPPEND) or with RFC 6855's `UTF8 (literal8)`,
/// after `APPEND`: `mailbox 1*([SP flag-list] [SP date-time] SP (literal / literal8 / "UTF8"
/// SP "(" literal8 ")"))`. Each message is handed to imap-codec as an APPEND of its own, so
/// flags and dates have one parser.
fn append(message: &[u8], tag: &str, words: &mut Words) -> Option<(String, Request)> {
    words.skip_space();
    let mailbox_start = words.at;
    words.string()?;
    let mailbox = message.get(mailbox_start..words.at)?;
    let mut messages = Vec::new();
    let mut name = None;
    while !words.at_end() {
        words.skip_space();
        let options_start = words.at;
        if words.peek_open() {
            words.list()?;
            words.skip_space();
        }
        if message.get(words.at) == Some(&b'"') {
            words.string()?;
            words.skip_space();
        }
        let options = message.get(options_start..words.at)?;
        let rest = message.get(words.at..)?;
        let utf8 = rest.len() > 6 && rest[..6].eq_ignore_ascii_case(b"UTF8 (");
        if utf8 {
            words.at += 6;
        }
        let data = words.literal()?;
        if utf8 {
            if message.get(words.at) != Some(&b')') {
                return None;
            }
            words.at += 1;
        }
        let mut one = format!("{tag} APPEND ").into_bytes();
        one.extend_from_slice(mailbox);
        one.push(b' ');
        one.extend_from_slice(options);
        one.extend_from_slice(format!("~{{{}}}\r\n", data.len()).as_bytes());
        one.extend_from_slice(data);
        one.extend_from_slice(b"\r\n");
        match decode(&one)? {
            Request::Append {
                mailbox,
                messages: mut parsed,
            } => {
                name = Some(mailbox);
                messages.append(&mut parsed);
            }
            other => return Some((tag.to_string(), other)),
        }
    }
    Some((
        tag.to_string(),
        Request::Append {
            mailbox: name?,
            messages,
        },
    ))
}

/// Extension names found in an item list, and whether the list had to be given a
/// placeholder item (imap-codec refuses an empty list).
struct Found {
    found: Vec<Vec<u8>>,
    placeholder: bool,
}

/// `message` without the items named in `ours` from the item list `words` stands before (a
/// parenthesised list or one atom); `None` when there are none of them (the command is not
/// one of ours). An emptied list gets `placeholder`.
fn without(
    message: &[u8],
    words: &mut Words,
    ours: &[&[u8]],
    placeholder: &[u8],
) -> Option<(Vec<u8>, Found)> {
    let is_ours =
        |w: &Word| matches!(w, Word::Atom(a) if ours.iter().any(|o| a.eq_ignore_ascii_case(o)));
    let spans = words.spans()?;
    let found: Vec<Vec<u8>> = spans
        .items
        .iter()
        .filter(|(w, _)| is_ours(w))
        .filter_map(|(w, _)| match w {
            Word::Atom(a) => Some(a.to_ascii_uppercase()),
            _ => None,
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    let placeholder_used = found.len() == spans.items.len();
    let mut plain = message.get(..spans.whole.start)?.to_vec();
    if placeholder_used {
        match spans.parenthesised {
            true => {
                plain.push(b'(');
                plain.extend_from_slice(placeholder);
                plain.push(b')');
            }
            false => plain.extend_from_slice(placeholder),
        }
    } else {
        // Each of ours is cut out with the space before it, or after it when it comes first;
        // the rest keeps its bytes (`BODY[HEADER.FIELDS (A)]` is three words, no spaces).
        let mut cursor = spans.whole.start;
        for (_, range) in spans.items.iter().filter(|(w, _)| is_ours(w)) {
            let space_before = range.start > cursor && message.get(range.start - 1) == Some(&b' ');
            let (cut_start, cut_end) = match space_before {
                true => (range.start - 1, range.end),
                false if message.get(range.end) == Some(&b' ') => (range.start, range.end + 1),
                false => (range.start, range.end),
            };
            plain.extend_from_slice(message.get(cursor..cut_start)?);
            cursor = cut_end;
        }
        plain.extend_from_slice(message.get(cursor..spans.whole.end)?);
    }
    plain.extend_from_slice(message.get(spans.whole.end..)?);
    Some((
        plain,
        Found {
            found,
            placeholder: placeholder_used,
        },
    ))
}

/// `RETURN (` options `)` of SEARCH; `RETURN` already read.
fn search_return(words: &mut Words) -> Option<SearchReturn> {
    let mut returning = SearchReturn::default();
    for option in words.list()? {
        match option {
            Word::Atom(a) if a.eq_ignore_ascii_case(b"MIN") => returning.min = true,
            Word::Atom(a) if a.eq_ignore_ascii_case(b"MAX") => returning.max = true,
            Word::Atom(a) if a.eq_ignore_ascii_case(b"COUNT") => returning.count = true,
            Word::Atom(a) if a.eq_ignore_ascii_case(b"ALL") => returning.all = true,
            Word::Atom(a) if a.eq_ignore_ascii_case(b"SAVE") => returning.save = true,
            // Anything else is unknown: BAD.
            _ => return None,
        }
    }
    if returning == SearchReturn::default() {
        // RFC 4731 §3.1: `RETURN ()` is the same as `RETURN (ALL)`.
        returning.all = true;
    }
    Some(returning)
}

/// `LIST [(selection)] reference (pattern / (patterns)) [RETURN (options)]`, after `LIST`.
fn list(words: &mut Words) -> Option<Request> {
    let mut options = ListOptions::default();
    if words.peek_open() {
        for option in words.list()? {
            let Word::Atom(a) = option else { return None };
            match a.to_ascii_uppercase().as_slice() {
                b"SUBSCRIBED" => options.subscribed_only = true,
                b"RECURSIVEMATCH" => options.recursive = true,
                b"SPECIAL-USE" => options.special_use_only = true,
                // No remote mailboxes here: nothing to add (RFC 5258 §3.1).
                b"REMOTE" => {}
                _ => return None,
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
        if options.recursive && !options.subscribed_only {
            return None;
        }
    }
    let reference = words.string()?;
    let patterns = match words.peek_open() {
        true => words
            .list()?
            .into_iter()
            .map(Word::into_string)
            .collect::<Option<Vec<_>>>()?,
        false => vec![words.string()?],
    };
    if let Some(keyword) = words.atom() {
        if !keyword.eq_ignore_ascii_case(b"RETURN") {
            return None;
        }
        let returned = words.list()?;
        let mut returned = returned.into_iter();
        while let Some(option) = returned.next() {
            let Word::Atom(a) = option else { return None };
            match a.to_ascii_uppercase().as_slice() {
                b"SUBSCRIBED" => options.return_subscribed = true,
                // Both are always given (RFC 3348 CHILDREN, RFC 6154 §2).
                b"CHILDREN" | b"SPECIAL-USE" => {}
                b"STATUS" => {
                    let Some(Word::List(items)) = returned.next() else {
                        return None;
                    };
                    options.status = Some(status_items(items)?);
                }
                _ => return None,
            }
        }
    }
    words.at_end().then_some(Request::ListExtended {
        reference: String::from_utf8(reference).ok()?,
        patterns: patterns
            .into_iter()
            .map(String::from_utf8)
            .collect::<Result<_, _>>()
            .ok()?,
        options,
    })
}

fn status_items(items: Vec<Word>) -> Option<Vec<StatusItem>> {
    items
        .into_iter()
        .map(|item| {
            let Word::Atom(a) = item else { return None };
            Some(match a.to_ascii_uppercase().as_slice() {
                b"MESSAGES" => StatusItem::Messages,
                b"RECENT" => StatusItem::Recent,
                b"UIDNEXT" => StatusItem::UidNext,
                b"UIDVALIDITY" => StatusItem::UidValidity,
                b"UNSEEN" => StatusItem::Unseen,
                b"DELETED" => StatusItem::Deleted,
                b"HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                b"SIZE" => StatusItem::Size,
                _ => return None,
            })
        })
        .collect()
}

/// Where the octets of the literal that starts at `at` lie: `{n}`, `{n+}` or `~{n}` (RFC 3516
/// literal8), then CRLF, then n octets (the Fragmentizer has framed them).
pub(crate) fn literal_at(bytes: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let start = at + usize::from(bytes.get(at) == Some(&b'~'));
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let close = start + bytes.get(start..)?.iter().position(|&b| b == b'}')?;
    let digits = bytes.get(start + 1..close)?;
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let data = close + 1 + usize::from(bytes.get(close + 1) == Some(&b'\r')) + 1;
    let end = data.checked_add(n)?;
    (end <= bytes.len()).then_some(data..end)
}

/// One element of the command: an atom, a string (quoted or literal, decoded), or a
/// parenthesised list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word<'a> {
    Atom(&'a [u8]),
    String(Vec<u8>),
    List(Vec<Word<'a>>),
}

impl Word<'_> {
    /// An atom or a string as the octets it stands for (a mailbox name or pattern).
    fn into_string(self) -> Option<Vec<u8>> {
        match self {
            Word::Atom(a) => Some(a.to_vec()),
            Word::String(s) => Some(s),
            Word::List(_) => None,
        }
    }
}

/// An item list as it stands in the command: its elements with their octet ranges, and the
/// range of the whole (parentheses included).
struct Spans<'a> {
    items: Vec<(Word<'a>, std::ops::Range<usize>)>,
    whole: std::ops::Range<usize>,
    parenthesised: bool,
}

/// Lists nested deeper than this are not read (the connection has refused deeper nesting
/// before any parser sees the command; this keeps the recursion bounded on its own).
const MAX_DEPTH: usize = 4;

/// A reader of the words of one command, separated by single spaces (RFC 9051 §9).
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Words<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn skip_space(&mut self) {
        if self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn peek_open(&mut self) -> bool {
        self.skip_space();
        self.bytes.get(self.at) == Some(&b'(')
    }

    /// Only the line ending is left.
    fn at_end(&mut self) -> bool {
        matches!(self.bytes.get(self.at..), Some(b"\r\n" | b"\n"))
    }

    /// A literal, `{n}`, `{n+}` or `~{n}` (RFC 3516 literal8), as the octets it holds.
    fn literal(&mut self) -> Option<&'a [u8]> {
        self.skip_space();
        let data = literal_at(self.bytes, self.at)?;
        self.at = data.end;
        self.bytes.get(data)
    }

    fn atom(&mut self) -> Option<&'a [u8]> {
        match self.word(0)? {
            Word::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// An astring or list-mailbox: atom, quoted string or literal.
    fn string(&mut self) -> Option<Vec<u8>> {
        self.word(0)?.into_string()
    }

    fn list(&mut self) -> Option<Vec<Word<'a>>> {
        match self.word(0)? {
            Word::List(items) => Some(items),
            _ => None,
        }
    }

    /// The next list (or single word) with the octet range of each of its elements.
    fn spans(&mut self) -> Option<Spans<'a>> {
        self.skip_space();
        let start = self.at;
        if self.bytes.get(start) != Some(&b'(') {
            let word = self.word(1)?;
            return Some(Spans {
                items: vec![(word, start..self.at)],
                whole: start..self.at,
                parenthesised: false,
            });
        }
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.bytes.get(self.at) == Some(&b')') {
                self.at += 1;
                return Some(Spans {
                    items,
                    whole: start..self.at,
                    parenthesised: true,
                });
            }
            let item_start = self.at;
            let word = self.word(1)?;
            items.push((word, item_start..self.at));
        }
    }

    fn word(&mut self, depth: usize) -> Option<Word<'a>> {
        self.skip_space();
        let start = self.at;
        match *self.bytes.get(start)? {
            b'(' if depth < MAX_DEPTH => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.bytes.get(self.at) == Some(&b')') {
                        self.at += 1;
                        return Some(Word::List(items));
                    }
                    items.push(self.word(depth + 1)?);
                }
            }
            b'"' => {
                let mut value = Vec::new();
                let mut i = start + 1;
                loop {
                    match *self.bytes.get(i)? {
                        b'"' => break,
                        b'\\' => {
                            value.push(*self.bytes.get(i + 1)?);
                            i += 2;
                        }
                        b'\r' | b'\n' => return None,
                        c => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                self.at = i + 1;
                Some(Word::String(value))
            }
            b'{' => Some(Word::String(self.literal()?.to_vec())),
            _ => {
                let len = self.bytes[start..]
                    .iter()
                    .position(|&b| matches!(b, b' ' | b'(' | b')' | b'"' | b'\r' | b'\n'))
                    .unwrap_or(self.bytes.len() - start);
                if len == 0 {
                    return None;
                }
                self.at = start + len;
                Some(Word::Atom(&self.bytes[start..start + len]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(command: &str) -> (Vec<String>, ListOptions) {
        match parse(command.as_bytes()) {
            Some(Ok((
                _,
                Request::ListExtended {
                    patterns, options, ..
                },
            ))) => (patterns, options),
            other => panic!("{command}: {other:?}"),
        }
    }

    #[test]
    fn list_extended_forms() {
        let (patterns, options) = list_of("a LIST (SUBSCRIBED) \"\" \"*\"\r\n");
        assert_eq!(patterns, ["*"]);
        assert!(options.subscribed_only && !options.return_subscribed);
        let (patterns, options) = list_of(
            "a LIST \"\" (INBOX {5}\r\nDraft \"Sent\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
        );
        assert_eq!(patterns, ["INBOX", "Draft", "Sent"]);
        assert_eq!(
            options.status,
            Some(vec![StatusItem::Messages, StatusItem::Unseen])
        );
        let (_, options) =
            list_of("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (SUBSCRIBED)\r\n");
        assert!(options.recursive && options.return_subscribed);
    }

    #[test]
    fn malformed_extended_commands_are_bad_and_others_are_not_ours() {
        for bad in [
            "a LIST (RECURSIVEMATCH) \"\" *\r\n",
            "a LIST (BOGUS) \"\" *\r\n",
            "a LIST \"\" * RETURN (STATUS)\r\n",
            "a LIST \"\" * RETURN (STATUS (NOPE))\r\n",
            "a LIST \"\" * TRAILING\r\n",
            "a SEARCH RETURN (SAVED) ALL\r\n",
            "a SEARCH RETURN (MIN\r\n",
            "a LIST \"\" {9}\r\nab\r\n",
        ] {
            assert!(matches!(parse(bad.as_bytes()), Some(Err(_))), "{bad}");
        }
        for other in ["a SEARCH ALL\r\n", "a FETCH 1 FLAGS\r\n", "a UID LIST\r\n"] {
            assert!(parse(other.as_bytes()).is_none(), "{other}");
        }
    }

    #[test]
    fn objectid_items_are_taken_out_for_imap_codec() {
        let Some(Ok((_, Request::Fetch { items, uid, .. }))) =
            parse(b"a FETCH 1:* (FLAGS EMAILID BODY.PEEK[HEADER.FIELDS (EMAILID)] THREADID)\r\n")
        else {
            panic!("not parsed");
        };
        assert!(!uid);
        assert!(items.contains(&Item::Flags) && items.contains(&Item::EmailId));
        assert!(items.contains(&Item::ThreadId) && !items.contains(&Item::Uid));
        assert_eq!(items.len(), 4, "{items:?}");
        let Some(Ok((_, Request::Fetch { items, .. }))) = parse(b"a FETCH 2 EMAILID\r\n") else {
            panic!("not parsed");
        };
        assert_eq!(items, [Item::EmailId]);
        let Some(Ok((_, Request::Fetch { items, uid, .. }))) =
            parse(b"a UID FETCH 2 (EMAILID)\r\n")
        else {
            panic!("not parsed");
        };
        assert!(uid && items.contains(&Item::EmailId));
        let Some(Ok((_, Request::Status { mailbox, items }))) =
            parse(b"a STATUS {5}\r\nINBOX (MAILBOXID MESSAGES)\r\n")
        else {
            panic!("not parsed");
        };
        assert_eq!(mailbox, "INBOX");
        assert_eq!(items, [StatusItem::Messages, StatusItem::MailboxId]);
        let Some(Ok((_, Request::Status { items, .. }))) = parse(b"a STATUS x (MAILBOXID)\r\n")
        else {
            panic!("not parsed");
        };
        assert_eq!(items, [StatusItem::MailboxId]);
        assert!(parse(b"a FETCH 1 (FLAGS)\r\n").is_none());
        assert!(matches!(
            parse(b"a FETCH 1 (EMAILID BOGUS)\r\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn search_return_leaves_the_keys_to_imap_codec() {
        let Some(Ok((
            tag,
            Request::Search {
                returning,
                uid,
                key,
                ..
            },
        ))) = parse(b"t7 UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 SUBJECT {3}\r\nabc\r\n")
        else {
            panic!("not parsed");
        };
        assert_eq!(tag, "t7");
        assert!(uid && key.is_some());
        let returning = returning.expect("RETURN given");
        assert!(returning.min && returning.count && !returning.max && !returning.all);
        let Some(Ok((_, Request::Search { returning, .. }))) =
            parse(b"t8 SEARCH RETURN () ALL\r\n")
        else {
            panic!("not parsed");
        };
        assert!(returning.expect("RETURN given").all);
    }
}
