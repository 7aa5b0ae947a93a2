//! Messages that hold NUL octets. IMAP APPEND may bring them (RFC 3516 §4.4: binary content
//! in a literal8), but no IMAP literal may carry a NUL (RFC 9051 §4.3), so BODY[] could not
//! send such a message back as it is. [`without_nul`] re-encodes each body part that holds a
//! NUL in base64 before the message is stored, as RFC 3516 §4.4 lets a server do: BODY[] then
//! gives valid data, and BINARY[] decodes it back to the octets that were appended. Written
//! by hand: it rewrites only those parts' headers and bodies and leaves every other octet of
//! the message as it was, which no MIME builder does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::mime::{describe, MimeLimits, Part, PartBody};

/// Octets of base64 per line (RFC 2045 §6.8: at most 76 characters).
const LINE: usize = 76;

/// A NUL octet lies outside every body part (in a header, a boundary line, a preamble):
/// nothing can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the message has a NUL octet outside any body part")]
pub struct NulOutsideBody;

/// `message` with every leaf part whose body holds a NUL re-encoded in base64 (its
/// Content-Transfer-Encoding field replaced), or `None` when it has no NUL.
pub fn without_nul(message: &[u8], limits: &MimeLimits) -> Result<Option<Vec<u8>>, NulOutsideBody> {
    if !message.contains(&0) {
        return Ok(None);
    }
    let meta = describe(message, limits);
    let mut leaves = Vec::new();
    holding_nul(&meta.root, message, &mut leaves);
    leaves.sort_by_key(|p| p.header_start);
    // Leaves do not overlap, so in header order their bodies are in order too: the one that
    // may hold `at` is found by halving (a scan of every leaf per NUL cost NULs x parts).
    let covered = |at: usize| {
        let after = leaves.partition_point(|p| p.body_start as usize <= at);
        after > 0 && at < leaves[after - 1].body_end as usize
    };
    if message
        .iter()
        .enumerate()
        .any(|(at, &b)| b == 0 && !covered(at))
    {
        return Err(NulOutsideBody);
    }
    let mut out = Vec::with_capacity(message.len() * 4 / 3 + 64);
    let mut cursor = 0;
    for part in leaves {
        let (header, body) = (
            part.header_start as usize..part.body_start as usize,
            part.body_start as usize..part.body_end as usize,
        );
        // The parts tile the message in order; should they not, nothing is rewritten.
        let (Some(before), Some(header), Some(body_bytes)) = (
            message.get(cursor..header.start),
            message.get(header),
            message.get(body.clone()),
        ) else {
            return Err(NulOutsideBody);
        };
        out.extend_from_slice(before);
        out.extend_from_slice(&base64_header(header));
        let encoded = STANDARD.encode(body_bytes);
        for (i, line) in encoded.as_bytes().chunks(LINE).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        cursor = body.end;
    }
    out.extend_from_slice(message.get(cursor..).unwrap_or_default());
    Ok(Some(out))
}

/// The leaf parts under `part` whose body holds a NUL.
fn holding_nul<'p>(part: &'p Part, message: &[u8], out: &mut Vec<&'p Part>) {
    match &part.body {
        PartBody::Leaf => {
            let body = message
                .get(part.body_start as usize..part.body_end as usize)
                .unwrap_or_default();
            if body.contains(&0) {
                out.push(part);
            }
        }
        PartBody::Multipart(children) => {
            for child in children {
                holding_nul(child, message, out);
            }
        }
        PartBody::Message(nested) => holding_nul(&nested.root, message, out),
    }
}

/// A header block (blank line included) without its Content-Transfer-Encoding field and with
/// `Content-Transfer-Encoding: base64` before the blank line, in the block's own line ends.
fn base64_header(block: &[u8]) -> Vec<u8> {
    let eol: &[u8] = match block.windows(2).any(|w| w == b"\r\n") {
        true => b"\r\n",
        false => b"\n",
    };
    let mut out = Vec::with_capacity(block.len() + 40);
    let mut dropping = false;
    for line in block.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        let continuation = matches!(content.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = content.split(|&b| b == b':').next().unwrap_or_default();
            dropping = name
                .trim_ascii()
                .eq_ignore_ascii_case(b"Content-Transfer-Encoding");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64");
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_transfer;

    #[test]
    fn only_the_parts_with_nul_are_re_encoded() {
        let message = b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\r\n\
--b--\r\n";
        let converted = without_nul(message, &MimeLimits::default())
            .unwrap()
            .expect("converted");
        assert!(!converted.contains(&0));
        let meta = describe(&converted, &MimeLimits::default());
        let PartBody::Multipart(children) = &meta.root.body else {
            panic!("not multipart: {meta:?}");
        };
        let body = |p: &Part| &converted[p.body_start as usize..p.body_end as usize];
        assert_eq!(body(&children[0]), b"plain text");
        assert_eq!(children[1].encoding.as_deref(), Some("base64"));
        assert_eq!(
            decode_transfer(Some("base64"), body(&children[1])).unwrap(),
            b"\x00-\xe4\n\r\n"
        );
        let text = String::from_utf8_lossy(&converted);
        assert!(!text.contains("binary"), "{text}");
        assert!(text.starts_with("From: a@b.test\r\n"), "{text}");
        assert!(text.ends_with("\r\n--b--\r\n"), "{text}");
    }

    #[test]
    fn messages_without_nul_are_left_alone_and_nul_in_a_header_is_refused() {
        let limits = MimeLimits::default();
        assert_eq!(
            without_nul(b"Subject: x\r\n\r\nbody\r\n", &limits),
            Ok(None)
        );
        assert_eq!(
            without_nul(b"Subject: x\x00y\r\n\r\nbody\r\n", &limits),
            Err(NulOutsideBody)
        );
        let single = without_nul(
            b"Content-Transfer-Encoding:\r\n binary\r\nSubject: s\r\n\r\n\x00\x01",
            &limits,
        )
        .unwrap()
        .expect("converted");
        assert_eq!(
            single,
            b"Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\nAAE="
        );
    }
}
