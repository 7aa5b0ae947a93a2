//! LIST patterns (RFC 9051 §6.3.9): `*` matches anything, `%` anything but the hierarchy
//! delimiter `/`; the reference name is put in front of the pattern.

/// Whether `name` matches `pattern`. INBOX matches case-insensitively (RFC 9051 §5.1).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let name_is_inbox = name.eq_ignore_ascii_case("INBOX");
    let folded;
    // `get`, not slicing: byte 5 of a decoded pattern may fall inside a character.
    let pattern = match (pattern.get(..5), pattern.get(5..)) {
        (Some(head), Some(rest)) if name_is_inbox && head.eq_ignore_ascii_case("INBOX") => {
            folded = format!("INBOX{rest}");
            folded.as_str()
        }
        _ => pattern,
    };
    let name = if name_is_inbox { "INBOX" } else { name };
    glob(pattern.as_bytes(), name.as_bytes())
}

/// Iterative wildcard matching with backtracking to the last `*` or `%`: linear in practice,
/// and never exponential (a hostile pattern of many `*` cannot make it so).
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize, bool)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n, true));
                p += 1;
            }
            Some(b'%') => {
                star = Some((p, n, false));
                p += 1;
            }
            Some(&c) if c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // The wildcard takes one more character; `%` never takes the delimiter.
                Some((sp, sn, crosses)) if crosses || name[sn] != b'/' => {
                    star = Some((sp, sn + 1, crosses));
                    p = sp + 1;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*' || c == b'%')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("*", "Work/2026/Q1"));
        assert!(matches("%", "Work"));
        assert!(!matches("%", "Work/2026"));
        assert!(matches("Work/%", "Work/2026"));
        assert!(!matches("Work/%", "Work/2026/Q1"));
        assert!(matches("Work/*", "Work/2026/Q1"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("InBoX", "INBOX"));
        assert!(!matches("inbox", "Inboxes"));
        assert!(
            !matches("INBO\u{e9}", "INBOX"),
            "a multi-byte character at byte 5"
        );
        assert!(matches("S%t", "Sent"));
        assert!(!matches("Sent", "sent"));
        let hostile = "*".repeat(50) + "x";
        assert!(!matches(&hostile, &"a".repeat(200)));
    }
}
