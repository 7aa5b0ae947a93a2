//! From a blob to [`Analysis`]: one mail-parser pass, then one walk over its part tree.

use mail_parser::{
    Header, HeaderName, MessageParser, MessagePart, MessageRef, PartFlags, PartKind,
};

use super::envelope::{envelope_and_keys, HeaderWindow};
use super::params::{parse_field, Param};
use super::text::TextCollector;
use super::{
    Analysis, Disposition, MessageMeta, MimeLimits, NestedMessage, Part, PartBody, SearchText,
};

/// Parses `blob` once and returns what the store keeps and what the index holds. Never fails
/// and never panics: input mail-parser cannot read (empty, or no header block at all) is one
/// text/plain part. Time and memory are linear in `blob.len()`.
pub fn analyse(blob: &[u8], limits: &MimeLimits) -> Analysis {
    run(blob, limits, true)
}

/// [`analyse`] without the search text: what delivery stores (the full-text indexer derives
/// the text later, off the accepting commit). The same `MessageMeta` as `analyse` gives.
pub fn describe(blob: &[u8], limits: &MimeLimits) -> MessageMeta {
    run(blob, limits, false).meta
}

fn run(blob: &[u8], limits: &MimeLimits, search: bool) -> Analysis {
    // RFC 2045 encoded message/rfc822 parts stay opaque leaves (max_encoded_nesting 0): IMAP
    // cannot address inside them, and decoding them would cost memory per level.
    let parser = MessageParser::new()
        .max_depth(limits.max_depth)
        .max_parts(limits.max_parts)
        .max_encoded_nesting(0);
    let mut walk = Walk {
        limits,
        text: TextCollector::new(limits.max_decoded_size, search),
        decoded_text: 0,
        truncated: false,
        depth: 0,
        attachments: false,
    };
    let Some(message) = parser.parse(blob) else {
        return unparsed(blob, walk);
    };
    let root_ref = message.root();
    let window = HeaderWindow::new(&root_ref.root_part(), limits);
    walk.truncated |= window.cut;
    let (envelope, mut sort, mut text) = envelope_and_keys(&window, search);
    let root = walk.part(root_ref.root_part(), false);
    sort.has_attachments = walk.attachments;
    sort.preview = walk.text.preview();
    walk.text.finish_into(&mut text);
    Analysis {
        meta: MessageMeta {
            root,
            envelope,
            sort,
            truncated: walk.truncated || walk.decoded_text > limits.max_decoded_size as u64,
        },
        text,
    }
}

/// The whole blob as one text/plain body, for input that has no header block mail-parser
/// recognises.
fn unparsed(blob: &[u8], mut walk: Walk<'_>) -> Analysis {
    let root = Part {
        header_start: 0,
        body_start: 0,
        body_end: blob.len() as u64,
        lines: Some(count_lines(blob)),
        decoded_size: blob.len() as u64,
        ..text_plain_leaf()
    };
    walk.text.push_bytes(blob);
    let mut text = SearchText::default();
    let preview = walk.text.preview();
    walk.text.finish_into(&mut text);
    Analysis {
        meta: MessageMeta {
            root,
            envelope: Default::default(),
            sort: super::SortKeys {
                preview,
                ..Default::default()
            },
            truncated: blob.len() > walk.limits.max_decoded_size,
        },
        text,
    }
}

/// A text/plain leaf with RFC 2045 §5.2's default charset and no offsets yet.
fn text_plain_leaf() -> Part {
    Part {
        header_start: 0,
        body_start: 0,
        body_end: 0,
        media_type: "text".into(),
        media_subtype: "plain".into(),
        params: vec![us_ascii()],
        disposition: None,
        filename: None,
        content_id: None,
        description: None,
        encoding: None,
        md5: None,
        language: Vec::new(),
        location: None,
        lines: None,
        decoded_size: 0,
        truncated: false,
        body: PartBody::Leaf,
    }
}

/// RFC 2045 §5.2 / RFC 2046 §4.1.2: text without a charset parameter is US-ASCII.
fn us_ascii() -> Param {
    Param {
        name: "charset".into(),
        value: "us-ascii".into(),
        language: None,
    }
}

/// RFC 9051 body-fld-lines: lines of the body, a last line without a line break counted too.
pub(crate) fn count_lines(body: &[u8]) -> u64 {
    let breaks = memchr::memchr_iter(b'\n', body).count() as u64;
    match body.last() {
        Some(b'\n') | None => breaks,
        Some(_) => breaks + 1,
    }
}

/// A header field's value unfolded (RFC 5322 §2.2.3: CRLF before white space removed) and
/// trimmed; 8-bit bytes read as UTF-8 (RFC 6532), invalid ones replaced.
pub(crate) fn unfolded(header: &Header<'_>) -> String {
    let raw = header.raw_value();
    let joined: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(joined.trim_ascii()).into_owned()
}

struct Walk<'l> {
    limits: &'l MimeLimits,
    text: TextCollector,
    truncated: bool,
    depth: usize,
    /// A leaf with a file name or `Content-Disposition: attachment` was seen.
    attachments: bool,
    /// Decoded octets of the text parts: past `max_decoded_size` the search text stops short,
    /// which the record says (counted, not decoded, so with or without search text).
    decoded_text: u64,
}

impl Walk<'_> {
    /// Converts one mail-parser part (and what it contains). `in_digest`: the parent is
    /// multipart/digest, whose parts default to message/rfc822 (RFC 2046 §5.1.5).
    fn part(&mut self, part: MessagePart<'_>, in_digest: bool) -> Part {
        let window = HeaderWindow::new(&part, self.limits);
        let mut out = text_plain_leaf();
        out.header_start = u64::from(part.offset_header());
        out.body_start = u64::from(part.offset_body());
        out.body_end = u64::from(part.offset_end());
        let stopped = part
            .flags()
            .intersects(PartFlags::LIMIT_REACHED | PartFlags::NESTING_LIMIT);
        if window.cut || stopped {
            // The structure stops here: one text part with what is left.
            self.truncated = true;
            out.truncated = true;
            out.lines = Some(count_lines(part.raw_body()));
            out.decoded_size = out.body_len();
            return out;
        }
        self.fill_fields(&mut out, &window, in_digest);
        match part.kind() {
            PartKind::Multipart if self.depth < self.limits.max_depth => {
                let digest = out.is("multipart", "digest");
                if out.media_type != "multipart" {
                    // mail-parser read a multipart from a field our stricter reading
                    // rejected; its structure wins (it found the boundaries).
                    out.media_type = "multipart".into();
                    out.media_subtype = "mixed".into();
                }
                self.depth += 1;
                let children = part.children().map(|c| self.part(c, digest)).collect();
                self.depth -= 1;
                out.body = PartBody::Multipart(children);
                out.decoded_size = out.body_len();
            }
            PartKind::Message(nested) if self.depth < self.limits.max_depth => {
                self.depth += 1;
                out.body = PartBody::Message(Box::new(self.nested(nested)));
                self.depth -= 1;
                out.lines = Some(count_lines(part.raw_body()));
                out.decoded_size = out.body_len();
            }
            PartKind::Multipart | PartKind::Message(_) => {
                self.truncated = true;
                out = Part {
                    truncated: true,
                    lines: Some(count_lines(part.raw_body())),
                    decoded_size: out.body_len(),
                    ..text_plain_leaf_at(&out)
                };
            }
            kind => {
                if out.media_type == "multipart" {
                    // A multipart whose boundary never occurs has no parts: what is between
                    // its header and its end is preamble (RFC 2046 §5.1.1).
                    // Its text is still searchable.
                    out.body = PartBody::Multipart(Vec::new());
                    out.decoded_size = out.body_len();
                    self.decoded_text += out.decoded_size;
                    self.text.push_bytes(part.raw_body());
                    return out;
                } else if is_encapsulation(&out) {
                    // A message mail-parser kept opaque (transfer-encoded, which RFC 2045
                    // §6.4 forbids for message/rfc822): IMAP cannot look inside, so it is
                    // reported as the bytes it is.
                    out.media_type = "application".into();
                    out.media_subtype = "octet-stream".into();
                }
                out.decoded_size = part.decoded_len() as u64;
                if out.media_type == "text" || out.media_type == "message" {
                    out.lines = Some(count_lines(part.raw_body()));
                }
                if out.media_type == "text"
                    && !out
                        .params
                        .iter()
                        .any(|p| p.name.eq_ignore_ascii_case("charset"))
                {
                    out.params.push(us_ascii());
                }
                self.attachments |= out.filename.is_some()
                    || out
                        .disposition
                        .as_ref()
                        .is_some_and(|d| d.kind == "attachment");
                if matches!(kind, PartKind::Text | PartKind::Html) {
                    self.decoded_text += out.decoded_size;
                    self.text.push_part(&part, matches!(kind, PartKind::Html));
                }
                if let Some(name) = &out.filename {
                    self.text.push_name(name);
                }
            }
        }
        out
    }

    fn nested(&mut self, nested: MessageRef<'_>) -> NestedMessage {
        let root_part = nested.root_part();
        let window = HeaderWindow::new(&root_part, self.limits);
        let (envelope, _, nested_text) = envelope_and_keys(&window, self.text.search);
        self.text.push_name(&nested_text.subject);
        self.text.push_name(&nested_text.from);
        NestedMessage {
            envelope,
            root: self.part(root_part, false),
        }
    }

    /// The MIME fields of a part, from the fields inside its header window.
    fn fill_fields(&mut self, out: &mut Part, window: &HeaderWindow<'_>, in_digest: bool) {
        let max_segments = self.limits.max_rfc2231_segments;
        let mut has_type = false;
        for header in window.fields() {
            match header.name() {
                HeaderName::ContentType if !has_type => {
                    has_type = true;
                    let field = parse_field(header.raw_value(), true, max_segments);
                    self.truncated |= field.segments_cut;
                    out.truncated |= field.segments_cut;
                    match field.main.split_once('/') {
                        Some((t, s)) if !t.is_empty() && !s.is_empty() => {
                            out.media_type = t.to_string();
                            out.media_subtype = s.to_string();
                            out.params = field.params;
                        }
                        // RFC 2045 §5.2: an invalid Content-Type means text/plain.
                        _ => {}
                    }
                }
                HeaderName::ContentDisposition if out.disposition.is_none() => {
                    let field = parse_field(header.raw_value(), false, max_segments);
                    self.truncated |= field.segments_cut;
                    out.truncated |= field.segments_cut;
                    if !field.main.is_empty() {
                        out.disposition = Some(Disposition {
                            kind: field.main,
                            params: field.params,
                        });
                    }
                }
                HeaderName::ContentTransferEncoding if out.encoding.is_none() => {
                    out.encoding = Some(unfolded(&header));
                }
                HeaderName::ContentId if out.content_id.is_none() => {
                    out.content_id = Some(unfolded(&header));
                }
                HeaderName::ContentDescription if out.description.is_none() => {
                    out.description = Some(unfolded(&header));
                }
                HeaderName::ContentMd5 if out.md5.is_none() => {
                    out.md5 = Some(unfolded(&header));
                }
                HeaderName::ContentLocation if out.location.is_none() => {
                    out.location = Some(unfolded(&header));
                }
                HeaderName::ContentLanguage if out.language.is_empty() => {
                    out.language = unfolded(&header)
                        .split(',')
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect();
                }
                _ => {}
            }
        }
        if !has_type && in_digest {
            out.media_type = "message".into();
            out.media_subtype = "rfc822".into();
            out.params.clear();
        }
        if !out.truncated {
            out.filename = window.attachment_name().map(str::to_string);
        }
    }
}

fn is_encapsulation(part: &Part) -> bool {
    part.is("message", "rfc822") || part.is("message", "global")
}

/// A text/plain leaf with the offsets of `at`.
fn text_plain_leaf_at(at: &Part) -> Part {
    Part {
        header_start: at.header_start,
        body_start: at.body_start,
        body_end: at.body_end,
        ..text_plain_leaf()
    }
}
