//! The queue scheduler: every accepted message reaches its mailboxes (or, later, the remote
//! servers) through here, Postfix's model.
//!
//! SMTP enqueues durably and calls [`QueueHandle::kick`]; the scheduler leases the due
//! recipients, delivers each (local delivery is one store transaction, so exactly once), and
//! defers temporary failures with exponential backoff.
//!
//! # Standards
//! - RFC 5321 §4.5.4.1 (retry strategy: at least 30 minutes apart is advised for remote
//!   retries; give up after 4-5 days)
//!
//! # Security
//! Works on stored, already-accepted messages only.

mod retry;
mod scheduler;

pub use retry::RetryPolicy;
pub use scheduler::{spawn, QueueHandle};
