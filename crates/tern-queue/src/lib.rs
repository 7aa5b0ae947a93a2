//! The queue: what could not be delivered in the accepting commit (a full mailbox, a failure,
//! and every remote recipient) reaches its destination through here, Postfix's model.
//!
//! SMTP hands a message to the store, which delivers what it can at once and queues the rest;
//! when something was queued SMTP calls [`QueueHandle::kick`]. The scheduler leases the due
//! recipients and delivers them: local ones in one store transaction each (so exactly once),
//! remote ones with an MX lookup and an SMTP transaction per message and domain
//! (`remote.rs`, with the DNS and SMTP client of `outbound/`). Temporary failures are retried
//! on the configured schedule; permanent ones, and those past the maximum age, are reported to
//! the sender with a DSN in the commit that records them (`bounce.rs`). Nothing accepted is
//! dropped without a record.
//!
//! # Standards
//! - RFC 5321 §4.5.4.1 (retry strategy; give up after 4-5 days), §5 (MX routing)
//! - RFC 3461, RFC 3464 (DSN), RFC 6376 (DKIM signing), RFC 7505 (null MX)
//!
//! # Security
//! Works on stored, already-accepted messages only; what remote servers answer is parsed by
//! smtp-proto with a length limit and only logged or quoted (one line) in a DSN.

mod bounce;
pub mod dkim;
pub mod dsn;
pub mod outbound;
mod remote;
mod retry;
mod scheduler;

pub use bounce::{wants_success_report, DsnAction, Failed, Original, Reporter, Succeeded};
pub use remote::{Outbound, OutboundPolicy};
pub use retry::RetryPolicy;
pub use scheduler::{spawn, QueueHandle, Scheduler};
