use std::path::Path;

use async_trait::async_trait;
use tern_store::testkit::Backend;
use tern_store::Stores;
use tern_store_sqlite::{SqliteOptions, SqliteStore};

/// Inline limit small enough that the suite exercises both blob locations.
pub struct Sqlite;

#[async_trait]
impl Backend for Sqlite {
    async fn open(&self, dir: &Path) -> Stores {
        SqliteStore::open(
            dir,
            SqliteOptions {
                inline_blob_max: 16,
                ..SqliteOptions::default()
            },
        )
        .expect("open sqlite store")
        .stores()
    }
}

tern_store::conformance_tests!(Sqlite);
