//! A small pool of read-only connections, used from blocking threads.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use tern_store::{StoreError, StoreResult};

use crate::convert::{sql_err, Cached};

use crate::schema::{open_reader, ReaderKind};

/// Idle connections of each kind kept for reuse; more are opened under load and dropped
/// afterwards. Opening one costs SQLite's initialisation and a parse of the schema, so enough
/// are kept for the reads of a busy server (8 concurrent sessions measured: with 4, every
/// burst reopened some) while bounding their page caches (1 MiB each at most, see
/// `open_reader`).
const MAX_IDLE: usize = 8;

/// Connections reading at once in blocking threads ([`ReadPool::read`],
/// [`ReadPool::read_mapped`]); further reads wait their turn.
/// Without a bound a burst of reads opened one connection per blocking thread (tokio allows
/// 512), each with its own descriptors (the database, its WAL and shared memory, and the same
/// for `text.db`) and page cache: 10,000 IMAP logins in a few seconds ran the server out of
/// file descriptors (`bench/imap-idle-memory.sh`). Reads take milliseconds at most, so a
/// queue costs little, and the disk gains nothing from more in parallel on a small machine.
const MAX_READING: usize = 32;

/// Readers copy pages into their own caches, except those of [`ReadPool::read_mapped`], which
/// read through a memory map. A map pays only for reads of many pages of message content:
/// SQLite drops a reader's whole map whenever the WAL changed since its last read
/// (`pagerBeginReadTransaction`), which under delivery is every read (an `munmap` and TLB
/// shoot-down each: 0.025 ms of CPU per SMTP message when the RCPT look-ups were mapped), and
/// the kernel maps the pages around each page read, so a mapped listing of a POP3 maildrop
/// put the whole database in the server's RSS.
pub(crate) struct ReadPool {
    path: PathBuf,
    idle_copied: Mutex<Vec<Connection>>,
    idle_mapped: Mutex<Vec<Connection>>,
    reading: tokio::sync::Semaphore,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle_copied: Mutex::new(Vec::new()),
            idle_mapped: Mutex::new(Vec::new()),
            reading: tokio::sync::Semaphore::new(MAX_READING),
        }
    }

    /// Runs `f` on a read connection in a blocking thread.
    pub(crate) async fn read<T, F>(self: &std::sync::Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.read_in_blocking_thread(ReaderKind::Copied, f).await
    }

    /// Like [`ReadPool::read`], on a connection that reads through a memory map: only for
    /// reads of the content of many messages (their stored structures, their bodies; not the
    /// full-text index, which these connections do not attach), which lie in the blob rows'
    /// overflow pages and cost a copy each otherwise (FETCH of ENVELOPE and BODYSTRUCTURE of
    /// 10,000 messages: 0.10 s of server CPU copied, 0.05 s mapped).
    /// The pages read stay in the server's RSS as file pages (up to the map's 256 MiB), as a
    /// reader of mapped index files such as Dovecot's does.
    pub(crate) async fn read_mapped<T, F>(self: &std::sync::Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.read_in_blocking_thread(ReaderKind::Mapped, f).await
    }

    async fn read_in_blocking_thread<T, F>(
        self: &std::sync::Arc<Self>,
        kind: ReaderKind,
        f: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let _turn = self
            .reading
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("the read pool is closed".into()))?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.read_with(kind, f))
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
        self.read_with(ReaderKind::Copied, f)
    }

    fn read_with<T>(
        &self,
        kind: ReaderKind,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.take(kind)?;
        // One read transaction: every statement of `f` sees the same snapshot, so a
        // message and its blob cannot be read on either side of an expunge.
        conn.exec("BEGIN", []).map_err(sql_err)?;
        let out = f(&conn);
        let _ = conn.exec("COMMIT", []);
        self.give_back(kind, conn);
        out
    }

    fn idle(&self, kind: ReaderKind) -> &Mutex<Vec<Connection>> {
        match kind {
            ReaderKind::Copied => &self.idle_copied,
            ReaderKind::Mapped => &self.idle_mapped,
        }
    }

    fn take(&self, kind: ReaderKind) -> StoreResult<Connection> {
        let idle = self.idle(kind).lock().map(|mut v| v.pop()).unwrap_or(None);
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path, kind),
        }
    }

    fn give_back(&self, kind: ReaderKind, conn: Connection) {
        if let Ok(mut idle) = self.idle(kind).lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::MAX_READING;
    use crate::{SqliteOptions, SqliteStore};

    /// A burst of reads never holds more than `MAX_READING` connections at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_waits_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = (0..4 * MAX_READING).map(|_| {
            let (readers, now, most) = (store.inner.readers.clone(), now.clone(), most.clone());
            tokio::spawn(async move {
                readers
                    .read(move |_| {
                        let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(at_once, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            })
        });
        for read in reads.collect::<Vec<_>>() {
            read.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most <= MAX_READING, "{most} reads at once");
        assert!(most > 1, "reads still run side by side");
    }
}
