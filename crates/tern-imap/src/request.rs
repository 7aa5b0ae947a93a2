//! What a client asked, in our terms: imap-codec's parse of one command, turned into owned
//! values the session can work with (and test) without the codec's borrowed types.

use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{
    Command, CommandBody, FetchModifier, SelectParameter, StoreModifier,
};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part as ImapPart, Section,
};
use imap_codec::imap_types::flag::{Flag as ImapFlag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::StatusDataItemName;
use tern_store::FlagOp;
use tern_types::{Flag, Flags};

use crate::placeholder::SetKind;
use crate::search::Key;
use crate::section::BodySection;

/// One end of a sequence range: a number, or `*` (the last message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bound {
    Value(u32),
    Last,
}

impl Set {
    /// The set's ranges as `(low, high)`, `*` standing for `last` (RFC 9051 §9: `a:b` and
    /// `b:a` are the same range).
    pub(crate) fn ranges(&self, last: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let value = move |b: Bound| match b {
            Bound::Value(v) => v,
            Bound::Last => last,
        };
        self.0.iter().map(move |&(a, b)| {
            let (a, b) = (value(a), value(b));
            (a.min(b), a.max(b))
        })
    }

    /// [`Set::ranges`] in ascending order, overlapping and adjacent ones joined: a set written
    /// as many overlapping ranges (`1:*,1:*,...`) costs what its members cost, not its length
    /// times the mailbox.
    pub(crate) fn merged(&self, last: u32) -> Vec<(u32, u32)> {
        let mut ranges: Vec<(u32, u32)> = self.ranges(last).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(previous) if lo <= previous.1.saturating_add(1) => {
                    previous.1 = previous.1.max(hi)
                }
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Whether `n` is in the set, `*` standing for `last`.
    pub(crate) fn contains(&self, n: u32, last: u32) -> bool {
        self.ranges(last).any(|(lo, hi)| lo <= n && n <= hi)
    }
}

/// What a QRESYNC client knew of a mailbox (RFC 7162 §3.2.5): its UIDVALIDITY and highest
/// MODSEQ then, and optionally the UIDs it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resync {
    pub(crate) uid_validity: u32,
    pub(crate) modseq: u64,
    pub(crate) known_uids: Option<Set>,
}

/// A sequence set as given (RFC 9051 §9 `sequence-set`), message numbers or UIDs. Shared
/// (`Arc`): a saved result (`$`, RFC 5182) may stand many times in one command, and each is
/// the same set, not a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Set(pub(crate) Arc<[(Bound, Bound)]>);

impl Set {
    /// `$`, the saved search result (RFC 5182), until the session puts the messages in its
    /// place: an empty set, which no client can write (RFC 9051 §9: a set has a member).
    pub(crate) fn saved() -> Self {
        Set(Arc::from(Vec::new()))
    }

    pub(crate) fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// The set of these ascending numbers (empty: matches nothing).
    pub(crate) fn of(numbers: impl IntoIterator<Item = u32>) -> Self {
        Set(crate::respond::ranges(numbers)
            .into_iter()
            .map(|(lo, hi)| (Bound::Value(lo), Bound::Value(hi)))
            .collect())
    }
}

/// A FETCH data item this version answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// RFC 8474 §5.1.
    EmailId,
    /// RFC 8474 §5.2 (NIL: threads are not tracked across mailboxes).
    ThreadId,
    Flags,
    Uid,
    Size,
    InternalDate,
    Envelope,
    /// BODYSTRUCTURE (true) or BODY (false).
    Structure(bool),
    /// RFC 7162 MODSEQ.
    ModSeq,
    /// RFC 3516 BINARY[part]<partial> (BINARY.PEEK when not `seen`): the part decoded.
    Binary {
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
        seen: bool,
    },
    /// RFC 3516 BINARY.SIZE[part].
    BinarySize(Vec<u32>),
    /// A body section, `BODY[...]<partial>` or an RFC822 form; `seen` when it sets \Seen.
    Body {
        section: BodySection,
        partial: Option<(u32, u32)>,
        seen: bool,
        label: Label,
    },
}

/// How a body item is named in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

fn part_numbers(part: Option<&ImapPart>) -> Vec<u32> {
    part.map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
        .unwrap_or_default()
}

fn section(section: &Option<Section<'_>>) -> BodySection {
    let names = |list: &[AString<'_>]| -> Vec<String> {
        list.iter()
            .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
            .collect()
    };
    match section {
        None => BodySection::Full,
        Some(Section::Part(part)) => BodySection::Part(part_numbers(Some(part))),
        Some(Section::Mime(part)) => BodySection::Mime(part_numbers(Some(part))),
        Some(Section::Header(part)) => BodySection::Header(part_numbers(part.as_ref())),
        Some(Section::Text(part)) => BodySection::Text(part_numbers(part.as_ref())),
        Some(Section::HeaderFields(part, list)) => BodySection::Fields {
            part: part_numbers(part.as_ref()),
            names: names(list.as_ref()),
            not: false,
        },
        Some(Section::HeaderFieldsNot(part, list)) => BodySection::Fields {
            part: part_numbers(part.as_ref()),
            names: names(list.as_ref()),
            not: true,
        },
    }
}

#[derive(Debug)]
pub(crate) enum Request {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 4978 COMPRESS DEFLATE.
    Compress,
    Login {
        user: String,
        password: String,
    },
    /// AUTHENTICATE PLAIN, with the SASL-IR initial response if given (raw, not base64).
    AuthenticatePlain {
        initial: Option<Vec<u8>>,
    },
    /// AUTHENTICATE with another mechanism.
    AuthenticateOther,
    /// SELECT or EXAMINE; `condstore`: the (CONDSTORE) parameter (RFC 7162 §3.1.8);
    /// `qresync`: the (QRESYNC ...) parameter (RFC 7162 §3.2.5).
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<Resync>,
    },
    List {
        reference: String,
        pattern: String,
    },
    /// FETCH; `changed_since`: RFC 7162 CHANGEDSINCE, `vanished`: its VANISHED modifier.
    Fetch {
        set: Set,
        items: Vec<Item>,
        uid: bool,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Close,
    Unselect,
    Check,
    Idle,
    /// RFC 2971 ID: the client's parameters are only logged.
    Id,
    /// RFC 2342 NAMESPACE.
    Namespace,
    /// RFC 9208 GETQUOTAROOT of a mailbox.
    GetQuotaRoot {
        mailbox: String,
    },
    /// RFC 9208 GETQUOTA of a quota root.
    GetQuota {
        root: String,
    },
    /// RFC 9208 SETQUOTA: quotas are the administrator's (`tern user`), not the user's.
    SetQuota,
    /// RFC 5161 ENABLE with the capabilities asked for.
    Enable(Vec<String>),
    Store {
        set: Set,
        op: FlagOp,
        flags: Flags,
        silent: bool,
        uid: bool,
        /// RFC 7162 §3.1.3 UNCHANGEDSINCE.
        unchanged_since: Option<u64>,
    },
    /// EXPUNGE, or UID EXPUNGE (RFC 4315 §2.1) of the UIDs in the set.
    Expunge {
        uids: Option<Set>,
    },
    /// CREATE; `uses`: RFC 6154 §3 `(USE (...))` special-use attributes asked for.
    Create {
        mailbox: String,
        uses: Vec<String>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
        subscribe: bool,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// COPY or MOVE (RFC 6851), by message number or UID.
    Copy {
        set: Set,
        to: String,
        uid: bool,
        remove: bool,
    },
    /// APPEND of one message, or of several at once (RFC 3502 MULTIAPPEND, `extended.rs`).
    Append {
        mailbox: String,
        messages: Vec<Appending>,
    },
    /// SORT or UID SORT (RFC 5256 §3): criteria, then a search as SEARCH's.
    Sort {
        order: crate::sort::Order,
        key: Option<Key>,
        charset_ok: bool,
        uid: bool,
    },
    /// THREAD (RFC 5256 §4): ORDEREDSUBJECT (true) or REFERENCES (false); `None`: another.
    Thread {
        ordered_subject: Option<bool>,
        key: Option<Key>,
        charset_ok: bool,
        uid: bool,
    },
    /// SEARCH or UID SEARCH (RFC 9051 §6.4.4); `None` criteria: a key this version lacks.
    /// SEARCH; `returning`: RFC 4731 ESEARCH's `RETURN (...)` (`extended.rs`).
    Search {
        key: Option<Key>,
        charset_ok: bool,
        uid: bool,
        returning: Option<crate::extended::SearchReturn>,
    },
    /// RFC 5258 LIST-EXTENDED (`extended.rs`): selection and return options, several
    /// patterns.
    ListExtended {
        reference: String,
        patterns: Vec<String>,
        options: crate::extended::ListOptions,
    },
    /// A flag a client may not set (`\Recent`, an unknown `\` flag): BAD.
    BadFlag,
    /// A command this version does not do yet (named for the reply).
    NotYet(&'static str),
}

/// One message of an APPEND: its flags, internal date (if given) and octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Appending {
    pub(crate) flags: Flags,
    pub(crate) date: Option<i64>,
    pub(crate) message: Vec<u8>,
}

impl Request {
    /// The search criteria of SEARCH, SORT or THREAD.
    pub(crate) fn criteria_mut(&mut self) -> Option<&mut Key> {
        match self {
            Request::Search { key, .. }
            | Request::Sort { key, .. }
            | Request::Thread { key, .. } => key.as_mut(),
            _ => None,
        }
    }

    /// Calls `f` on each sequence set of the request, in the order they stand in the command,
    /// with where it stands (for `$`, `placeholder.rs`).
    pub(crate) fn visit_sets(&mut self, f: &mut dyn FnMut(&mut Set, SetKind)) {
        match self {
            Request::Fetch { set, .. } | Request::Store { set, .. } | Request::Copy { set, .. } => {
                f(set, SetKind::Command)
            }
            Request::Expunge { uids: Some(set) } => f(set, SetKind::Command),
            Request::Search { key: Some(key), .. }
            | Request::Sort { key: Some(key), .. }
            | Request::Thread { key: Some(key), .. } => key.visit_sets(f),
            _ => {}
        }
    }
}

/// A STATUS item this version answers (RFC 9051 §6.3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    /// RFC 9051 §6.3.11: messages with \Deleted.
    Deleted,
    /// RFC 7162 §3.1.6.
    HighestModSeq,
    /// RFC 8438 STATUS=SIZE: octets of the mailbox.
    Size,
    /// RFC 8474 §4.2: the mailbox's MAILBOXID.
    MailboxId,
}

/// Flags as stored; `None` when one of them is not a flag a client may set.
fn flags(given: &[ImapFlag<'_>]) -> Option<Flags> {
    given
        .iter()
        .map(|f| match f {
            ImapFlag::Answered => Some(Flag::Answered),
            ImapFlag::Deleted => Some(Flag::Deleted),
            ImapFlag::Draft => Some(Flag::Draft),
            ImapFlag::Flagged => Some(Flag::Flagged),
            ImapFlag::Seen => Some(Flag::Seen),
            ImapFlag::Keyword(atom) => Some(Flag::Keyword(atom.inner().to_string())),
            // RFC 9051 §2.3.2: \Recent is gone, other system-flag names do not exist.
            ImapFlag::Extension(_) => None,
        })
        .collect()
}

/// The mailbox name as the client sent it (modified UTF-7 or UTF-8; decoded by the session).
fn mailbox_name(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(other) => String::from_utf8_lossy(other.as_ref()).into_owned(),
    }
}

fn list_pattern(pattern: &ListMailbox<'_>) -> String {
    match pattern {
        ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
        ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
    }
}

fn bound(value: &SeqOrUid) -> Bound {
    match value {
        SeqOrUid::Value(n) => Bound::Value(NonZeroU32::get(*n)),
        SeqOrUid::Asterisk => Bound::Last,
    }
}

/// The (QRESYNC ...) parameter of SELECT or EXAMINE, if given. Its sequence-match data only
/// helps a server that has forgotten expunges narrow its answer; ours answers without it.
fn resync(parameters: &[SelectParameter]) -> Option<Resync> {
    parameters.iter().find_map(|p| match p {
        SelectParameter::QResync {
            uid_validity,
            mod_sequence_value,
            known_uids,
            ..
        } => Some(Resync {
            uid_validity: uid_validity.get(),
            modseq: mod_sequence_value.get(),
            known_uids: known_uids.as_ref().map(set),
        }),
        SelectParameter::CondStore => None,
    })
}

pub(crate) fn set(sequence_set: &SequenceSet) -> Set {
    Set(sequence_set
        .0
        .as_ref()
        .iter()
        .map(|sequence| match sequence {
            Sequence::Single(one) => (bound(one), bound(one)),
            Sequence::Range(a, b) => (bound(a), bound(b)),
        })
        .collect())
}

/// The items of a FETCH, or the name of the first one this version does not answer.
fn items(names: &MacroOrMessageDataItemNames<'_>) -> Result<Vec<Item>, &'static str> {
    // RFC 9051 §6.4.5: the macros.
    let names: Vec<MessageDataItemName<'_>> = match names {
        MacroOrMessageDataItemNames::Macro(m) => match m {
            Macro::Fast => vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
            ],
            Macro::All => vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
                MessageDataItemName::Envelope,
            ],
            Macro::Full => vec![
                MessageDataItemName::Flags,
                MessageDataItemName::InternalDate,
                MessageDataItemName::Rfc822Size,
                MessageDataItemName::Envelope,
                MessageDataItemName::Body,
            ],
            _ => return Err("this FETCH macro"),
        },
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names.clone(),
    };
    names
        .iter()
        .map(|name| match name {
            MessageDataItemName::Flags => Ok(Item::Flags),
            MessageDataItemName::Uid => Ok(Item::Uid),
            MessageDataItemName::Rfc822Size => Ok(Item::Size),
            MessageDataItemName::InternalDate => Ok(Item::InternalDate),
            MessageDataItemName::Envelope => Ok(Item::Envelope),
            MessageDataItemName::BodyStructure => Ok(Item::Structure(true)),
            MessageDataItemName::Body => Ok(Item::Structure(false)),
            MessageDataItemName::ModSeq => Ok(Item::ModSeq),
            MessageDataItemName::Binary {
                section,
                partial,
                peek,
            } => Ok(Item::Binary {
                part: section.iter().map(|n| n.get()).collect(),
                partial: partial.map(|(offset, len)| (offset, len.get())),
                seen: !peek,
            }),
            MessageDataItemName::BinarySize { section } => {
                Ok(Item::BinarySize(section.iter().map(|n| n.get()).collect()))
            }
            MessageDataItemName::Rfc822 => Ok(Item::Body {
                section: BodySection::Full,
                partial: None,
                seen: true,
                label: Label::Rfc822,
            }),
            MessageDataItemName::Rfc822Header => Ok(Item::Body {
                section: BodySection::Header(Vec::new()),
                partial: None,
                seen: false,
                label: Label::Rfc822Header,
            }),
            MessageDataItemName::Rfc822Text => Ok(Item::Body {
                section: BodySection::Text(Vec::new()),
                partial: None,
                seen: true,
                label: Label::Rfc822Text,
            }),
            MessageDataItemName::BodyExt {
                section: which,
                partial,
                peek,
            } => Ok(Item::Body {
                section: section(which),
                partial: partial.map(|(offset, len)| (offset, len.get())),
                seen: !peek,
                label: Label::Body,
            }),
        })
        .collect()
}

/// SEARCH criteria (the keys ANDed), or `None` when one is a key this version lacks.
fn criteria(keys: &[SearchKey<'_>]) -> Option<Key> {
    keys.iter()
        .map(Key::from_imap)
        .collect::<Option<Vec<_>>>()
        .map(Key::And)
}

/// RFC 9051 §6.4.4: US-ASCII and UTF-8 are the charsets every server knows.
fn known_charset(charset: &str) -> bool {
    charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("US-ASCII")
}

impl Request {
    pub(crate) fn from_command(command: &Command<'_>) -> Request {
        match &command.body {
            CommandBody::Capability => Request::Capability,
            CommandBody::Noop => Request::Noop,
            CommandBody::Logout => Request::Logout,
            CommandBody::StartTLS => Request::StartTls,
            // DEFLATE is the one algorithm the grammar knows (RFC 4978 §3).
            CommandBody::Compress { .. } => Request::Compress,
            CommandBody::Login { username, password } => Request::Login {
                user: String::from_utf8_lossy(username.as_ref()).into_owned(),
                password: String::from_utf8_lossy(password.declassify().as_ref()).into_owned(),
            },
            CommandBody::Authenticate {
                mechanism: AuthMechanism::Plain,
                initial_response,
            } => Request::AuthenticatePlain {
                initial: initial_response.as_ref().map(|ir| ir.declassify().to_vec()),
            },
            CommandBody::Authenticate { .. } => Request::AuthenticateOther,
            CommandBody::Select {
                mailbox,
                parameters,
            } => Request::Select {
                mailbox: mailbox_name(mailbox),
                read_only: false,
                condstore: parameters.contains(&SelectParameter::CondStore),
                qresync: resync(parameters),
            },
            CommandBody::Examine {
                mailbox,
                parameters,
            } => Request::Select {
                mailbox: mailbox_name(mailbox),
                read_only: true,
                condstore: parameters.contains(&SelectParameter::CondStore),
                qresync: resync(parameters),
            },
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => Request::List {
                reference: mailbox_name(reference),
                pattern: list_pattern(mailbox_wildcard),
            },
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => match items(macro_or_item_names) {
                Ok(items) => Request::Fetch {
                    set: set(sequence_set),
                    items,
                    uid: *uid,
                    changed_since: modifiers.iter().find_map(|m| match m {
                        FetchModifier::ChangedSince(n) => Some(n.get()),
                        _ => None,
                    }),
                    vanished: modifiers.contains(&FetchModifier::Vanished),
                },
                Err(what) => Request::NotYet(what),
            },
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags: given,
                uid,
                modifiers,
            } => match flags(given) {
                Some(flags) => Request::Store {
                    unchanged_since: modifiers
                        .iter()
                        .map(|m| match m {
                            StoreModifier::UnchangedSince(n) => *n,
                        })
                        .next(),
                    set: set(sequence_set),
                    op: match kind {
                        StoreType::Replace => FlagOp::Replace,
                        StoreType::Add => FlagOp::Add,
                        StoreType::Remove => FlagOp::Remove,
                    },
                    flags,
                    silent: matches!(response, StoreResponse::Silent),
                    uid: *uid,
                },
                None => Request::BadFlag,
            },
            CommandBody::Expunge => Request::Expunge { uids: None },
            CommandBody::ExpungeUid { sequence_set } => Request::Expunge {
                uids: Some(set(sequence_set)),
            },
            CommandBody::Create { mailbox } => Request::Create {
                mailbox: mailbox_name(mailbox),
                uses: Vec::new(),
            },
            CommandBody::Delete { mailbox } => Request::Delete {
                mailbox: mailbox_name(mailbox),
            },
            CommandBody::Rename { from, to } => Request::Rename {
                from: mailbox_name(from),
                to: mailbox_name(to),
            },
            CommandBody::Subscribe { mailbox } => Request::Subscribe {
                mailbox: mailbox_name(mailbox),
                subscribe: true,
            },
            CommandBody::Unsubscribe { mailbox } => Request::Subscribe {
                mailbox: mailbox_name(mailbox),
                subscribe: false,
            },
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => Request::Lsub {
                reference: mailbox_name(reference),
                pattern: list_pattern(mailbox_wildcard),
            },
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let items: Option<Vec<StatusItem>> = item_names
                    .iter()
                    .map(|item| match item {
                        StatusDataItemName::Messages => Some(StatusItem::Messages),
                        StatusDataItemName::Recent => Some(StatusItem::Recent),
                        StatusDataItemName::UidNext => Some(StatusItem::UidNext),
                        StatusDataItemName::UidValidity => Some(StatusItem::UidValidity),
                        StatusDataItemName::Unseen => Some(StatusItem::Unseen),
                        StatusDataItemName::HighestModSeq => Some(StatusItem::HighestModSeq),
                        StatusDataItemName::Size => Some(StatusItem::Size),
                        StatusDataItemName::Deleted => Some(StatusItem::Deleted),
                        _ => None,
                    })
                    .collect();
                match items {
                    Some(items) => Request::Status {
                        mailbox: mailbox_name(mailbox),
                        items,
                    },
                    None => Request::NotYet("this STATUS item"),
                }
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => Request::Copy {
                set: set(sequence_set),
                to: mailbox_name(mailbox),
                uid: *uid,
                remove: false,
            },
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => Request::Copy {
                set: set(sequence_set),
                to: mailbox_name(mailbox),
                uid: *uid,
                remove: true,
            },
            CommandBody::Append {
                mailbox,
                flags: given,
                date,
                message,
            } => match flags(given) {
                Some(flags) => Request::Append {
                    mailbox: mailbox_name(mailbox),
                    messages: vec![Appending {
                        flags,
                        date: date.as_ref().map(|d| d.as_ref().timestamp()),
                        message: match message {
                            LiteralOrLiteral8::Literal(literal) => literal.data().to_vec(),
                            LiteralOrLiteral8::Literal8(literal) => literal.data.to_vec(),
                        },
                    }],
                },
                None => Request::BadFlag,
            },
            CommandBody::Idle => Request::Idle,
            CommandBody::Id { .. } => Request::Id,
            CommandBody::Namespace => Request::Namespace,
            CommandBody::GetQuotaRoot { mailbox } => Request::GetQuotaRoot {
                mailbox: mailbox_name(mailbox),
            },
            CommandBody::GetQuota { root } => Request::GetQuota {
                root: String::from_utf8_lossy(root.as_ref()).into_owned(),
            },
            CommandBody::SetQuota { .. } => Request::SetQuota,
            CommandBody::Enable { capabilities } => Request::Enable(
                capabilities
                    .as_ref()
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            ),
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => Request::Sort {
                order: crate::sort::criteria(sort_criteria.as_ref()),
                key: criteria(search_criteria.as_ref()),
                charset_ok: known_charset(charset.as_ref()),
                uid: *uid,
            },
            CommandBody::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => Request::Thread {
                ordered_subject: match algorithm {
                    ThreadingAlgorithm::OrderedSubject => Some(true),
                    ThreadingAlgorithm::References => Some(false),
                    _ => None,
                },
                key: criteria(search_criteria.as_ref()),
                charset_ok: known_charset(charset.as_ref()),
                uid: *uid,
            },
            CommandBody::Search {
                charset,
                criteria: keys,
                uid,
            } => Request::Search {
                key: criteria(keys.as_ref()),
                charset_ok: charset.as_ref().is_none_or(|c| known_charset(c.as_ref())),
                uid: *uid,
                returning: None,
            },
            CommandBody::Close => Request::Close,
            CommandBody::Unselect => Request::Unselect,
            CommandBody::Check => Request::Check,
        }
    }
}
