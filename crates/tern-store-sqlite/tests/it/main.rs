//! The SQLite backend against the conformance suite, plus what is particular to it.

mod conformance;
mod idn;
mod sqlite_specific;
mod temp_blobs;

use std::path::Path;
use std::time::Duration;

use tern_store::{MailboxInfo, NewMessage, Stores};
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_types::{Address, Domain, Flags, MailboxId, Uid};

/// Opens (or creates) a store with the given inline-blob limit.
fn open(dir: &Path, inline_blob_max: usize) -> SqliteStore {
    SqliteStore::open(
        dir,
        SqliteOptions {
            inline_blob_max,
            ..SqliteOptions::default()
        },
    )
    .expect("open")
}

/// The store's four traits, with alice@example.org created; her INBOX.
async fn with_alice(store: &SqliteStore) -> (Stores, MailboxInfo) {
    let stores = store.stores();
    stores
        .directory
        .add_domain(&Domain::parse("example.org").unwrap())
        .await
        .unwrap();
    let alice = stores
        .directory
        .add_account(&Address::parse("alice@example.org").unwrap(), "h", 0)
        .await
        .unwrap();
    let inbox = stores.mailboxes.mailbox(alice, "INBOX").await.unwrap();
    (stores, inbox)
}

/// Appends `body` without trace prefix or flags; its UID.
async fn append(stores: &Stores, mailbox: MailboxId, body: &[u8]) -> Uid {
    let message = NewMessage {
        blob: stores.blobs.stage(body.to_vec()).await.unwrap(),
        prefix: Vec::new(),
        flags: Flags::new(),
        internal_date: 0,
    };
    stores.mailboxes.append(mailbox, message).await.unwrap().uid
}

/// Waits until the full-text indexer has taken in everything (5 s at most).
async fn caught_up(store: &SqliteStore) {
    for _ in 0..500 {
        if store.index_backlog().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the indexer did not catch up");
}
