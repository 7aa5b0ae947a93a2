//! Domains and mailbox addresses as Tern stores them.

use std::fmt;

/// RFC 5321 §4.5.3.1.1: the maximum total length of a user name or other local part is 64 octets.
const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.2: the maximum total length of a domain name or number is 255 octets.
/// A DNS name in text form is at most 253 of them.
const MAX_DOMAIN: usize = 253;
/// RFC 1035 §2.3.4: labels are 63 octets or less.
const MAX_LABEL: usize = 63;

/// Why a domain or an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address has no '@' (expected local@domain, such as alice@example.org)")]
    MissingAt,
    #[error("the local part (before '@') is empty")]
    EmptyLocalPart,
    #[error("the local part is longer than 64 octets (RFC 5321 §4.5.3.1.1)")]
    LocalPartTooLong,
    #[error("the local part contains {0:?}, which is not allowed in an unquoted local part")]
    BadLocalPartChar(char),
    #[error("the local part has an empty dot-separated segment (leading, trailing or double '.')")]
    BadLocalPartDots,
    #[error("the domain is empty")]
    EmptyDomain,
    #[error("the domain is longer than 253 octets")]
    DomainTooLong,
    #[error("the domain label {0:?} is empty, longer than 63 octets, or starts or ends with '-'")]
    BadLabel(String),
    #[error("the domain contains {0:?}; only letters, digits, '-' and '.' are allowed")]
    BadDomainChar(char),
    #[error(
        "{0:?} is not a valid internationalised domain name (UTS #46: a character that is not \
         allowed, a broken xn-- label, or mixed writing directions)"
    )]
    BadIdn(String),
}

/// A domain name in its canonical form: lower-case ASCII, internationalised labels as
/// A-labels (`xn--bcher-kva.example` for `bücher.example`), without a trailing dot.
///
/// Why one form, and why this one: `bücher.example` and `xn--bcher-kva.example` are the same
/// domain (RFC 5890 §2.3.2.1), and a sender without SMTPUTF8 can only write the second, so
/// every comparison (the directory, aliases, the relay check) must see one spelling. The
/// A-label form is the one DNS uses, is plain ASCII (so it fits every header and log line,
/// SMTPUTF8 or not) and is what UTS #46 ToASCII produces from either spelling, with case,
/// width and compatibility variants mapped away. [`Domain::to_unicode`] gives the U-label
/// form for people to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parses a domain given with U-labels, A-labels or both, in any case.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(AddressError::EmptyDomain);
        }
        // UTS #46 §4 processing (mapping, NFC, Punycode, validity of each label; RFC 5891
        // §5.4 and RFC 5893 Bidi rule) with an empty ASCII deny list: the ASCII rules of
        // RFC 1035 §2.3.1 are checked below, to name the offending character or label.
        let ascii = idna::uts46::Uts46::new()
            .to_ascii(
                trimmed.as_bytes(),
                idna::uts46::AsciiDenyList::EMPTY,
                idna::uts46::Hyphens::Allow,
                idna::uts46::DnsLength::Ignore,
            )
            .map_err(|_| AddressError::BadIdn(trimmed.to_string()))?;
        if ascii.len() > MAX_DOMAIN {
            return Err(AddressError::DomainTooLong);
        }
        for label in ascii.split('.') {
            if label.is_empty()
                || label.len() > MAX_LABEL
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(AddressError::BadLabel(label.to_string()));
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(AddressError::BadDomainChar(bad));
            }
        }
        Ok(Self(ascii.into_owned()))
    }

    /// The canonical (A-label, lower-case ASCII) form: the key every comparison uses.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form for people: A-labels shown as U-labels (`bücher.example`). Never used to
    /// compare, and not for headers of a message sent without SMTPUTF8.
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        match result {
            Ok(()) => unicode,
            Err(_) => self.0.clone(),
        }
    }

    /// Whether some label is an A-label, so [`Domain::to_unicode`] differs from the stored form.
    pub fn is_internationalized(&self) -> bool {
        self.0.split('.').any(|label| label.starts_with("xn--"))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An unquoted local part (RFC 5322 dot-atom, with UTF-8 allowed by RFC 6531 §3.3).
///
/// The spelling is kept as given; [`LocalPart::key`] is the case-folded form used for lookups,
/// because users expect `Alice@` and `alice@` to reach the same mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPart(String);

impl LocalPart {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        if input.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        if input.len() > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartTooLong);
        }
        if input.split('.').any(str::is_empty) {
            return Err(AddressError::BadLocalPartDots);
        }
        if let Some(bad) = input.chars().find(|c| !is_atext(*c) && *c != '.') {
            return Err(AddressError::BadLocalPartChar(bad));
        }
        Ok(Self(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that lookups compare.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5322 §3.2.3 atext, widened by RFC 6531 §3.3 to any non-ASCII UTF-8 character.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// RFC 5321 §4.1.3: whether `text` is an address literal, `[192.0.2.1]` or
/// `[IPv6:2001:db8::1]`. (No General-address-literal tag is registered with IANA, so there is
/// nothing else to accept.)
pub fn is_address_literal(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return false;
    };
    if inner.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    // RFC 5234 §2.3: the "IPv6:" tag is case-insensitive.
    match inner.split_at_checked(5) {
        Some((tag, address)) => {
            tag.eq_ignore_ascii_case("IPv6:") && address.parse::<std::net::Ipv6Addr>().is_ok()
        }
        None => false,
    }
}

/// RFC 5321 §4.1.2: whether `local` can be written as a Dot-string (atoms joined by single
/// dots; RFC 6531 §3.3 allows UTF-8 in atoms), so it needs no quotes.
pub fn is_dot_string(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A local part (as smtp-proto gives it, quotes and backslashes removed) in its RFC 5321
/// form: as is when it is a Dot-string, otherwise a Quoted-string with `"` and `\` escaped
/// (RFC 5321 §4.1.2: qtextSMTP is any printable ASCII but those two, which need a
/// quoted-pairSMTP; RFC 6531 §3.3 adds UTF-8). `None` when it holds a character no
/// Quoted-string can carry (a control character).
pub fn quote_local_part(local: &str) -> Option<std::borrow::Cow<'_, str>> {
    if is_dot_string(local) {
        return Some(std::borrow::Cow::Borrowed(local));
    }
    let mut quoted = String::with_capacity(local.len() + 2);
    quoted.push('"');
    for c in local.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => return None,
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Some(std::borrow::Cow::Owned(quoted))
}

/// A mailbox address `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    local: LocalPart,
    domain: Domain,
}

impl Address {
    pub fn new(local: LocalPart, domain: Domain) -> Self {
        Self { local, domain }
    }

    /// Parses `local@domain`. The last '@' separates the two, but an unquoted local part cannot
    /// hold '@', so `a@b@c` is refused rather than guessed at.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let (local, domain) = input.rsplit_once('@').ok_or(AddressError::MissingAt)?;
        Ok(Self {
            local: LocalPart::parse(local)?,
            domain: Domain::parse(domain)?,
        })
    }

    pub fn local(&self) -> &LocalPart {
        &self.local
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::str::FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lower_cased_and_checked() {
        assert_eq!(
            Domain::parse("Example.ORG.").unwrap().as_str(),
            "example.org"
        );
        assert_eq!(Domain::parse("localhost").unwrap().as_str(), "localhost");
        assert_eq!(
            Domain::parse("bücher.de").unwrap().as_str(),
            "xn--bcher-kva.de"
        );
        assert!(matches!(
            Domain::parse("a..b"),
            Err(AddressError::BadLabel(_))
        ));
        assert!(matches!(
            Domain::parse("-a.b"),
            Err(AddressError::BadLabel(_))
        ));
        assert!(matches!(
            Domain::parse("a_b.c"),
            Err(AddressError::BadDomainChar('_'))
        ));
        assert!(matches!(Domain::parse(""), Err(AddressError::EmptyDomain)));
        assert!(Domain::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn u_labels_and_a_labels_are_one_domain() {
        let u = Domain::parse("Bücher.Example").unwrap();
        let a = Domain::parse("XN--BCHER-KVA.example.").unwrap();
        assert_eq!(u, a);
        assert_eq!(u.as_str(), "xn--bcher-kva.example");
        assert_eq!(u.to_unicode(), "bücher.example");
        assert!(u.is_internationalized());
        assert!(!Domain::parse("example.org").unwrap().is_internationalized());
        // UTS #46 mapping: full-width letters and the ideographic full stop.
        assert_eq!(
            Domain::parse("ｂücher。example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        // A label may not start with a combining mark (RFC 5891 §5.4), nor be broken Punycode.
        assert!(matches!(
            Domain::parse("\u{301}a.example"),
            Err(AddressError::BadIdn(_))
        ));
        assert!(matches!(
            Domain::parse("xn--ab-.example"),
            Err(AddressError::BadIdn(_))
        ));
        assert_eq!(
            Address::parse("bob@bücher.example").unwrap(),
            Address::parse("bob@xn--bcher-kva.example").unwrap()
        );
    }

    #[test]
    fn addresses_keep_spelling_and_fold_keys() {
        let a = Address::parse("Alice.Smith+news@Example.org").unwrap();
        assert_eq!(a.to_string(), "Alice.Smith+news@example.org");
        assert_eq!(a.local().key(), "alice.smith+news");
        assert!(Address::parse("élodie@exemple.fr").is_ok());
    }

    #[test]
    fn address_literals_and_quoting() {
        assert!(is_address_literal("[192.0.2.1]"));
        assert!(is_address_literal("[ipv6:2001:db8::1]"));
        assert!(!is_address_literal("[2001:db8::1]"));
        assert!(!is_address_literal("[evil;by x]"));
        assert!(!is_address_literal("192.0.2.1"));
        assert_eq!(quote_local_part("a.b+c").unwrap(), "a.b+c");
        assert_eq!(quote_local_part("élodie").unwrap(), "élodie");
        assert_eq!(quote_local_part("a> b;c").unwrap(), "\"a> b;c\"");
        assert_eq!(quote_local_part("a..b").unwrap(), "\"a..b\"");
        assert_eq!(quote_local_part(r#"x"y\z"#).unwrap(), r#""x\"y\\z""#);
        assert_eq!(quote_local_part("a\tb"), None);
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert_eq!(Address::parse("alice"), Err(AddressError::MissingAt));
        assert_eq!(
            Address::parse("@example.org"),
            Err(AddressError::EmptyLocalPart)
        );
        assert_eq!(
            Address::parse("a..b@x.org"),
            Err(AddressError::BadLocalPartDots)
        );
        assert_eq!(
            Address::parse(".a@x.org"),
            Err(AddressError::BadLocalPartDots)
        );
        assert_eq!(
            Address::parse("a b@x.org"),
            Err(AddressError::BadLocalPartChar(' '))
        );
        assert_eq!(
            Address::parse("a@b@x.org"),
            Err(AddressError::BadLocalPartChar('@'))
        );
        assert_eq!(
            Address::parse("\"a\"@x.org"),
            Err(AddressError::BadLocalPartChar('"'))
        );
        assert_eq!(
            Address::parse(&format!("{}@x.org", "a".repeat(65))),
            Err(AddressError::LocalPartTooLong)
        );
    }
}
