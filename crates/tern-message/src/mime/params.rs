//! Content-Type and Content-Disposition values as written: IMAP's BODYSTRUCTURE sends the
//! parameters the way the message has them (RFC 2231 sections and all) and lets clients
//! decode them, while mail-parser only offers them decoded and joined. Written by hand for
//! that reason; a single forward pass, so linear in the field's length.

use serde::{Deserialize, Serialize};

/// One `attribute=value` pair: the attribute as written, the value without its quotes and
/// backslash escapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawParam {
    pub name: String,
    pub value: String,
}

/// A parsed Content-Type or Content-Disposition value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldValue {
    /// `type/subtype` (or the disposition), lower-case; empty when the field has none.
    pub(crate) main: String,
    pub(crate) params: Vec<RawParam>,
    /// Some parameter had more RFC 2231 sections than allowed; those were dropped.
    pub(crate) segments_cut: bool,
}

/// RFC 2045 §5.1 tspecials, plus the characters that end a token anyway.
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace()
        || b.is_ascii_control()
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips folding white space and RFC 5322 comments (nested, with quoted pairs).
    fn skip_cfws(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                b'\\' if depth > 0 => self.at += 1,
                _ if depth > 0 => {}
                b if b.is_ascii_whitespace() => {}
                _ => return,
            }
            self.at += 1;
        }
    }

    fn token(&mut self) -> &[u8] {
        let start = self.at;
        while self.peek().is_some_and(|b| !ends_token(b)) {
            self.at += 1;
        }
        &self.bytes[start..self.at]
    }

    /// A quoted string, the cursor on its opening quote; an unterminated one runs to the end.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.at += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    /// An unquoted value: leniently everything up to the next `;`, trimmed, because real
    /// mail has unquoted values with spaces (`name=my file.pdf`).
    fn bare_value(&mut self) -> Vec<u8> {
        let start = self.at;
        while self.peek().is_some_and(|b| b != b';') {
            self.at += 1;
        }
        let value: Vec<u8> = self.bytes[start..self.at]
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        value.trim_ascii().to_vec()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The attribute an RFC 2231 section belongs to (`title*1*` -> `title`), or `None` when the
/// name is not a numbered section.
fn section_of(name: &str) -> Option<&str> {
    let name = name.strip_suffix('*').unwrap_or(name);
    let (base, number) = name.rsplit_once('*')?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

/// Parses `main; a=b; c="d"` (unfolded or not). `with_subtype` reads `type/subtype`.
pub(crate) fn parse_field(raw: &[u8], with_subtype: bool, max_segments: usize) -> FieldValue {
    let mut c = Cursor { bytes: raw, at: 0 };
    let mut out = FieldValue::default();
    c.skip_cfws();
    let main = c.token().to_ascii_lowercase();
    out.main = text(&main);
    if with_subtype {
        c.skip_cfws();
        if c.peek() == Some(b'/') {
            c.at += 1;
            c.skip_cfws();
            let sub = c.token().to_ascii_lowercase();
            out.main.push('/');
            out.main.push_str(&text(&sub));
        }
    }
    let mut sections: Vec<(String, usize)> = Vec::new();
    loop {
        // Skip to the next ';' (anything else before it is junk).
        while c.peek().is_some_and(|b| b != b';') {
            if c.peek() == Some(b'"') {
                c.quoted();
            } else {
                c.at += 1;
            }
        }
        if c.peek().is_none() {
            break;
        }
        c.at += 1;
        c.skip_cfws();
        let name = text(c.token());
        c.skip_cfws();
        if name.is_empty() || c.peek() != Some(b'=') {
            continue;
        }
        c.at += 1;
        c.skip_cfws();
        let value = if c.peek() == Some(b'"') {
            c.quoted()
        } else {
            c.bare_value()
        };
        if let Some(base) = section_of(&name) {
            let base = base.to_ascii_lowercase();
            let count = match sections.iter_mut().find(|(b, _)| *b == base) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    sections.push((base, 1));
                    1
                }
            };
            if count > max_segments {
                out.segments_cut = true;
                continue;
            }
        }
        out.params.push(RawParam {
            name,
            value: text(&value),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> RawParam {
        RawParam {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn type_subtype_and_quoted_parameters() {
        let f = parse_field(
            b" Text/Plain (a comment) ; charset=\"ISO-8859-1\";\r\n\tformat=flowed",
            true,
            64,
        );
        assert_eq!(f.main, "text/plain");
        assert_eq!(
            f.params,
            vec![p("charset", "ISO-8859-1"), p("format", "flowed")]
        );
    }

    #[test]
    fn rfc2231_sections_are_kept_as_written_and_capped() {
        let f = parse_field(
            b"attachment; filename*0*=utf-8''a%C3%A9; filename*1=\"b c\"; size=3",
            false,
            64,
        );
        assert_eq!(f.main, "attachment");
        assert_eq!(
            f.params,
            vec![
                p("filename*0*", "utf-8''a%C3%A9"),
                p("filename*1", "b c"),
                p("size", "3")
            ]
        );
        let many: String = (0..10).map(|i| format!("; n*{i}=x")).collect();
        let f = parse_field(format!("a{many}").as_bytes(), false, 4);
        assert_eq!(f.params.len(), 4);
        assert!(f.segments_cut);
    }

    #[test]
    fn escapes_unterminated_quotes_and_junk_do_not_break_it() {
        let f = parse_field(b"image/png; name=\"a\\\"b\"; junk; x=\"open", true, 64);
        assert_eq!(f.main, "image/png");
        assert_eq!(f.params, vec![p("name", "a\"b"), p("x", "open")]);
        let f = parse_field(b"", true, 64);
        assert_eq!(f, FieldValue::default());
        let f = parse_field(b"application/pdf; name=my file.pdf", true, 64);
        assert_eq!(f.params, vec![p("name", "my file.pdf")]);
    }
}
