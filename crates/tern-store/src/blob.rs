//! Message bodies: immutable, content-addressed blobs.

use std::sync::Arc;

use async_trait::async_trait;
use tern_message::mime::MessageMeta;
use tern_types::BlobHash;

use crate::StoreResult;

/// A blob that has been written durably (or is carried inline, to be written in the same
/// transaction as the metadata that references it). Only an append or an enqueue makes it
/// reachable; an unreferenced one is collected.
#[derive(Debug, Clone)]
pub struct StagedBlob {
    pub hash: BlobHash,
    pub size: u64,
    /// Octets of the blob's wire form (every line ending in CRLF, a final CRLF), as POP3 RETR
    /// sends it: counted by `tern_message::WireForm`, the code RETR sends with.
    pub wire_size: u64,
    /// Small blobs travel with the metadata and are stored in the same commit.
    pub inline: Option<Vec<u8>>,
    /// The message layer's reading of the blob (`tern_message::mime::describe`), made by the
    /// blob writer before any commit: whatever path stores the message (SMTP, the queue, IMAP
    /// APPEND), its structure is stored in the commit that references it.
    pub content: Arc<BlobContent>,
}

/// The message layer's record of a blob, with its stored form encoded beforehand, so that the
/// store's writer only copies it.
#[derive(Debug)]
pub struct BlobContent {
    pub meta: MessageMeta,
    pub encoded: Vec<u8>,
}

impl BlobContent {
    pub fn new(meta: MessageMeta) -> Self {
        let encoded = meta.encode();
        BlobContent { meta, encoded }
    }
}

/// Receives a blob's bytes in pieces, so a large message is never held whole in memory.
#[async_trait]
pub trait BlobWriter: Send + Sync {
    async fn write(&mut self, chunk: &[u8]) -> StoreResult<()>;
    /// Makes the blob durable (or ready to travel inline) and names it by its hash.
    async fn finish(self: Box<Self>) -> StoreResult<StagedBlob>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn writer(&self) -> StoreResult<Box<dyn BlobWriter>>;
    /// Stages a blob already in memory.
    async fn stage(&self, bytes: Vec<u8>) -> StoreResult<StagedBlob> {
        let mut writer = self.writer().await?;
        writer.write(&bytes).await?;
        writer.finish().await
    }
    /// Blobs stored: referenced by a message or a queue entry, or waiting for collection.
    async fn count(&self) -> StoreResult<u64>;
}
