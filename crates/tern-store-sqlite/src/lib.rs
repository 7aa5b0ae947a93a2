//! Tern's embedded store: SQLite for metadata, content-addressed blobs for message bodies.
//!
//! One writer thread owns the only writing connection and commits in groups: every operation
//! that arrives while a commit is in flight joins the next transaction, each inside its own
//! savepoint, and each caller is answered once that transaction is durable
//! (`synchronous=FULL` in WAL mode). Reads use a small pool of read-only connections.
//!
//! Blobs up to `inline_blob_max` bytes are stored in the database, in the same commit as the
//! metadata that references them (no extra fsync); larger ones are files under `blobs/`, written
//! to a temporary file, fsynced, renamed to their hash and the directory fsynced before the
//! metadata that references them is committed. `docs/ARCHITECTURE.md` has the measurements
//! behind that split.
//!
//! # Standards
//! See `tern-store`.
//!
//! # Security
//! Everything stored comes through typed store calls; SQL is always parameterised. A blob's
//! path is derived from its hash, never from input. The data directory holds password hashes
//! and mail: every directory the store creates is 0700 and every file 0600, whatever the
//! umask (`private.rs`).

mod blobs;
mod checkpoint;
mod content;
mod convert;
mod directory;
mod gc;
mod indexer;
mod mailbox;
mod mailbox_ops;
mod pool;
mod private;
mod queue;
mod reader;
mod schema;
mod temp_blob;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tern_message::mime::MimeLimits;
use tern_store::{StoreError, StoreResult, Stores};

pub use gc::GcReport;

/// The database file in the data directory; its presence is what makes a directory a store.
pub const DB_FILE: &str = "tern.db";

/// The full-text index's database file, beside [`DB_FILE`]: derived data (see `indexer.rs`).
pub const TEXT_DB_FILE: &str = "text.db";

/// Default for [`SqliteOptions::inline_blob_max`]: most mail is smaller, and a blob this size
/// costs little in the WAL; larger attachments are kept out of the database.
pub const DEFAULT_INLINE_BLOB_MAX: usize = 128 * 1024;

/// Default for [`SqliteOptions::expunge_log_kept`]: a client that comes back after this many
/// expunges in a mailbox gets a superset of what vanished, which costs it little.
pub const DEFAULT_EXPUNGE_LOG_KEPT: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Blobs up to this many bytes are stored in the database; larger ones as files.
    pub inline_blob_max: usize,
    /// Limits of the MIME analysis every stored blob gets.
    pub mime_limits: MimeLimits,
    /// Entries of a mailbox's expunge log kept for QRESYNC (RFC 7162); older expunges are
    /// only known as a floor (`mailbox.rs`, `trim_expunge_log`).
    pub expunge_log_kept: u32,
    /// Keep the full-text index up to date (`indexer.rs`). One process per store should:
    /// the server, not an admin command beside it. Searches are exact either way.
    pub index_text: bool,
    /// How many mailboxes and subscriptions one account may have.
    pub account_limits: AccountLimits,
}

/// Counts an account is held to, so that one logged-in client cannot fill the store with
/// names (quota bounds the octets of messages, not these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Mailboxes, INBOX and the special-use folders made with the account included: a CREATE
    /// (or RENAME of INBOX) past it fails with `StoreError::Limit`.
    pub mailboxes: u32,
    /// Subscribed names (existing mailboxes or not, RFC 9051 §6.3.7): a new subscription past
    /// it fails with `StoreError::Limit`.
    pub subscriptions: u32,
}

impl Default for AccountLimits {
    fn default() -> Self {
        Self {
            mailboxes: 1000,
            subscriptions: 1000,
        }
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            inline_blob_max: DEFAULT_INLINE_BLOB_MAX,
            mime_limits: MimeLimits::default(),
            expunge_log_kept: DEFAULT_EXPUNGE_LOG_KEPT,
            index_text: true,
            account_limits: AccountLimits::default(),
        }
    }
}

/// The embedded store, opened on one data directory.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("data_dir", &self.inner.data_dir)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) data_dir: PathBuf,
    pub(crate) writer: writer::Writer,
    pub(crate) readers: Arc<pool::ReadPool>,
    pub(crate) blobs: blobs::BlobDir,
    pub(crate) inline_blob_max: usize,
    pub(crate) mime_limits: MimeLimits,
    pub(crate) expunge_log_kept: u32,
    pub(crate) account_limits: AccountLimits,
    pub(crate) changes: tokio::sync::broadcast::Sender<tern_store::Change>,
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`: `tern.db` and `blobs/`. What it
    /// creates only the owner can read (directories 0700, files 0600).
    pub fn open(data_dir: &Path, options: SqliteOptions) -> StoreResult<Self> {
        private::create_dir_all(data_dir).map_err(|e| {
            StoreError::Internal(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let db_path = data_dir.join(DB_FILE);
        private::ensure_file(&db_path).map_err(|e| {
            StoreError::Internal(format!("cannot create {}: {e}", db_path.display()))
        })?;
        let conn = schema::open_writer(&db_path)?;
        let text_path = schema::text_db_path(&db_path);
        private::ensure_file(&text_path).map_err(|e| {
            StoreError::Internal(format!("cannot create {}: {e}", text_path.display()))
        })?;
        let text_index = schema::open_text_index(&db_path)?;
        let blobs = blobs::BlobDir::open(&data_dir.join("blobs"))?;
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        let inner = Inner {
            data_dir: data_dir.to_path_buf(),
            writer: writer::Writer::spawn(conn, changes.clone())?,
            readers: Arc::new(pool::ReadPool::new(db_path.clone())),
            blobs,
            inline_blob_max: options.inline_blob_max,
            mime_limits: options.mime_limits,
            expunge_log_kept: options.expunge_log_kept,
            account_limits: options.account_limits,
            changes,
            _checkpointer: checkpoint::Checkpointer::spawn(db_path),
        };
        let store = Self {
            inner: Arc::new(inner),
        };
        if options.index_text {
            indexer::spawn(&store, text_index);
        }
        Ok(store)
    }

    /// The four store traits, all served by this one store.
    pub fn stores(&self) -> Stores {
        Stores {
            directory: Arc::new(self.clone()),
            mailboxes: Arc::new(self.clone()),
            queue: Arc::new(self.clone()),
            blobs: Arc::new(self.clone()),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Removes blob rows nothing references, blob files with no row that are older than
    /// `grace`, and temporary files older than `grace` that no live writer owns. At start-up
    /// (no write in flight) the grace can be zero; while serving it must outlast the time
    /// between a blob's rename and the commit that references it.
    pub async fn collect_garbage(&self, grace: std::time::Duration) -> StoreResult<GcReport> {
        gc::collect(self, grace).await
    }

    /// Rows the full-text indexer has yet to take in (pending text, dropped blobs): 0 once
    /// the index has caught up. Searches are exact either way.
    pub async fn index_backlog(&self) -> StoreResult<u64> {
        self.inner.readers.read(indexer::backlog).await
    }

    /// Records the MIME structure and search text of blobs stored before the store had a
    /// message layer (schema version 4); a no-op afterwards. Returns how many it analysed.
    pub async fn analyse_unanalysed(&self) -> StoreResult<u64> {
        content::analyse_unanalysed(self).await
    }
}
