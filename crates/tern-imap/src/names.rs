//! Mailbox names: modified UTF-7 for IMAP4rev1 clients (RFC 3501 §5.1.3), UTF-8 for
//! IMAP4rev2 and UTF8=ACCEPT ones (RFC 9051 §5.1, RFC 6855 §3), "/" as the hierarchy
//! delimiter, and what a name may not contain. The store keeps names in UTF-8.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine;

/// The hierarchy delimiter Tern uses.
pub const DELIMITER: char = '/';

/// Octets of a mailbox name at most (UTF-8). Far above real names; bounds what one command
/// can make the store look up.
pub const MAX_NAME: usize = 1024;

const MODIFIED_BASE64: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3): {0}")]
    BadUtf7(&'static str),
    #[error("the mailbox name contains a control character")]
    Control,
    #[error(
        "the mailbox name is empty, or has an empty level (\"a//b\", a leading or trailing \"/\")"
    )]
    EmptyLevel,
    #[error("the mailbox name is longer than {MAX_NAME} octets")]
    TooLong,
}

/// Checks a name in UTF-8 (as the store keeps it): no control characters (RFC 9051 §5.1:
/// names are printable), no empty hierarchy level, at most [`MAX_NAME`] octets.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return Err(NameError::EmptyLevel);
    }
    Ok(())
}

/// A UTF-8 name in modified UTF-7, for an IMAP4rev1 client.
pub fn encode_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&MODIFIED_BASE64.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// A modified UTF-7 name from an IMAP4rev1 client, in UTF-8. Refuses every spelling but the
/// one [`encode_utf7`] makes (RFC 3501 §5.1.3: printable ASCII is never encoded, "&" is always
/// "&-", encoded runs are not adjacent and end on whole characters with zero bits after).
pub fn decode_utf7(name: &str) -> Result<String, NameError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    let mut after_run = false;
    while let Some(c) = rest.chars().next() {
        if !(' '..='~').contains(&c) {
            return Err(NameError::BadUtf7("only printable ASCII may appear"));
        }
        if c != '&' {
            out.push(c);
            rest = &rest[1..];
            after_run = false;
            continue;
        }
        let end = rest
            .find('-')
            .ok_or(NameError::BadUtf7("an encoded run has no closing \"-\""))?;
        let run = &rest[1..end];
        rest = &rest[end + 1..];
        if run.is_empty() {
            out.push('&');
            after_run = false;
            continue;
        }
        if after_run {
            return Err(NameError::BadUtf7("two encoded runs side by side"));
        }
        let bytes = MODIFIED_BASE64
            .decode(run)
            .map_err(|_| NameError::BadUtf7("bad modified BASE64"))?;
        // Canonical: re-encoding gives the same run (no stray bits, no odd octet).
        if bytes.len() % 2 != 0 || MODIFIED_BASE64.encode(&bytes) != run {
            return Err(NameError::BadUtf7(
                "an encoded run does not end on a character",
            ));
        }
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        for decoded in char::decode_utf16(units) {
            let ch = decoded.map_err(|_| NameError::BadUtf7("an unpaired surrogate"))?;
            if (' '..='~').contains(&ch) {
                return Err(NameError::BadUtf7("printable ASCII must not be encoded"));
            }
            out.push(ch);
        }
        after_run = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_round_trips() {
        let utf8 = "~peter/mail/台北/日本語";
        let utf7 = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode_utf7(utf8), utf7);
        assert_eq!(decode_utf7(utf7).unwrap(), utf8);
        assert_eq!(encode_utf7("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode_utf7("Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(
            decode_utf7(&encode_utf7("Entwürfe 🚀")).unwrap(),
            "Entwürfe 🚀"
        );
    }

    #[test]
    fn every_other_spelling_is_refused() {
        for bad in [
            "&U,BTFw",    // no closing "-"
            "&AGE-",      // "a" encoded
            "&U,B-&TFw-", // adjacent runs
            "&U,BTF-",    // leftover bits
            "&2D0-",      // lone surrogate
            "caf\u{e9}",  // 8-bit in a UTF-7 name
            "&!!-",       // not BASE64
        ] {
            assert!(decode_utf7(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_are_printable_with_no_empty_level() {
        assert!(validate("Archive/2024").is_ok());
        assert!(validate("Entwürfe").is_ok());
        assert_eq!(validate("a//b"), Err(NameError::EmptyLevel));
        assert_eq!(validate("/a"), Err(NameError::EmptyLevel));
        assert_eq!(validate("a/"), Err(NameError::EmptyLevel));
        assert_eq!(validate(""), Err(NameError::EmptyLevel));
        assert_eq!(validate("a\u{7}b"), Err(NameError::Control));
        assert_eq!(validate(&"x".repeat(MAX_NAME + 1)), Err(NameError::TooLong));
    }
}
