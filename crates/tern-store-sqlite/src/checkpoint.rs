//! WAL checkpoints on their own thread.
//!
//! By default SQLite checkpoints inside the COMMIT that pushes the WAL over 1000 pages, which
//! puts copying pages back into the database, and an fsync, on the writer's critical path:
//! measured at about a fifth of the writer's time under 32 concurrent appends. Here a
//! separate connection checkpoints passively every few milliseconds on the other core, and the
//! writer only checkpoints itself if this thread falls far behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::schema::open_checkpointer;

/// How often the checkpointer looks for committed frames to copy back.
const INTERVAL: Duration = Duration::from_millis(50);

/// Stops the thread when dropped.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(crate) fn spawn(db_path: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let started = std::thread::Builder::new()
            .name("tern-sqlite-checkpoint".into())
            .spawn(move || run(db_path, flag));
        if let Err(e) = started {
            // The writer's own fallback checkpoint keeps the WAL bounded without us.
            tracing::warn!("cannot start the checkpoint thread: {e}");
        }
        Self { stop }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(db_path: PathBuf, stop: Arc<AtomicBool>) {
    let conn = match open_checkpointer(&db_path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("checkpoint thread cannot open {}: {e}", db_path.display());
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(INTERVAL);
        // PASSIVE never waits for the writer or readers: it copies what it can.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("passive checkpoint failed: {e}");
        }
    }
}
