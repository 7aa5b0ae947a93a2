//! Content-Type and Content-Disposition parameters, tokenized and then joined and decoded as
//! RFC 2231 says (RFC 9051 §7.5.2: servers SHOULD decode continuations and charsets for
//! BODYSTRUCTURE). Written by hand because the per-parameter section limit must act while
//! joining, and mail-parser joins without one; a forward pass with hash look-ups plus a sort
//! of each parameter's sections, so O(n log n) in the field's length at worst.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One parameter: its name as written (without RFC 2231 section marks), its value unquoted,
/// with RFC 2231 sections joined, percent-escapes decoded and converted to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub value: String,
    /// The RFC 2231 language tag, when the value carried one.
    pub language: Option<String>,
}

/// One `attribute=value` pair as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawParam {
    name: String,
    value: Vec<u8>,
}

/// A parsed Content-Type or Content-Disposition value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldValue {
    /// `type/subtype` (or the disposition), lower-case; empty when the field has none.
    pub(crate) main: String,
    pub(crate) params: Vec<Param>,
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

/// What an attribute name says about RFC 2231: `title*1*` is section 1 of `title`, encoded.
struct Section<'a> {
    base: &'a str,
    /// `None` for a parameter that is not split (`title` or `title*`).
    number: Option<u32>,
    /// The value is `charset'language'percent-encoded` (first section) or percent-encoded.
    encoded: bool,
}

fn section_of(name: &str) -> Section<'_> {
    let (stem, encoded) = match name.strip_suffix('*') {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    match stem.rsplit_once('*') {
        // A number too large for u32 still marks a section (it sorts last).
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Section {
            base,
            number: Some(n.parse().unwrap_or(u32::MAX)),
            encoded,
        },
        _ => Section {
            base: stem,
            number: None,
            encoded,
        },
    }
}

/// RFC 2231 §4 percent-decoding; a malformed escape is kept as written.
fn percent_decode(value: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < value.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            value[i],
            value.get(i + 1).copied().and_then(hex),
            value.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// One section of a parameter: its number (none when not split), whether it is encoded, and
/// its value as written.
type SectionValue = (Option<u32>, bool, Vec<u8>);

/// Joins the raw parameters by RFC 2231 (§3 continuations, §4 charset and language, §4.1
/// both): sections of one name are ordered by number and concatenated, encoded sections
/// percent-decoded, and the whole converted from the charset of the first section.
fn join(raw: Vec<RawParam>) -> Vec<Param> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<SectionValue>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for p in raw {
        let section = section_of(&p.name);
        let key = section.base.to_ascii_lowercase();
        let (number, encoded) = (section.number, section.encoded);
        let at = *index.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            groups.push(Vec::new());
            groups.len() - 1
        });
        if groups[at].is_empty() {
            // Keep the name as first written.
            order[at] = section.base.to_string();
        }
        groups[at].push((number, encoded, p.value));
    }
    order
        .into_iter()
        .zip(groups)
        .map(|(name, mut sections)| {
            sections.sort_by_key(|(n, _, _)| *n);
            let mut charset: Option<Vec<u8>> = None;
            let mut language = None;
            let mut bytes = Vec::new();
            for (i, (_, encoded, value)) in sections.iter().enumerate() {
                if !encoded {
                    bytes.extend_from_slice(value);
                    continue;
                }
                let mut rest = &value[..];
                if i == 0 {
                    let mut fields = value.splitn(3, |&b| b == b'\'');
                    if let (Some(cs), Some(lang), Some(tail)) =
                        (fields.next(), fields.next(), fields.next())
                    {
                        charset = Some(cs.to_vec());
                        language = (!lang.is_empty()).then(|| text(lang));
                        rest = tail;
                    }
                }
                percent_decode(rest, &mut bytes);
            }
            let value = match charset
                .as_deref()
                .and_then(mail_parser::Charset::from_label)
            {
                Some(cs) => cs.decode(&bytes).into_owned(),
                None => text(&bytes),
            };
            Param {
                name,
                value,
                language,
            }
        })
        .collect()
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
    let mut raw = Vec::new();
    let mut sections: HashMap<String, usize> = HashMap::new();
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
        let section = section_of(&name);
        if section.number.is_some() {
            let count = sections
                .entry(section.base.to_ascii_lowercase())
                .or_insert(0);
            *count += 1;
            let count = *count;
            if count > max_segments {
                out.segments_cut = true;
                continue;
            }
        }
        raw.push(RawParam { name, value });
    }
    out.params = join(raw);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> Param {
        Param {
            name: name.into(),
            value: value.into(),
            language: None,
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
    fn rfc2231_sections_are_joined_decoded_and_capped() {
        let f = parse_field(
            b"attachment; filename*1=\" c\"; filename*0*=utf-8''a%C3%A9; size=3",
            false,
            64,
        );
        assert_eq!(f.main, "attachment");
        assert_eq!(f.params, vec![p("filename", "aé c"), p("size", "3")]);
        let f = parse_field(
            b"a; title*0*=iso-8859-1'fr'r%E9sum%E9; title*1*=%20final; x*=us-ascii''%41%4",
            false,
            64,
        );
        assert_eq!(
            f.params,
            vec![
                Param {
                    name: "title".into(),
                    value: "résumé final".into(),
                    language: Some("fr".into())
                },
                p("x", "A%4")
            ]
        );
        let many: String = (0..10).map(|i| format!("; n*{i}=x")).collect();
        let f = parse_field(format!("a{many}").as_bytes(), false, 4);
        assert_eq!(f.params, vec![p("n", "xxxx")]);
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
