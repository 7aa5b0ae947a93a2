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
}

#[async_trait]
impl MessageReader for SqliteMessageReader {
    fn len(&self) -> u64 {
        self.prefix.len() as u64 + self.blob_len()
    }

    async fn read_at(&self, offset: u64, max: usize, buf: &mut Vec<u8>) -> StoreResult<()> {
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
            return Ok(());
        }
        match &self.blob {
            BlobContent::Inline(data) => {
                let start = usize::try_from(blob_offset).unwrap_or(usize::MAX);
                let rest = data.get(start..).unwrap_or_default();
                buf.extend_from_slice(rest.get(..want).unwrap_or(rest));
            }
            BlobContent::File { file, size } => {
                let want = want
                    .min(usize::try_from(size.saturating_sub(blob_offset)).unwrap_or(usize::MAX));
                let file = file.clone();
                let mut owned = std::mem::take(buf);
                *buf = blocking(move || {
                    let start = owned.len();
                    owned.resize(start + want, 0);
                    let mut filled = 0;
                    while filled < want {
                        let target = owned.get_mut(start + filled..).unwrap_or_default();
                        let n = file
                            .read_at(target, blob_offset + filled as u64)
                            .map_err(|e| {
                                StoreError::Internal(format!("cannot read a blob file: {e}"))
                            })?;
                        if n == 0 {
                            return Err(StoreError::Internal(
                                "a blob file ended before its recorded size".into(),
                            ));
                        }
                        filled += n;
                    }
                    Ok(owned)
                })
                .await?;
            }
        }
        Ok(())
    }
}
