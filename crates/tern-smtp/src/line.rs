//! Command lines: CRLF-terminated, bounded, with no bare CR or LF.

/// Why a command line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Longer than the limit; the rest of the line up to its LF is skipped.
    TooLong,
    /// An LF not preceded by CR, or a CR not followed by LF (RFC 5321 §2.3.8).
    BareNewline,
}

/// What the start of `buf` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A whole line of this many bytes, CRLF included.
    Line(usize),
    /// A bad line of this many bytes (LF included), to be answered and skipped.
    Bad(usize, LineError),
    /// No LF yet: read more. `too_long` when the buffer already exceeds the limit, in which
    /// case the caller keeps only that fact and discards what it has.
    Incomplete { too_long: bool },
}

/// Finds the first command line in `buf`. `max` counts the CRLF.
pub(crate) fn frame(buf: &[u8], max: usize) -> Framed {
    let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
        return Framed::Incomplete {
            too_long: buf.len() > max,
        };
    };
    let len = lf + 1;
    if len > max {
        return Framed::Bad(len, LineError::TooLong);
    }
    let body = &buf[..lf];
    match body.split_last() {
        Some((b'\r', text)) if !text.contains(&b'\r') => Framed::Line(len),
        _ => Framed::Bad(len, LineError::BareNewline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lines_and_refuses_bad_ones() {
        assert_eq!(frame(b"NOOP\r\nQUIT\r\n", 512), Framed::Line(6));
        assert_eq!(
            frame(b"NOOP\n", 512),
            Framed::Bad(5, LineError::BareNewline)
        );
        assert_eq!(
            frame(b"NO\rOP\r\n", 512),
            Framed::Bad(7, LineError::BareNewline)
        );
        assert_eq!(frame(b"NOOP", 512), Framed::Incomplete { too_long: false });
        assert_eq!(frame(b"NOOP", 3), Framed::Incomplete { too_long: true });
        assert_eq!(frame(b"NOOP\r\n", 5), Framed::Bad(6, LineError::TooLong));
        assert_eq!(frame(b"NOOP\r\n", 6), Framed::Line(6));
    }
}
