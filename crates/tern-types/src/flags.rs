//! Message flags and mailbox special-use attributes.

use std::collections::BTreeSet;
use std::fmt;

/// One message flag: a system flag or a keyword (RFC 9051 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A keyword such as `$Forwarded` or `$Junk`; kept as the client spelled it.
    Keyword(String),
}

impl Flag {
    /// The bit this system flag takes in [`Flags::system_bits`]; keywords have none.
    pub fn bit(&self) -> Option<u8> {
        match self {
            Flag::Seen => Some(1),
            Flag::Answered => Some(2),
            Flag::Flagged => Some(4),
            Flag::Deleted => Some(8),
            Flag::Draft => Some(16),
            Flag::Keyword(_) => None,
        }
    }

    const SYSTEM: [Flag; 5] = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ];
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Keyword(k) => f.write_str(k),
        }
    }
}

/// The set of flags on one message: system flags as bits (cheap to search), keywords as a set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    system: u8,
    keywords: BTreeSet<String>,
}

impl Flags {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds flags from their stored form (see [`Flags::system_bits`] and [`Flags::keywords`]).
    pub fn from_stored(system_bits: u8, keywords: impl IntoIterator<Item = String>) -> Self {
        Self {
            system: system_bits & 0x1f,
            keywords: keywords.into_iter().filter(|k| !k.is_empty()).collect(),
        }
    }

    pub fn insert(&mut self, flag: Flag) {
        match flag.bit() {
            Some(bit) => self.system |= bit,
            None => {
                if let Flag::Keyword(k) = flag {
                    self.keywords.insert(k);
                }
            }
        }
    }

    pub fn remove(&mut self, flag: &Flag) {
        match (flag.bit(), flag) {
            (Some(bit), _) => self.system &= !bit,
            (None, Flag::Keyword(k)) => {
                self.keywords.remove(k);
            }
            (None, _) => {}
        }
    }

    pub fn contains(&self, flag: &Flag) -> bool {
        match (flag.bit(), flag) {
            (Some(bit), _) => self.system & bit != 0,
            (None, Flag::Keyword(k)) => self.keywords.contains(k),
            (None, _) => false,
        }
    }

    pub fn system_bits(&self) -> u8 {
        self.system
    }

    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    /// Every flag in a stable order: system flags first, then keywords.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        Flag::SYSTEM
            .into_iter()
            .filter(|f| self.contains(f))
            .chain(self.keywords.iter().cloned().map(Flag::Keyword))
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<T: IntoIterator<Item = Flag>>(iter: T) -> Self {
        let mut flags = Flags::new();
        for flag in iter {
            flags.insert(flag);
        }
        flags
    }
}

/// RFC 6154 special-use attributes that Tern gives mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SpecialUse::All,
            SpecialUse::Archive,
            SpecialUse::Drafts,
            SpecialUse::Flagged,
            SpecialUse::Junk,
            SpecialUse::Sent,
            SpecialUse::Trash,
        ]
        .into_iter()
        .find(|u| u.as_str().eq_ignore_ascii_case(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_stored_form() {
        let flags: Flags = [
            Flag::Seen,
            Flag::Deleted,
            Flag::Keyword("$Forwarded".into()),
        ]
        .into_iter()
        .collect();
        let back = Flags::from_stored(flags.system_bits(), flags.keywords().map(String::from));
        assert_eq!(back, flags);
        assert!(back.contains(&Flag::Seen) && !back.contains(&Flag::Draft));
        let listed: Vec<String> = back.iter().map(|f| f.to_string()).collect();
        assert_eq!(listed, ["\\Seen", "\\Deleted", "$Forwarded"]);
    }

    #[test]
    fn special_use_parses_case_insensitively() {
        assert_eq!(SpecialUse::parse("\\sent"), Some(SpecialUse::Sent));
        assert_eq!(SpecialUse::parse("\\Nope"), None);
    }
}
