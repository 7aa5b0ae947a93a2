//! Message helpers: the trace headers Tern adds to each delivery, RFC 5322 dates, and the
//! wire form of stored text (CRLF line ends throughout) that POP3 sends and counts.
//!
//! [`mime`] is the message layer: MIME parsed once, at delivery, into the part tree, envelope,
//! sort keys and search text the store keeps, and the IMAP views of them.
//!
//! # Standards
//! - RFC 5321 §4.4 (trace information: Return-Path, Received)
//! - RFC 5322 §2.3 (CRLF line ends), §3.3 (date-time), §3.6.7 (trace fields)
//! - RFC 3848 (ESMTP and LMTP transmission types: ESMTPS, ESMTPA, ESMTPSA),
//!   RFC 6531 §3.7.3 (UTF8SMTP, UTF8SMTPS)
//!
//! # Security
//! Header values come partly from the peer (the HELO name, the envelope sender); they are
//! stripped of CR, LF and other control characters before they are written, so a peer cannot
//! inject header lines. An EHLO argument that is not a domain or an address literal is written
//! only inside a comment, escaped, so it cannot change how the Received field parses.

pub mod binary;
mod date;
mod header;
pub mod mime;
mod trace;
mod wire;

pub use date::{rfc5322_date, sent_day};
pub use header::{decode_transfer, header_block_len, header_field_count};
pub use trace::{received, return_path, Received};
pub use wire::{wire_form, WireCount, WireForm, WireSink, WireSize};
