//! Writing responses (RFC 9051 §7, formal syntax §9). Written by hand rather than through
//! imap-codec's typed responses: the renderer of `tern-message` already gives ENVELOPE and
//! BODYSTRUCTURE as bytes, and message bodies are streamed from the store, which the codec's
//! whole-message encoder cannot do.

/// A string as `quoted` when it can be, else as a literal (RFC 9051 §4.3): the message
/// layer's writer, so every IMAP string is written one way.
pub(crate) fn string(out: &mut Vec<u8>, value: &str, utf8: bool) {
    tern_message::mime::imap_string(out, value, utf8);
}

/// A tagged status response: `tag OK [CODE] text`.
pub(crate) fn tagged(out: &mut Vec<u8>, tag: &str, status: &str, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_bytes());
    out.push(b' ');
    out.extend_from_slice(one_line(text).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An untagged response line: `* text`.
pub(crate) fn untagged(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(one_line(text).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Text from elsewhere (an error, a name) must not end the line early.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Ascending numbers as ranges of consecutive ones.
pub(crate) fn ranges(numbers: impl IntoIterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for n in numbers {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(n) => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// `1:3,7,9:12`: ranges as an IMAP `sequence-set` (RFC 9051 §9).
pub(crate) fn sequence_set(ranges: &[(u32, u32)]) -> String {
    ranges
        .iter()
        .map(|&(lo, hi)| match lo == hi {
            true => lo.to_string(),
            false => format!("{lo}:{hi}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 8474 §4 MAILBOXID: from the mailbox's UIDVALIDITY, which is never given to another
/// mailbox of the store (not even after a rebuild: it starts from the clock) and stays with
/// the mailbox through RENAME, as the RFC asks of a MAILBOXID.
pub(crate) fn mailbox_id(mailbox: &tern_store::MailboxInfo) -> String {
    format!("F{}", mailbox.uid_validity.0)
}

/// RFC 8474 §5.1 EMAILID: from the stored content's id, shared by the copies of a message.
pub(crate) fn email_id(content_id: u64) -> String {
    format!("M{content_id}")
}

/// Message octets on their way into a literal: RFC 9051 §4.3 lets no literal but a literal8
/// carry a NUL. APPEND stores parts holding NULs in base64 (`tern_message::binary`), but SMTP
/// stores what BDAT (BINARYMIME) or DATA brought, so such a message is sent in BODY[] and
/// RFC822 with each NUL as 0x80, as Dovecot does: the length stays what RFC822.SIZE and the
/// section offsets say, and BINARY[] (a literal8) still gives the octets themselves.
pub(crate) fn mask_nul(bytes: &mut [u8]) {
    // `contains` on octets is a memchr: the common case, no NUL, costs a scan and no writes.
    if !bytes.contains(&0) {
        return;
    }
    for byte in bytes.iter_mut().filter(|b| **b == 0) {
        *byte = 0x80;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_octets_become_0x80_and_nothing_else_changes() {
        let mut bytes = b"\0a\0\0b\xff\r\n\0".to_vec();
        mask_nul(&mut bytes);
        assert_eq!(bytes, b"\x80a\x80\x80b\xff\r\n\x80");
    }

    fn s(value: &str, utf8: bool) -> String {
        let mut out = Vec::new();
        string(&mut out, value, utf8);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoted_when_possible_literal_otherwise() {
        assert_eq!(s("INBOX", false), "\"INBOX\"");
        assert_eq!(s("a\"b\\c", false), "\"a\\\"b\\\\c\"");
        assert_eq!(s("Entwürfe", true), "\"Entwürfe\"");
        assert_eq!(s("Entwürfe", false), "{9}\r\nEntwürfe");
        assert_eq!(s("a\r\nb", true), "{4}\r\na\r\nb");
    }

    #[test]
    fn status_text_stays_on_one_line() {
        let mut out = Vec::new();
        tagged(&mut out, "a1", "NO", "bad\r\n* OK injected");
        assert_eq!(out, b"a1 NO bad  * OK injected\r\n");
    }
}
