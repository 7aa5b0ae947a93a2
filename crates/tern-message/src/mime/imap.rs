//! What IMAP's FETCH BODYSTRUCTURE, BODY and ENVELOPE say about a stored message
//! (RFC 9051 §7.5.2 and the formal syntax of §9; RFC 3501 §7.4.2 for IMAP4rev1), rendered
//! from the stored structure without reading the message.

use base64::Engine;

use super::{Envelope, EnvelopeAddress, MessageMeta, Param, Part, PartBody};

/// How strings may be sent to this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapStrings {
    /// The client accepts UTF-8 in quoted strings (IMAP4rev2 or ENABLE UTF8=ACCEPT,
    /// RFC 6855). Otherwise non-ASCII display names and subjects are sent as RFC 2047
    /// encoded words and other 8-bit strings as literals.
    pub utf8: bool,
}

/// `BODYSTRUCTURE` (with `extension` data) or `BODY` (without) of a message, appended to
/// `out` (a FETCH answer is written in place, not assembled from pieces).
pub fn body_structure(
    out: &mut Vec<u8>,
    meta: &MessageMeta,
    extension: bool,
    strings: ImapStrings,
) {
    Writer { out, strings }.body(&meta.root, extension);
}

/// `ENVELOPE` of a message, appended to `out`.
pub fn envelope(out: &mut Vec<u8>, meta: &MessageMeta, strings: ImapStrings) {
    Writer { out, strings }.envelope(&meta.envelope);
}

/// An IMAP string (RFC 9051 §4.3) appended to `out`: quoted when it can be (no CR, LF or NUL,
/// 7-bit unless the client takes UTF-8, at most 1,024 octets), a literal otherwise. The one
/// writer of strings for every IMAP answer.
pub fn imap_string(out: &mut Vec<u8>, s: &str, utf8: bool) {
    let bytes = s.as_bytes();
    let quotable = bytes.len() <= 1024
        && (utf8 || s.is_ascii())
        && memchr::memchr3(b'\r', b'\n', 0, bytes).is_none();
    if !quotable {
        out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut rest = bytes;
    while let Some(at) = memchr::memchr2(b'"', b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\\');
        out.push(rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    strings: ImapStrings,
}

impl Writer<'_> {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn nil(&mut self) {
        self.raw("NIL");
    }

    fn string(&mut self, s: &str) {
        imap_string(self.out, s, self.strings.utf8);
    }

    fn nstring(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.nil(),
        }
    }

    /// Header text for a client without UTF-8: 8-bit text (RFC 6532 headers, decoded display
    /// names) goes as one RFC 2047 encoded word sequence, so any client can show it.
    fn header_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) if !self.strings.utf8 && !s.is_ascii() => {
                let encoded = encoded_words(s);
                self.string(&encoded);
            }
            other => self.nstring(other),
        }
    }

    fn params(&mut self, params: &[Param]) {
        if params.is_empty() {
            return self.nil();
        }
        self.out.push(b'(');
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                self.out.push(b' ');
            }
            if self.strings.utf8 || p.value.is_ascii() {
                self.string(&p.name);
                self.out.push(b' ');
                self.string(&p.value);
            } else {
                // RFC 2231 §4: a client without UTF-8 gets the value encoded, in one piece.
                self.string(&format!("{}*", p.name));
                self.out.push(b' ');
                let language = p.language.as_deref().unwrap_or_default();
                self.string(&format!("utf-8'{language}'{}", percent_encode(&p.value)));
            }
        }
        self.out.push(b')');
    }

    fn body(&mut self, part: &Part, extension: bool) {
        self.out.push(b'(');
        match &part.body {
            PartBody::Multipart(children) => {
                if children.is_empty() {
                    // body-type-mpart needs 1*body: an empty multipart shows one empty
                    // text/plain part.
                    self.raw("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
                    self.raw(if extension { " NIL NIL NIL NIL)" } else { ")" });
                }
                for child in children {
                    self.body(child, extension);
                }
                self.out.push(b' ');
                self.string(&part.media_subtype);
                if extension {
                    self.out.push(b' ');
                    self.params(&part.params);
                    self.extension_tail(part);
                }
            }
            PartBody::Leaf | PartBody::Message(_) => {
                self.string(&part.media_type);
                self.out.push(b' ');
                self.string(&part.media_subtype);
                self.out.push(b' ');
                self.params(&part.params);
                self.out.push(b' ');
                self.nstring(part.content_id.as_deref());
                self.out.push(b' ');
                self.header_text(part.description.as_deref());
                self.out.push(b' ');
                let encoding = part
                    .encoding
                    .as_deref()
                    .unwrap_or("7bit")
                    .to_ascii_lowercase();
                self.string(&encoding);
                self.raw(&format!(" {}", part.body_len()));
                // RFC 3501's body-type-msg is for message/rfc822 only; message/global gets it
                // from IMAP4rev2 (RFC 9051 §9), so older clients see it as a basic part.
                let encapsulated = match &part.body {
                    PartBody::Message(nested)
                        if self.strings.utf8 || part.media_subtype == "rfc822" =>
                    {
                        Some(nested)
                    }
                    _ => None,
                };
                if let Some(nested) = encapsulated {
                    self.out.push(b' ');
                    self.envelope(&nested.envelope);
                    self.out.push(b' ');
                    self.body(&nested.root, extension);
                }
                if let Some(lines) = part.lines {
                    if part.media_type == "text" || encapsulated.is_some() {
                        self.raw(&format!(" {lines}"));
                    }
                }
                if extension {
                    self.out.push(b' ');
                    self.nstring(part.md5.as_deref());
                    self.extension_tail(part);
                }
            }
        }
        self.out.push(b')');
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc, shared by both extension forms.
    fn extension_tail(&mut self, part: &Part) {
        self.out.push(b' ');
        match &part.disposition {
            Some(d) => {
                self.out.push(b'(');
                self.string(&d.kind);
                self.out.push(b' ');
                self.params(&d.params);
                self.out.push(b')');
            }
            None => self.nil(),
        }
        self.out.push(b' ');
        match part.language.as_slice() {
            [] => self.nil(),
            langs => {
                self.out.push(b'(');
                for (i, l) in langs.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b' ');
                    }
                    self.string(l);
                }
                self.out.push(b')');
            }
        }
        self.out.push(b' ');
        self.nstring(part.location.as_deref());
    }

    fn envelope(&mut self, env: &Envelope) {
        self.out.push(b'(');
        self.nstring(env.date.as_deref());
        self.out.push(b' ');
        self.header_text(env.subject.as_deref());
        self.out.push(b' ');
        self.addresses(&env.from);
        // RFC 9051 §7.5.2: absent (or empty) Sender and Reply-To are the From.
        for list in [&env.sender, &env.reply_to] {
            self.out.push(b' ');
            self.addresses(if list.is_empty() { &env.from } else { list });
        }
        for list in [&env.to, &env.cc, &env.bcc] {
            self.out.push(b' ');
            self.addresses(list);
        }
        self.out.push(b' ');
        self.nstring(env.in_reply_to.as_deref());
        self.out.push(b' ');
        self.nstring(env.message_id.as_deref());
        self.out.push(b')');
    }

    fn addresses(&mut self, list: &[EnvelopeAddress]) {
        if list.is_empty() {
            return self.nil();
        }
        self.out.push(b'(');
        for item in list {
            self.out.push(b'(');
            match item {
                EnvelopeAddress::Mailbox {
                    name,
                    route,
                    local,
                    domain,
                } => {
                    self.header_text(name.as_deref());
                    self.out.push(b' ');
                    self.nstring(route.as_deref());
                    self.out.push(b' ');
                    // A NIL host would read as a group marker (RFC 9051 §7.5.2): an address
                    // without a domain (or a local part) gets a placeholder, as Dovecot does.
                    self.string(local.as_deref().unwrap_or("MISSING_MAILBOX"));
                    self.out.push(b' ');
                    self.string(domain.as_deref().unwrap_or("MISSING_DOMAIN"));
                }
                // RFC 9051 §7.5.2: group start is (NIL NIL "name" NIL), end all NIL.
                EnvelopeAddress::GroupStart(name) => {
                    self.raw("NIL NIL ");
                    self.string(name);
                    self.raw(" NIL");
                }
                EnvelopeAddress::GroupEnd => self.raw("NIL NIL NIL NIL"),
            }
            self.out.push(b')');
        }
        self.out.push(b')');
    }
}

/// RFC 2047 encoded words (UTF-8, base64), each under 76 characters, split only between
/// characters.
fn encoded_words(text: &str) -> String {
    const CHUNK: usize = 45;
    let mut out = String::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("=?utf-8?b?");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(&text[start..end]));
        out.push_str("?=");
        start = end;
    }
    out
}

/// RFC 2231 §7 value characters: attribute-char stays, everything else is %XX.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::{describe, MimeLimits};

    fn render(message: &[u8], utf8: bool) -> (String, String) {
        let meta = describe(message, &MimeLimits::default());
        let strings = ImapStrings { utf8 };
        let (mut structure, mut env) = (Vec::new(), Vec::new());
        body_structure(&mut structure, &meta, true, strings);
        envelope(&mut env, &meta, strings);
        (
            String::from_utf8(structure).expect("utf-8"),
            String::from_utf8(env).expect("utf-8"),
        )
    }

    #[test]
    fn utf8_clients_get_utf8_and_others_get_encoded_words() {
        let message = "From: Jörg <j@x.test>\r\nSubject: Grüße\r\nContent-Type: text/plain; \
                       charset=utf-8\r\nContent-Disposition: attachment; \
                       filename*=utf-8''%C3%BC.txt\r\n\r\nhi\r\n"
            .as_bytes();
        let (body, env) = render(message, true);
        assert!(
            env.contains("\"Grüße\"") && env.contains("\"Jörg\""),
            "{env}"
        );
        assert!(body.contains("(\"filename\" \"ü.txt\")"), "{body}");
        let (body, env) = render(message, false);
        assert!(env.is_ascii() && env.contains("=?utf-8?b?"), "{env}");
        assert!(
            body.contains("(\"filename*\" \"utf-8''%C3%BC.txt\")"),
            "{body}"
        );
    }

    #[test]
    fn message_global_is_encapsulated_only_for_imap4rev2() {
        let message =
            b"Subject: outer\r\nContent-Type: message/global\r\n\r\nSubject: inner\r\n\r\nbody\r\n";
        let (rev2, _) = render(message, true);
        assert!(
            rev2.starts_with("(\"message\" \"global\"") && rev2.contains("\"inner\""),
            "{rev2}"
        );
        let (rev1, _) = render(message, false);
        assert!(
            rev1.starts_with("(\"message\" \"global\"") && !rev1.contains("\"inner\""),
            "{rev1}"
        );
    }

    #[test]
    fn strings_that_cannot_be_quoted_are_literals() {
        let message = b"Subject: a \"quoted\" \\ word\r\nX-Long: y\r\n\r\nbody\r\n";
        let (_, env) = render(message, false);
        assert!(env.contains("\"a \\\"quoted\\\" \\\\ word\""), "{env}");
        let long = format!("Subject: {}\r\n\r\nbody\r\n", "z".repeat(2000));
        let (_, env) = render(long.as_bytes(), false);
        assert!(env.contains("{2000}\r\nzzz"), "{}", &env[..80]);
    }
}
