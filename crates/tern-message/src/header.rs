//! Where a message's header block ends, and how many fields of a name it has.

/// Octets of the header block: up to and including the first blank line (CRLF CRLF, or bare
/// LF LF), or the whole message when it has none (RFC 5322 §2.1).
pub fn header_block_len(message: &[u8]) -> usize {
    // A message that starts with its blank line has an empty header block.
    match message {
        [b'\r', b'\n', ..] => return 2,
        [b'\n', ..] => return 1,
        _ => {}
    }
    let mut at = 0;
    while let Some(nl) = memchr::memchr(b'\n', &message[at..]) {
        let next = at + nl + 1;
        match &message[next..] {
            [b'\r', b'\n', ..] => return next + 2,
            [b'\n', ..] => return next + 1,
            _ => at = next,
        }
    }
    message.len()
}

/// How many header fields named `name` (any case) the message's top-level header block has,
/// as the message layer's parser (mail-parser) reads it: the count a check must use when the
/// rest of the message layer reads the same fields with that parser.
pub fn header_field_count(message: &[u8], name: &str) -> usize {
    mail_parser::MessageParser::new()
        .parse_headers(message)
        .map_or(0, |m| {
            m.headers()
                .iter()
                .filter(|h| h.raw_name().eq_ignore_ascii_case(name))
                .count()
        })
}

/// A part's body decoded from its Content-Transfer-Encoding (RFC 2045 §6), as IMAP BINARY
/// sends it (RFC 3516); `None` for an encoding this server does not know (`UNKNOWN-CTE`).
pub fn decode_transfer(encoding: Option<&str>, body: &[u8]) -> Option<Vec<u8>> {
    let encoding = match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => mail_parser::Encoding::None,
        Some(e) if matches!(e.as_str(), "7bit" | "8bit" | "binary") => mail_parser::Encoding::None,
        Some(e) if e == "base64" => mail_parser::Encoding::Base64,
        Some(e) if e == "quoted-printable" => mail_parser::Encoding::QuotedPrintable,
        Some(_) => return None,
    };
    Some(encoding.decode(body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::{decode_transfer, header_block_len, header_field_count};

    #[test]
    fn transfer_encodings_are_decoded_and_unknown_ones_refused() {
        assert_eq!(
            decode_transfer(Some("BASE64"), b"aGVs\r\nbG8=").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            decode_transfer(Some("quoted-printable"), b"a=3Db").as_deref(),
            Some(&b"a=b"[..])
        );
        assert_eq!(
            decode_transfer(None, b"as is").as_deref(),
            Some(&b"as is"[..])
        );
        assert_eq!(decode_transfer(Some("x-uuencode"), b"x"), None);
    }

    #[test]
    fn fields_are_counted_as_the_parser_reads_them() {
        let m = b"From: a@x.test\r\nTo: b@x.test\r\nfrom : c@x.test\r\n\r\nFrom: body\r\n";
        assert_eq!(header_field_count(m, "From"), 2);
        assert_eq!(header_field_count(m, "to"), 1);
        assert_eq!(header_field_count(b"\r\nbody", "From"), 0);
    }

    #[test]
    fn the_block_ends_after_the_blank_line() {
        assert_eq!(header_block_len(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_block_len(b"A: b\n\nbody"), 6);
        assert_eq!(header_block_len(b"A: b\r\nC: d\r\n"), 12);
        assert_eq!(header_block_len(b""), 0);
        assert_eq!(header_block_len(b"\r\nbody\r\n\r\nmore"), 2);
    }
}
