//! The message layer: MIME parsed once, at delivery, into what every later reader needs.
//!
//! [`analyse`] turns a stored blob into a [`MessageMeta`] (the part tree with octet offsets,
//! the IMAP envelope, the values SORT and THREAD use, a preview) and a [`SearchText`] (what the
//! full-text index holds). The store keeps both in the commit that stores the message, so FETCH
//! BODYSTRUCTURE, BODY[section], BINARY and SEARCH never parse a message again.
//!
//! Parsing is mail-parser's (RFC 2045–2049, 2047, 2231, 5322, 6532). Written here, because the
//! crate does not do it: the raw parameter lists IMAP sends (`params.rs`), line counts, the
//! RFC 5256 base subject (`subject.rs`), IMAP defaults and section shapes, and the limits
//! against hostile MIME that mail-parser has no knob for (header fields, header bytes, line
//! length, RFC 2231 segments, decoded size).
//!
//! # Standards
//! - RFC 2045 §5.2 (default Content-Type), §6.1 (default transfer encoding 7BIT)
//! - RFC 2046 §5.1.1 (a body part ends before the CRLF that precedes its delimiter),
//!   §5.1.5 (message/rfc822 is the default type inside multipart/digest)
//! - RFC 2231 (parameter continuations, charsets, languages)
//! - RFC 5256 §2.1 (base subject)
//! - RFC 9051 §7.5.2 (BODYSTRUCTURE, ENVELOPE), RFC 3516 (BINARY.SIZE)

mod build;
mod envelope;
pub mod fuzzing;
mod imap;
mod layout;
mod limits;
mod params;
mod subject;
mod text;

use serde::{Deserialize, Serialize};

pub use build::{analyse, describe};
pub use imap::{body_structure, envelope as imap_envelope, imap_string, ImapStrings};
pub use layout::check_layout;
pub use limits::MimeLimits;
pub use params::Param;
pub use subject::base_subject;
pub use text::fold_case;

/// Everything stored about a message's content, once, at delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// The top-level message: its header block and its body.
    pub root: Part,
    pub envelope: Envelope,
    pub sort: SortKeys,
    /// A limit of [`MimeLimits`] was reached: the structure below it is cut short (see
    /// [`Part::truncated`]) or the search text stops early. The blob is stored whole anyway.
    pub truncated: bool,
}

/// One MIME entity. Offsets are octets within the stored blob (the message as received,
/// without the trace headers a delivery adds in front of it, which a reader adds to the root's
/// offsets). A blob with bare LF line ends (BDAT may carry them, RFC 3030) is measured as
/// stored: a reader that sends the CRLF wire form instead must count that form's sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The header block: from its first field to the start of the body, blank line included.
    pub header_start: u64,
    pub body_start: u64,
    /// The end of the body: RFC 2046 §5.1.1, before the CRLF that precedes the next delimiter.
    pub body_end: u64,
    /// Media type and subtype, lower-case, with RFC 2045 §5.2 / RFC 2046 §5.1.5 defaults.
    pub media_type: String,
    pub media_subtype: String,
    /// Content-Type parameters, RFC 2231 sections joined and decoded (what BODYSTRUCTURE's
    /// body-fld-param carries, RFC 9051 §7.5.2); `charset=us-ascii` added to text parts
    /// without one (RFC 2046 §4.1.2).
    pub params: Vec<Param>,
    pub disposition: Option<Disposition>,
    /// The attachment's file name, decoded (RFC 2231 joined and charset-converted, RFC 2047
    /// words decoded): from the disposition's `filename`, else the type's `name`.
    pub filename: Option<String>,
    /// Content-ID as written, angle brackets included.
    pub content_id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written (trimmed); `None` means 7BIT (RFC 2045 §6.1).
    pub encoding: Option<String>,
    pub md5: Option<String>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// Lines of the body, for text/* and message/rfc822 parts (RFC 9051 body-fld-lines).
    pub lines: Option<u64>,
    /// Octets of the body after transfer decoding (RFC 3516 BINARY.SIZE).
    pub decoded_size: u64,
    /// A limit stopped the parse inside or at this part: it is reported as one text/plain part
    /// covering what is left.
    pub truncated: bool,
    pub body: PartBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartBody {
    /// A single part (text, image, an opaque or encoded message...).
    Leaf,
    /// multipart/*: at least zero children (an empty multipart has none).
    Multipart(Vec<Part>),
    /// message/rfc822 or message/global: the encapsulated message, whose `root.header_start`
    /// is this part's `body_start`.
    Message(Box<NestedMessage>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NestedMessage {
    pub envelope: Envelope,
    pub root: Part,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    /// `inline`, `attachment`... lower-case.
    pub kind: String,
    pub params: Vec<Param>,
}

/// What IMAP's ENVELOPE needs (RFC 9051 §7.5.2), from the first occurrence of each field.
/// Text fields are unfolded but otherwise as written (encoded words kept), as IMAP sends them;
/// display names are decoded (the IMAP layer re-encodes them for clients without UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One item of an ENVELOPE address list. Groups are flattened as IMAP shows them
/// (RFC 9051 §7.5.2): a start marker with the group's name, its members, an end marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvelopeAddress {
    Mailbox {
        name: Option<String>,
        /// An obsolete source route (RFC 5322 §4.4, `@relay1,@relay2`), IMAP's addr-adl.
        route: Option<String>,
        local: Option<String>,
        domain: Option<String>,
    },
    GroupStart(String),
    GroupEnd,
}

/// The values SORT (RFC 5256), THREAD and message lists sort and group by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKeys {
    /// The Date field as seconds since the epoch; `None` when missing or unparseable (SORT
    /// then uses the internal date, RFC 5256 §3).
    pub sent_date: Option<i64>,
    /// RFC 5256 §2.1 base subject of the decoded Subject.
    pub base_subject: String,
    pub from: Option<AddressKey>,
    pub to: Option<AddressKey>,
    pub cc: Option<AddressKey>,
    /// Message-IDs of References, oldest first, without angle brackets; In-Reply-To's when
    /// there is no References field (RFC 5256 §4, REFERENCES step 1).
    pub references: Vec<String>,
    pub message_id: Option<String>,
    pub has_attachments: bool,
    /// The first characters of the readable text, whitespace collapsed.
    pub preview: String,
}

/// The first mailbox of an address field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressKey {
    pub address: String,
    pub name: Option<String>,
}

/// What the full-text index holds for a message, lower-cased (search is case-insensitive,
/// RFC 9051 §6.4.4) and decoded to UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// Every header field of the top-level message, `name: decoded value` per line.
    pub headers: String,
    /// The decoded text of every text part (HTML reduced to text), and attachments' names.
    pub body: String,
}

/// The result of [`analyse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub meta: MessageMeta,
    pub text: SearchText,
}

/// The stored form's version: the first byte of [`MessageMeta::encode`]'s output.
const FORMAT_VERSION: u8 = 1;

/// Why stored metadata could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("stored message structure is unreadable: {0}")]
pub struct DecodeError(String);

impl MessageMeta {
    /// The compact stored form (a version byte, then postcard).
    pub fn encode(&self) -> Vec<u8> {
        let out = vec![FORMAT_VERSION];
        // Serialising owned strings, vectors and enums into a Vec cannot fail.
        match postcard::to_extend(self, out) {
            Ok(bytes) => bytes,
            Err(e) => unreachable!("postcard into a Vec: {e}"),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.split_first() {
            Some((&FORMAT_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| DecodeError(e.to_string()))
            }
            Some((v, _)) => Err(DecodeError(format!("unknown format version {v}"))),
            None => Err(DecodeError("empty".into())),
        }
    }
}

impl Part {
    /// Octets of the body (IMAP's body-fld-octets); offsets out of order count as empty.
    pub fn body_len(&self) -> u64 {
        self.body_end.saturating_sub(self.body_start)
    }

    /// Whether the part is `type/subtype` (case-insensitive).
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
            && self.media_subtype.eq_ignore_ascii_case(subtype)
    }
}
