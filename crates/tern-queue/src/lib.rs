//! The queue scheduler: what could not be delivered in the accepting commit (a full mailbox,
//! a failure; later, remote recipients) reaches its destination through here, Postfix's model.
//!
//! SMTP hands a message to the store, which delivers what it can at once and queues the rest;
//! when something was queued SMTP calls [`QueueHandle::kick`]. The scheduler leases the due
//! recipients, delivers each (local delivery is one store transaction, so exactly once), and
//! defers temporary failures with exponential backoff. A recipient that cannot be delivered is
//! kept in the queue as failed, with its error; nothing accepted is dropped.
//!
//! # Standards
//! - RFC 5321 §4.5.4.1 (retry strategy: at least 30 minutes apart is advised for remote
//!   retries; give up after 4-5 days)
//!
//! # Security
//! Works on stored, already-accepted messages only.

pub mod dkim;
pub mod dsn;
mod retry;
mod scheduler;

pub use retry::RetryPolicy;
pub use scheduler::{spawn, QueueHandle};
