//! Where a message's header block ends.

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

#[cfg(test)]
mod tests {
    use super::header_block_len;

    #[test]
    fn the_block_ends_after_the_blank_line() {
        assert_eq!(header_block_len(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_block_len(b"A: b\n\nbody"), 6);
        assert_eq!(header_block_len(b"A: b\r\nC: d\r\n"), 12);
        assert_eq!(header_block_len(b""), 0);
        assert_eq!(header_block_len(b"\r\nbody\r\n\r\nmore"), 2);
    }
}
