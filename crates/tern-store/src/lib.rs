//! Tern's store: the traits every backend implements, and the records they exchange.
//!
//! Protocol crates talk to these traits only (through `Arc<dyn Trait>`), so the embedded
//! SQLite backend and a shared PostgreSQL backend are interchangeable. Each method is one whole
//! mail operation and is atomic: it happens entirely, durably, or not at all.
//!
//! # Standards
//! - RFC 9051 §2.3.1 (UID, UIDVALIDITY), RFC 7162 §3.1 (MODSEQ), RFC 6154 (special use)
//! - RFC 5321 §4.5.4 (per-recipient queue state)
//!
//! # Security
//! Holds no policy. Callers pass checked types ([`tern_types::Address`], [`tern_types::Domain`]);
//! the store trusts them and checks only referential rules (a domain exists, an alias points
//! at accounts).

mod blob;
mod directory;
mod error;
mod mailbox;
mod queue;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use blob::{BlobContent, BlobStore, BlobWriter, StagedBlob};
pub use directory::{
    AccountAuth, AccountInfo, AliasInfo, AliasSource, Directory, RecipientPolicy, Resolution,
};
pub use error::{StoreError, StoreResult};
pub use mailbox::{
    Appended, Change, ChangeKind, ChangesSince, FlagCounts, FlagOp, MailboxInfo, MailboxStore,
    MessageReader, MessageRecord, NewMessage, TextField, DEFAULT_MAILBOXES, READ_CHUNK,
};
pub use queue::{
    Accepted, EnvelopeParams, NewQueueMessage, NewRecipient, QueueEntry, QueueStore,
    QueuedRecipient, RecipientState, Route,
};

use std::sync::Arc;

/// The stores one running server uses, all opened from the same backend.
#[derive(Clone)]
pub struct Stores {
    pub directory: Arc<dyn Directory>,
    pub mailboxes: Arc<dyn MailboxStore>,
    pub queue: Arc<dyn QueueStore>,
    pub blobs: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}
