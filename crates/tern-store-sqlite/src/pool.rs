//! A small pool of read-only connections, used from blocking threads.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use tern_store::{StoreError, StoreResult};

use crate::convert::{sql_err, Cached};

use crate::schema::open_reader;

/// Idle connections kept for reuse; more are opened under load and dropped afterwards.
/// Opening one costs SQLite's initialisation and a parse of the schema, so enough are kept for
/// the reads of a busy server (8 concurrent sessions measured: with 4, every burst reopened
/// some) while bounding their page caches (1 MiB each at most, see `open_reader`).
const MAX_IDLE: usize = 8;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read connection in a blocking thread.
    pub(crate) async fn read<T, F>(self: &std::sync::Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.read_now(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Runs `f` on a read connection on the calling thread, also when that is an async task's.
    ///
    /// Only for look-ups of a few rows by key on small tables (the directory's checks of a
    /// recipient): those take microseconds from the page cache, while handing them to a
    /// blocking thread and back costs two thread wake-ups, which measured more than the read
    /// (issue 11 item 7, BENCH.md). A WAL reader never waits for the writer. Reads whose size
    /// depends on the data (listings, message bodies) go through [`ReadPool::read`].
    pub(crate) fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.take()?;
        // One read transaction: every statement of `f` sees the same snapshot, so a
        // message and its blob cannot be read on either side of an expunge.
        conn.exec("BEGIN", []).map_err(sql_err)?;
        let out = f(&conn);
        let _ = conn.exec("COMMIT", []);
        self.give_back(conn);
        out
    }

    fn take(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}
