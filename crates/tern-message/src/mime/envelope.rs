//! The envelope (RFC 9051 §7.5.2), the sort and thread keys (RFC 5256) and the header part of
//! the search text, read from the fields of one header block within the limits.

use std::collections::HashSet;

use mail_parser::{Address, AddressList, Header, HeaderName, MessagePart};

use super::build::unfolded;
use super::subject::base_subject;
use super::{AddressKey, Envelope, EnvelopeAddress, MimeLimits, SearchText, SortKeys};

/// The fields of one header block that the limits let us read: all of them, or those before
/// the first that breaks `max_header_fields`, `max_header_bytes` or `max_header_line`.
pub(crate) struct HeaderWindow<'m> {
    part: MessagePart<'m>,
    take: usize,
    /// A limit cut the block short.
    pub(crate) cut: bool,
}

impl<'m> HeaderWindow<'m> {
    pub(crate) fn new(part: &MessagePart<'m>, limits: &MimeLimits) -> Self {
        let headers = part.headers();
        let mut take = 0;
        let mut bytes = 0usize;
        let mut cut = false;
        for header in headers.iter() {
            let len = header.offset_end().saturating_sub(header.offset_field()) as usize;
            bytes += len;
            if take == limits.max_header_fields
                || len > limits.max_header_line
                || bytes > limits.max_header_bytes
            {
                cut = true;
                break;
            }
            take += 1;
        }
        HeaderWindow {
            part: *part,
            take,
            cut,
        }
    }

    pub(crate) fn fields(&self) -> impl Iterator<Item = Header<'m>> + 'm {
        self.part.headers().iter().take(self.take)
    }

    pub(crate) fn attachment_name(&self) -> Option<&'m str> {
        self.part.attachment_name()
    }
}

/// The envelope, the sort keys (all but attachments and preview, which need the body) and the
/// header search text of one message.
/// `search`: also gather the header text of the search index.
pub(crate) fn envelope_and_keys(
    window: &HeaderWindow<'_>,
    search: bool,
) -> (Envelope, SortKeys, SearchText) {
    let mut env = Envelope::default();
    let mut keys = SortKeys::default();
    let mut text = SearchText::default();
    let mut seen_subject = false;
    let mut seen_date = false;
    let mut references: Option<Vec<String>> = None;
    let mut in_reply_to: Option<Vec<String>> = None;
    for header in window.fields() {
        let name = header.name();
        let value = header.value();
        if search {
            text.headers.push_str(header.raw_name());
            text.headers.push_str(": ");
            match value.as_text() {
                Some(decoded) if !matches!(name, HeaderName::MessageId | HeaderName::InReplyTo) => {
                    text.headers.push_str(decoded)
                }
                _ => text.headers.push_str(&unfolded(&header)),
            }
            text.headers.push('\n');
        }
        match name {
            HeaderName::Date if !seen_date => {
                seen_date = true;
                env.date = Some(unfolded(&header));
                keys.sent_date = value
                    .as_datetime()
                    .filter(|d| d.is_valid())
                    .map(|d| d.to_timestamp());
            }
            HeaderName::Subject if !seen_subject => {
                seen_subject = true;
                env.subject = Some(unfolded(&header));
                let decoded = value.as_text().unwrap_or_default();
                keys.base_subject = base_subject(decoded);
                text.subject = decoded.to_string();
            }
            HeaderName::From if env.from.is_empty() => {
                (env.from, keys.from, text.from) = addresses(value.as_address(), &header);
            }
            HeaderName::Sender if env.sender.is_empty() => {
                env.sender = addresses(value.as_address(), &header).0;
            }
            HeaderName::ReplyTo if env.reply_to.is_empty() => {
                env.reply_to = addresses(value.as_address(), &header).0;
            }
            HeaderName::To if env.to.is_empty() => {
                (env.to, keys.to, text.to) = addresses(value.as_address(), &header);
            }
            HeaderName::Cc if env.cc.is_empty() => {
                (env.cc, keys.cc, text.cc) = addresses(value.as_address(), &header);
            }
            HeaderName::Bcc if env.bcc.is_empty() => {
                let (list, _, bcc) = addresses(value.as_address(), &header);
                env.bcc = list;
                text.bcc = bcc;
            }
            HeaderName::InReplyTo if env.in_reply_to.is_none() => {
                env.in_reply_to = Some(unfolded(&header));
                in_reply_to = value
                    .as_text_list()
                    .map(|l| l.iter().map(str::to_string).collect());
            }
            HeaderName::MessageId if env.message_id.is_none() => {
                env.message_id = Some(unfolded(&header));
                keys.message_id = value.as_text().map(str::to_string);
            }
            HeaderName::References if references.is_none() => {
                references = value
                    .as_text_list()
                    .map(|l| l.iter().map(str::to_string).collect());
            }
            _ => {}
        }
    }
    // RFC 5256 §4 (REFERENCES, step 1.A): References, else In-Reply-To.
    keys.references = references.or(in_reply_to).unwrap_or_default();
    (env, keys, text)
}

/// An address field as ENVELOPE lists it, its first mailbox (a group's name when the field
/// starts with a group, as IMAP's envelope does: RFC 5256 §2.2 sorts on that mailbox), and
/// its search text (`name <address>` items, and group names).
///
/// mail-parser gives a comment alone (`group: (foo) ;`) and a bare word (`From: d`) the same
/// way, as a name without an address; the field's text tells them apart: a comment is left
/// out (RFC 5322 §3.2.2: it is not part of the address), a bare word is a local part without
/// a domain, as Dovecot reads it.
fn addresses(
    list: Option<AddressList<'_>>,
    header: &Header<'_>,
) -> (Vec<EnvelopeAddress>, Option<AddressKey>, String) {
    let mut field = AddressField::default();
    let Some(list) = list else {
        return (field.out, field.first, field.text);
    };
    let mut comments = Comments {
        header,
        texts: None,
    };
    for item in list.iter() {
        match item {
            Address::Mailbox(m) => field.mailbox(m.name(), m.address(), &mut comments),
            Address::Group(g) => {
                field.group(g.name().unwrap_or_default());
                for m in g.mailboxes() {
                    field.mailbox(m.name(), m.address(), &mut comments);
                }
                field.out.push(EnvelopeAddress::GroupEnd);
            }
        }
    }
    (field.out, field.first, field.text)
}

/// The comments of an address field, `(text)`, against which [`AddressField::mailbox`] checks
/// a name that came without an address. The field is read once, on the first such name, into
/// the set of its comments' texts: checking each name against the whole field cost names x
/// field length (a `To:` of 30,000 bare words, from any sender, or of as many quoted names
/// holding a parenthesis).
struct Comments<'h> {
    header: &'h Header<'h>,
    texts: Option<HashSet<String>>,
}

impl Comments<'_> {
    /// Whether `(word)` stands in the field as a comment.
    fn contain(&mut self, word: &str) -> bool {
        let header = self.header;
        self.texts
            .get_or_insert_with(|| comment_texts(&unfolded(header)))
            .contains(word)
    }
}

/// Comments holding comments nested deeper than this are not collected whole: each octet of
/// the field is then copied into at most this many texts plus one, however deep a sender
/// nests them (all of `((((...))))` would be the field's length squared).
const COMMENT_DEPTH: usize = 8;

/// The texts of the field's comments (RFC 5322 §3.2.2: balanced parentheses, nested ones
/// inside), those of comments within [`COMMENT_DEPTH`].
fn comment_texts(raw: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    // The comments open here: where each starts, and how deep the comments inside it go.
    let mut open: Vec<(usize, usize)> = Vec::new();
    for (at, c) in raw.char_indices() {
        match c {
            '(' => open.push((at, 0)),
            ')' => {
                let Some((start, depth)) = open.pop() else {
                    continue;
                };
                if depth <= COMMENT_DEPTH {
                    found.insert(raw[start + 1..at].to_string());
                }
                if let Some(outer) = open.last_mut() {
                    outer.1 = outer.1.max(depth + 1);
                }
            }
            _ => {}
        }
    }
    found
}

/// What [`addresses`] gathers from one field.
#[derive(Default)]
struct AddressField {
    out: Vec<EnvelopeAddress>,
    first: Option<AddressKey>,
    text: String,
}

impl AddressField {
    fn separate(&mut self) {
        if !self.text.is_empty() {
            self.text.push_str(", ");
        }
    }

    fn group(&mut self, name: &str) {
        if self.first.is_none() {
            self.first = Some(AddressKey {
                address: name.to_string(),
                name: None,
            });
        }
        self.separate();
        self.text.push_str(name);
        self.text.push(':');
        self.out.push(EnvelopeAddress::GroupStart(name.to_string()));
    }

    fn mailbox(&mut self, name: Option<&str>, address: Option<&str>, comments: &mut Comments<'_>) {
        let (name, address) = match (name, address) {
            (Some(word), None) if comments.contain(word) => return,
            (Some(word), None) => (None, Some(word)),
            other => other,
        };
        // RFC 5322 §4.4 obsolete source route (`@relay:user@host`): kept apart, as IMAP's
        // addr-adl, so the address itself is the mailbox.
        let (route, address) = match address {
            Some(a) if a.starts_with('@') => match a.split_once(':') {
                Some((route, rest)) => (Some(route.to_string()), Some(rest)),
                None => (None, Some(a)),
            },
            other => (None, other),
        };
        let (local, domain) = match address {
            Some(a) => match a.rsplit_once('@') {
                Some((l, d)) => (Some(l.to_string()), Some(d.to_string())),
                None => (Some(a.to_string()), None),
            },
            None => (None, None),
        };
        if self.first.is_none() {
            if let Some(a) = address {
                self.first = Some(AddressKey {
                    address: a.to_string(),
                    name: name.map(str::to_string),
                });
            }
        }
        self.separate();
        if let Some(n) = name {
            self.text.push_str(n);
            self.text.push(' ');
        }
        self.text.push('<');
        self.text.push_str(address.unwrap_or_default());
        self.text.push('>');
        self.out.push(EnvelopeAddress::Mailbox {
            name: name.map(str::to_string),
            route,
            local,
            domain,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::{describe, MimeLimits};

    #[test]
    fn comment_texts_are_the_balanced_ones_within_the_depth() {
        let texts = comment_texts("a (b) c (d (e) f) (g");
        let expected: HashSet<String> = ["b", "e", "d (e) f"].map(String::from).into();
        assert_eq!(texts, expected, "an unclosed comment is none");
        let deep = format!("{}x{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(
            comment_texts(&deep).len(),
            COMMENT_DEPTH + 1,
            "only comments within the depth are collected whole"
        );
    }

    #[test]
    fn a_comment_alone_is_left_out_and_a_bare_word_is_a_local_part() {
        let message = b"From: d\r\nTo: undisclosed: (a (b) c) ;\r\n\r\nbody\r\n";
        let envelope = describe(message, &MimeLimits::default()).envelope;
        assert_eq!(
            envelope.to,
            vec![
                EnvelopeAddress::GroupStart("undisclosed".into()),
                EnvelopeAddress::GroupEnd
            ]
        );
        assert!(
            matches!(&envelope.from[..], [EnvelopeAddress::Mailbox { local: Some(l), .. }] if l == "d"),
            "{:?}",
            envelope.from
        );
    }
}
