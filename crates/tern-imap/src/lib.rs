//! Tern's IMAP server (issue 8), being built. So far: mailbox names as IMAP carries them.
//!
//! # Standards
//! - RFC 9051 §5.1 (mailbox naming), RFC 3501 §5.1.3 (modified UTF-7), RFC 6855 (UTF-8 names)
//!
//! # Security
//! Names come from clients: every decoder here refuses what is not exactly one valid
//! encoding, so two spellings can never name one mailbox.

pub mod names;
