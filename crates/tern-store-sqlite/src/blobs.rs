//! Blob files: `blobs/<first two hex digits>/<sha-256 hex>`, written durably before use.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tern_message::mime::{describe, MimeLimits};
use tern_message::WireSize;
use tern_store::{BlobContent, BlobStore, BlobWriter, StagedBlob, StoreError, StoreResult};
use tern_types::BlobHash;

use crate::convert::{io_err, sql_err, Cached};
use crate::temp_blob::{LiveTemps, TempBlob};
use crate::{private, SqliteStore};

/// Blobs up to this size are analysed on the calling task; larger ones on a blocking thread.
const ANALYSE_INLINE_MAX: usize = 64 * 1024;

/// Bytes gathered in memory before they are written to the temporary file in one call.
const SPILL_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct BlobDir {
    root: PathBuf,
    /// Held while a blob file gets its name and while the collector decides on and removes
    /// one: otherwise the collector could unlink a file that a writer had just renamed over
    /// an old orphan with the same content, before its metadata commits. It guards the set of
    /// temporary files live writers own, which the collector must leave alone.
    names: Arc<std::sync::Mutex<LiveTemps>>,
}

impl BlobDir {
    /// Creates `root`, its 256 fan-out directories and `tmp/` (each 0700), and syncs them
    /// once, so that storing a blob later only has to sync the one directory it lands in.
    pub(crate) fn open(root: &Path) -> StoreResult<Self> {
        let create = |p: &Path| {
            private::create_dir_all(p)
                .map_err(|e| io_err(&format!("cannot create {}", p.display()), e))
        };
        create(&root.join("tmp"))?;
        for byte in 0..=255u8 {
            let dir = root.join(format!("{byte:02x}"));
            if !dir.exists() {
                create(&dir)?;
                sync_dir(&dir)?;
            }
        }
        sync_dir(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            names: Arc::new(std::sync::Mutex::new(LiveTemps::default())),
        })
    }

    pub(crate) fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// See [`BlobDir::names`].
    pub(crate) fn lock_names(&self) -> std::sync::MutexGuard<'_, LiveTemps> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(&format!("cannot fsync directory {}", dir.display()), e))
}

/// Streams a blob: kept in memory while it is small enough to go inline, spilled to a
/// temporary file once it is not.
struct SqliteBlobWriter {
    dir: Arc<BlobDir>,
    inline_max: usize,
    mime_limits: MimeLimits,
    pending: Vec<u8>,
    /// Dropped with the writer: an abandoned write (a dropped connection, an oversized
    /// message) leaves no file.
    spill: Option<TempBlob>,
    /// Set when writing the spill file failed: the bytes on disk are incomplete, so this
    /// writer refuses to go on (a new spill file would hold only the rest of the body).
    failed: bool,
    hasher: Sha256,
    len: u64,
    /// The wire form's length (`tern_message::WireForm`, the same code POP3 sends with).
    line_ends: WireSize,
}

impl std::fmt::Debug for SqliteBlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBlobWriter")
            .field("len", &self.len)
            .finish()
    }
}

impl SqliteBlobWriter {
    /// Appends the pending bytes to the spill file, creating it first if needed. On an error
    /// the file is gone (see `TempBlob`) and the writer is spent.
    async fn flush_pending(&mut self) -> StoreResult<()> {
        self.refuse_if_failed()?;
        let data = std::mem::take(&mut self.pending);
        let spill = self.spill.take();
        let dir = self.dir.clone();
        // Until the write has landed: should this future be dropped half-way, the spill file
        // (and the bytes in it) went with it.
        self.failed = true;
        let spill = blocking(move || {
            let mut spill = match spill {
                Some(s) => s,
                None => TempBlob::create(&dir)?,
            };
            spill.write_all(&data)?;
            Ok(spill)
        })
        .await?;
        self.failed = false;
        self.spill = Some(spill);
        Ok(())
    }

    fn refuse_if_failed(&self) -> StoreResult<()> {
        if self.failed {
            return Err(StoreError::Temporary(
                "an earlier write of this blob failed".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for SqliteBlobWriter {
    async fn write(&mut self, chunk: &[u8]) -> StoreResult<()> {
        self.refuse_if_failed()?;
        self.hasher.update(chunk);
        self.line_ends.update(chunk);
        self.len += chunk.len() as u64;
        self.pending.extend_from_slice(chunk);
        let must_spill = self.spill.is_some() || self.len > self.inline_max as u64;
        if must_spill && self.pending.len() >= SPILL_CHUNK.min(self.inline_max.max(1)) {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> StoreResult<StagedBlob> {
        self.refuse_if_failed()?;
        let hash = BlobHash(self.hasher.clone().finalize().into());
        let limits = self.mime_limits;
        if self.spill.is_none() && self.len <= self.inline_max as u64 {
            let bytes = std::mem::take(&mut self.pending);
            // Small messages are analysed here (microseconds); larger ones off the runtime.
            let (bytes, content) = if bytes.len() <= ANALYSE_INLINE_MAX {
                let content = BlobContent::new(describe(&bytes, &limits));
                (bytes, content)
            } else {
                blocking(move || {
                    let content = BlobContent::new(describe(&bytes, &limits));
                    Ok((bytes, content))
                })
                .await?
            };
            return Ok(StagedBlob {
                hash,
                size: self.len,
                wire_size: self.line_ends.total(),
                inline: Some(bytes),
                content: Arc::new(content),
            });
        }
        self.flush_pending().await?;
        let spill = self
            .spill
            .take()
            .ok_or_else(|| StoreError::Internal("blob spill file missing".into()))?;
        let dir = self.dir.clone();
        let content = blocking(move || {
            // The bytes, then the name: after this the blob survives a crash. A file renamed
            // into place whose directory then fails to sync is left to the collector: another
            // writer of the same content may be about to commit a reference to it.
            let target = dir.path_of(&hash);
            spill.persist(&target)?;
            sync_dir(target.parent().unwrap_or(dir.root()))?;
            // Read back (from the page cache) for the one MIME pass the message gets.
            let bytes = fs::read(&target)
                .map_err(|e| io_err(&format!("cannot read {}", target.display()), e))?;
            Ok(BlobContent::new(describe(&bytes, &limits)))
        })
        .await?;
        Ok(StagedBlob {
            hash,
            size: self.len,
            wire_size: self.line_ends.total(),
            inline: None,
            content: Arc::new(content),
        })
    }

    fn len(&self) -> u64 {
        self.len
    }
}

pub(crate) async fn blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("blocking task failed: {e}")))?
}

/// A blob row just inserted.
pub(crate) struct BlobRow {
    pub(crate) id: i64,
    pub(crate) size: u64,
}

/// Reads a blob: from its row when inline, from its file otherwise.
pub(crate) fn read_blob(
    conn: &rusqlite::Connection,
    dir: &BlobDir,
    id: i64,
) -> StoreResult<Vec<u8>> {
    use rusqlite::OptionalExtension;
    let row: Option<(Vec<u8>, i64, Option<Vec<u8>>)> = conn
        .row(
            "SELECT hash, size, data FROM blobs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql_err)?;
    match row {
        None => Err(StoreError::Internal(format!(
            "blob #{id} is referenced but missing"
        ))),
        Some((_, _, Some(data))) => Ok(data),
        Some((hash, size, None)) => {
            let hash = BlobHash::from_slice(&hash)
                .ok_or_else(|| StoreError::Internal(format!("blob #{id} has a bad hash")))?;
            let path = dir.path_of(&hash);
            let data = fs::read(&path)
                .map_err(|e| StoreError::Internal(format!("blob file {}: {e}", path.display())))?;
            if data.len() as i64 != size {
                return Err(StoreError::Internal(format!(
                    "blob file {} has {} bytes, expected {size}",
                    path.display(),
                    data.len()
                )));
            }
            Ok(data)
        }
    }
}

/// Records a staged blob in the same transaction as the metadata that references it.
pub(crate) fn insert_blob(conn: &rusqlite::Connection, blob: &StagedBlob) -> StoreResult<BlobRow> {
    // A new id from the store's counter (schema version 4): ids never repeat.
    let id: i64 = conn
        .prepare_cached(
            "UPDATE meta SET value = value + 1 WHERE key = 'next_blob_id' RETURNING value - 1",
        )
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_err)?;
    conn.exec(
        "INSERT INTO blobs (id, hash, size, wire_size, data, meta) VALUES (?6, ?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            &blob.hash.0[..],
            blob.size as i64,
            blob.wire_size as i64,
            blob.inline.as_deref(),
            blob.content.encoded,
            id,
        ],
    )
    .map_err(sql_err)?;
    Ok(BlobRow {
        id,
        size: blob.size,
    })
}

/// Deletes the rows of the given blobs that nothing references any more. Their files (if any)
/// are removed by the garbage collector, after a grace period that protects a concurrent
/// write of the same content.
pub(crate) fn drop_unreferenced(conn: &rusqlite::Connection, ids: &[i64]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "DELETE FROM blobs WHERE id = ?1
               AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?1)
               AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE blob_id = ?1)",
        )
        .map_err(sql_err)?;
    for id in ids {
        stmt.execute([id]).map_err(sql_err)?;
    }
    Ok(())
}

#[async_trait]
impl BlobStore for SqliteStore {
    async fn writer(&self) -> StoreResult<Box<dyn BlobWriter>> {
        Ok(Box::new(SqliteBlobWriter {
            dir: Arc::new(self.inner.blobs.clone()),
            inline_max: self.inner.inline_blob_max,
            mime_limits: self.inner.mime_limits,
            pending: Vec::new(),
            spill: None,
            failed: false,
            hasher: Sha256::new(),
            len: 0,
            line_ends: WireSize::default(),
        }))
    }

    async fn count(&self) -> StoreResult<u64> {
        self.inner
            .readers
            .read(|conn| {
                conn.row("SELECT count(*) FROM blobs", [], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(sql_err)
            })
            .await
    }
}
