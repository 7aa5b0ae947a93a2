//! Tern's small shared types: domains, addresses, identifiers, flags, network prefixes.
//!
//! Every value here is checked when it is built, so code that holds one can trust it.
//! No I/O lives here, and nothing that belongs to one protocol.
//!
//! # Standards
//! - RFC 5321 §4.1.2 (Domain, Local-part), §4.5.3.1 (length limits)
//! - RFC 6531 §3.3 (UTF-8 in addresses)
//! - RFC 5890, RFC 5891 and UTS #46 (internationalised domains, stored as A-labels)
//! - RFC 9051 §2.3.2 (system flags and keywords)
//!
//! # Security
//! Parses addresses and domain names that come from the network and the command line.
//! Lengths are capped at the RFC 5321 limits (a domain's on its A-label form). Domain names
//! go through UTS #46 processing (the `idna` crate), which refuses what is not a valid IDN.

mod address;
mod flags;
mod ids;
mod prefix;

pub use address::{
    is_address_literal, is_dot_string, quote_local_part, Address, AddressError, Domain, LocalPart,
};
pub use flags::{Flag, Flags, SpecialUse};
pub use ids::{AccountId, BlobHash, MailboxId, ModSeq, QueueId, RecipientId, Uid, UidValidity};
pub use prefix::{PrefixError, PrefixLengths};

/// Seconds since the Unix epoch now (0 for a clock set before 1970): the one clock reading
/// of queue times, internal dates and reports.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
