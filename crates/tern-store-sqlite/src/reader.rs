//! Reading a stored message in byte ranges: the trace prefix from its row, the blob from its
//! row when inline, from its file otherwise, never the whole of a large message at once.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tern_store::{MessageReader, StoreError, StoreResult};
use tern_types::{BlobHash, MailboxId, Uid};

use crate::blobs::{blocking, BlobDir};
use crate::convert::{sql_err, Cached};

/// Where a blob's octets are.
enum BlobContent {
    Inline(Vec<u8>),
    /// The open file: it stays readable if the blob is collected while it is being read.
    File {
        file: Arc<File>,
        size: u64,
    },
}

/// A message opened by [`open_message_in`].
pub(crate) struct SqliteMessageReader {
    prefix: Vec<u8>,
    blob: BlobContent,
}

/// A message row as [`open_message_in`] reads it: prefix, blob hash, blob size, inline data.
type MessageRow = (Vec<u8>, Vec<u8>, i64, Option<Vec<u8>>);

/// Opens a message inside a read transaction, so that its row and its blob come from one
/// snapshot.
pub(crate) fn open_message_in(
    conn: &Connection,
    dir: &BlobDir,
    mailbox: MailboxId,
    uid: Uid,
) -> StoreResult<SqliteMessageReader> {
    let row: Option<MessageRow> = conn
        .row(
            "SELECT m.prefix, b.hash, b.size, b.data FROM messages m JOIN blobs b ON b.id = m.blob_id
              WHERE m.mailbox_id = ?1 AND m.uid = ?2",
            params![mailbox.0, uid.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(sql_err)?;
    let (prefix, hash, size, data) =
        row.ok_or_else(|| StoreError::NotFound(format!("message UID {uid}")))?;
    let blob = match data {
        Some(data) => BlobContent::Inline(data),
        None => {
            let hash = BlobHash::from_slice(&hash)
                .ok_or_else(|| StoreError::Internal(format!("message UID {uid}: bad blob hash")))?;
            let path = dir.path_of(&hash);
            let fail = |e: std::io::Error| {
                StoreError::Internal(format!("blob file {}: {e}", path.display()))
            };
            let file = File::open(&path).map_err(fail)?;
            let on_disk = file.metadata().map_err(fail)?.len();
            let size = u64::try_from(size).unwrap_or(u64::MAX);
            if on_disk != size {
                return Err(StoreError::Internal(format!(
                    "blob file {} has {on_disk} bytes, expected {size}",
                    path.display()
                )));
            }
            BlobContent::File {
                file: Arc::new(file),
                size,
            }
        }
    };
    Ok(SqliteMessageReader { prefix, blob })
}

impl SqliteMessageReader {
    fn blob_len(&self) -> u64 {
        match &self.blob {
            BlobContent::Inline(data) => data.len() as u64,
            BlobContent::File { size, .. } => *size,
        }
    }

    /// Fills `buf` (cleared first) with the prefix's part of `offset..offset + max` and the
    /// inline blob's part; returns the file blob's part still to read, as (offset in the blob,
    /// length).
    fn read_in_memory(&self, offset: u64, max: usize, buf: &mut Vec<u8>) -> Option<(u64, usize)> {
        buf.clear();
        let prefix_len = self.prefix.len() as u64;
        if offset < prefix_len {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let from_prefix = self.prefix.get(start..).unwrap_or_default();
            buf.extend_from_slice(from_prefix.get(..max).unwrap_or(from_prefix));
        }
        let want = max.saturating_sub(buf.len());
        let blob_offset = offset.saturating_sub(prefix_len);
        if want == 0 || blob_offset >= self.blob_len() {
            return None;
        }
        match &self.blob {
            BlobContent::Inline(data) => {
                let start = usize::try_from(blob_offset).unwrap_or(usize::MAX);
                let rest = data.get(start..).unwrap_or_default();
                buf.extend_from_slice(rest.get(..want).unwrap_or(rest));
                None
            }
            BlobContent::File { size, .. } => Some((
                blob_offset,
                want.min(usize::try_from(size.saturating_sub(blob_offset)).unwrap_or(usize::MAX)),
            )),
        }
    }

    /// [`MessageReader::read_at`] on the calling thread, which a file blob's read blocks: for
    /// callers already on a blocking thread (`read_ranges`).
    pub(crate) fn read_now(&self, offset: u64, max: usize, buf: &mut Vec<u8>) -> StoreResult<()> {
        if let (Some((blob_offset, want)), BlobContent::File { file, .. }) =
            (self.read_in_memory(offset, max, buf), &self.blob)
        {
            read_file(file, blob_offset, want, buf)?;
        }
        Ok(())
    }
}

/// Appends `want` octets of `file` from `offset` to `buf`.
fn read_file(file: &File, offset: u64, want: usize, buf: &mut Vec<u8>) -> StoreResult<()> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut filled = 0;
    while filled < want {
        let target = buf.get_mut(start + filled..).unwrap_or_default();
        let n = file
            .read_at(target, offset + filled as u64)
            .map_err(|e| StoreError::Internal(format!("cannot read a blob file: {e}")))?;
        if n == 0 {
            return Err(StoreError::Internal(
                "a blob file ended before its recorded size".into(),
            ));
        }
        filled += n;
    }
    Ok(())
}

#[async_trait]
impl MessageReader for SqliteMessageReader {
    fn len(&self) -> u64 {
        self.prefix.len() as u64 + self.blob_len()
    }

    async fn read_at(&self, offset: u64, max: usize, buf: &mut Vec<u8>) -> StoreResult<()> {
        let Some((blob_offset, want)) = self.read_in_memory(offset, max, buf) else {
            return Ok(());
        };
        if let BlobContent::File { file, .. } = &self.blob {
            let file = file.clone();
            let mut owned = std::mem::take(buf);
            *buf = blocking(move || {
                read_file(&file, blob_offset, want, &mut owned)?;
                Ok(owned)
            })
            .await?;
        }
        Ok(())
    }
}
