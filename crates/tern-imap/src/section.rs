//! FETCH body sections (RFC 9051 §6.4.5 `BODY[section]<partial>`): where each lies in the
//! stored message, found from the part tree recorded at delivery, never by parsing again.

use std::ops::Range;

use tern_message::mime::{MessageMeta, Part, PartBody};

/// A section as asked. Part numbers are empty for the top-level message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodySection {
    /// `BODY[]`: the whole message.
    Full,
    Header(Vec<u32>),
    Text(Vec<u32>),
    /// `BODY[1.2]`: a part's body.
    Part(Vec<u32>),
    /// `BODY[1.2.MIME]`: a part's header block.
    Mime(Vec<u32>),
    /// `HEADER.FIELDS (...)` or, with `not`, `HEADER.FIELDS.NOT (...)`.
    Fields {
        part: Vec<u32>,
        names: Vec<String>,
        not: bool,
    },
}

fn numbers(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl BodySection {
    /// The section as the response names it (RFC 9051 §7.5.2).
    pub(crate) fn spec(&self) -> String {
        let prefixed = |part: &[u32], what: &str| match part.is_empty() {
            true => what.to_string(),
            false => format!("{}.{what}", numbers(part)),
        };
        match self {
            BodySection::Full => String::new(),
            BodySection::Header(part) => prefixed(part, "HEADER"),
            BodySection::Text(part) => prefixed(part, "TEXT"),
            BodySection::Part(part) => numbers(part),
            BodySection::Mime(part) => format!("{}.MIME", numbers(part)),
            BodySection::Fields { part, names, not } => {
                let what = if *not {
                    "HEADER.FIELDS.NOT"
                } else {
                    "HEADER.FIELDS"
                };
                format!("{} ({})", prefixed(part, what), names.join(" "))
            }
        }
    }

    /// The octets of the message (trace prefix and blob, `total` long) this section covers,
    /// or `None` when the message has no such part. For `Fields` it is the header block the
    /// fields are taken from.
    pub(crate) fn range(&self, meta: &MessageMeta, total: u64) -> Option<Range<u64>> {
        // The trace prefix comes before the blob; the root spans the blob.
        let prefix = total.saturating_sub(meta.root.body_end);
        let at = |r: Range<u64>| (r.start + prefix)..(r.end + prefix).min(total);
        match self {
            BodySection::Full => Some(0..total),
            BodySection::Header(part) | BodySection::Fields { part, .. } if part.is_empty() => {
                Some(0..prefix + meta.root.body_start)
            }
            BodySection::Text(part) if part.is_empty() => {
                Some((prefix + meta.root.body_start).min(total)..total)
            }
            BodySection::Header(part) | BodySection::Fields { part, .. } => {
                let nested = nested(locate(&meta.root, part)?)?;
                Some(at(nested.header_start..nested.body_start))
            }
            BodySection::Text(part) => {
                let nested = nested(locate(&meta.root, part)?)?;
                Some(at(nested.body_start..nested.body_end))
            }
            BodySection::Part(part) => {
                let found = locate(&meta.root, part)?;
                Some(at(found.body_start..found.body_end))
            }
            BodySection::Mime(part) => {
                let found = locate(&meta.root, part)?;
                Some(at(found.header_start..found.body_start))
            }
        }
    }
}

/// The part BINARY decodes: any part but a multipart (RFC 3516 §4.2). A message/rfc822
/// part is sent as it is (its encoding is 7bit, 8bit or binary: nothing to decode).
pub(crate) fn leaf<'a>(meta: &'a MessageMeta, numbers: &[u32]) -> Option<&'a Part> {
    locate(&meta.root, numbers).filter(|p| !matches!(p.body, PartBody::Multipart(_)))
}

/// The message a message/rfc822 part holds.
fn nested(part: &Part) -> Option<&Part> {
    match &part.body {
        PartBody::Message(message) => Some(&message.root),
        _ => None,
    }
}

/// RFC 9051 §6.4.5 part numbers: each number picks a child of a multipart; a part that holds
/// a message is entered first; a part that is neither has only part 1, itself.
fn locate<'a>(root: &'a Part, numbers: &[u32]) -> Option<&'a Part> {
    let mut current = root;
    for (depth, &n) in numbers.iter().enumerate() {
        let container = match (depth, &current.body) {
            (0, _) => current,
            (_, PartBody::Message(message)) => &message.root,
            _ => current,
        };
        current = match &container.body {
            PartBody::Multipart(children) => children.get((n as usize).checked_sub(1)?)?,
            _ if n == 1 => container,
            _ => return None,
        };
    }
    Some(current)
}

/// The fields of `header` named in `names` (or, with `not`, all others), with their folded
/// lines, followed by the blank line (RFC 9051 §6.4.5).
pub(crate) fn header_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line
                .split(|&b| b == b':')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            let listed = names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_message::mime::{describe, MimeLimits};

    const MIXED: &[u8] = b"From: a@x.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n";

    fn text<'a>(message: &'a [u8], section: BodySection, meta: &MessageMeta) -> &'a [u8] {
        let r = section.range(meta, message.len() as u64).expect("section");
        &message[r.start as usize..r.end as usize]
    }

    #[test]
    fn sections_of_a_multipart_with_a_nested_message_and_a_prefix() {
        let meta = describe(MIXED, &MimeLimits::default());
        let message = [&b"Received: x\r\n"[..], MIXED].concat();
        assert_eq!(text(&message, BodySection::Part(vec![1]), &meta), b"first");
        assert_eq!(
            text(&message, BodySection::Mime(vec![1]), &meta),
            b"Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(
            text(&message, BodySection::Header(vec![2]), &meta),
            b"Subject: inner\r\n\r\n"
        );
        assert_eq!(
            text(&message, BodySection::Text(vec![2]), &meta),
            b"inner body"
        );
        assert!(
            text(&message, BodySection::Header(vec![]), &meta).starts_with(b"Received: x\r\nFrom:")
        );
        assert!(text(&message, BodySection::Text(vec![]), &meta).starts_with(b"--b\r\n"));
        assert_eq!(text(&message, BodySection::Full, &meta), &message[..]);
        assert!(BodySection::Part(vec![3])
            .range(&meta, message.len() as u64)
            .is_none());
        assert!(BodySection::Header(vec![1])
            .range(&meta, message.len() as u64)
            .is_none());
    }

    #[test]
    fn part_one_of_a_single_part_message_is_its_body() {
        let plain = b"Subject: s\r\n\r\nbody\r\n";
        let meta = describe(plain, &MimeLimits::default());
        assert_eq!(text(plain, BodySection::Part(vec![1]), &meta), b"body\r\n");
    }

    #[test]
    fn header_fields_keep_folded_lines_and_end_with_a_blank_line() {
        let header = b"From: a\r\nSubject: one\r\n two\r\nTo: b\r\n\r\n";
        let names = vec!["subject".to_string(), "TO".to_string()];
        assert_eq!(
            header_fields(header, &names, false),
            b"Subject: one\r\n two\r\nTo: b\r\n\r\n"
        );
        assert_eq!(header_fields(header, &names, true), b"From: a\r\n\r\n");
        assert_eq!(
            BodySection::Fields {
                part: vec![],
                names,
                not: false
            }
            .spec(),
            "HEADER.FIELDS (subject TO)"
        );
        assert_eq!(BodySection::Mime(vec![1, 2]).spec(), "1.2.MIME");
        assert_eq!(BodySection::Text(vec![3]).spec(), "3.TEXT");
    }
}
