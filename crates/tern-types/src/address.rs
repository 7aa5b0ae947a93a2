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
}

/// A domain name, lower-cased, without a trailing dot.
///
/// Domains compare case-insensitively (RFC 5321 §2.4), so the canonical form is lower case.
/// Non-ASCII letters are kept as UTF-8 (RFC 6531 allows U-labels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(AddressError::EmptyDomain);
        }
        if trimmed.len() > MAX_DOMAIN {
            return Err(AddressError::DomainTooLong);
        }
        let lower = trimmed.to_lowercase();
        for label in lower.split('.') {
            if label.is_empty()
                || label.len() > MAX_LABEL
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(AddressError::BadLabel(label.to_string()));
            }
            if let Some(bad) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
                return Err(AddressError::BadDomainChar(bad));
            }
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        assert_eq!(Domain::parse("bücher.de").unwrap().as_str(), "bücher.de");
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
    fn addresses_keep_spelling_and_fold_keys() {
        let a = Address::parse("Alice.Smith+news@Example.org").unwrap();
        assert_eq!(a.to_string(), "Alice.Smith+news@example.org");
        assert_eq!(a.local().key(), "alice.smith+news");
        assert!(Address::parse("élodie@exemple.fr").is_ok());
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
