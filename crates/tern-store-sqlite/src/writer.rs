//! The single writer thread and its group commit.
//!
//! Each operation is a closure run inside its own savepoint. The thread takes every operation
//! waiting in its queue, runs them all in one transaction and commits once: N concurrent
//! appends cost one WAL fsync instead of N. A failed operation rolls back to its savepoint and
//! leaves the others alone; a failed commit fails every operation of the group (the caller
//! sees a temporary failure, never a success).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tern_store::{Change, StoreError, StoreResult};
use tokio::sync::{broadcast, oneshot};

use crate::convert::{sql_err, Cached};

/// Upper bound on operations per transaction, so one commit never grows without limit.
const MAX_GROUP: usize = 512;

/// Called after the group's commit with its outcome; answers the waiting caller.
type Completion = Box<dyn FnOnce(&StoreResult<()>, &broadcast::Sender<Change>) + Send>;

/// One queued operation: run it inside the group's transaction, or refuse it unrun.
trait Job: Send {
    fn run(self: Box<Self>, conn: &Connection) -> Completion;
    fn refuse(self: Box<Self>, err: StoreError);
}

struct Operation<T, F> {
    op: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Operation<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<(T, Vec<Change>)> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completion {
        run_in_savepoint(conn, self.op, self.reply)
    }

    fn refuse(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

pub(crate) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// Operations submitted so far: how busy the store is, for work that can wait
    /// (`indexer.rs`).
    operations: AtomicU64,
}

impl Writer {
    pub(crate) fn spawn(conn: Connection, changes: broadcast::Sender<Change>) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("tern-sqlite-writer".into())
            .spawn(move || run(conn, queue, changes))
            .map_err(|e| {
                StoreError::Internal(format!("cannot start the store writer thread: {e}"))
            })?;
        Ok(Self {
            jobs,
            operations: AtomicU64::new(0),
        })
    }

    /// Operations submitted since the store opened.
    pub(crate) fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// Runs `op` in the next group transaction and returns once that transaction is durable.
    /// The change events `op` returns are broadcast after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<(T, Vec<Change>)> + Send + 'static,
    {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        self.jobs
            .send(Box::new(Operation { op, reply }))
            .map_err(|_| StoreError::Internal("the store writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the store writer dropped an operation".into()))?
    }
}

fn run_in_savepoint<T, F>(
    conn: &Connection,
    op: F,
    reply: oneshot::Sender<StoreResult<T>>,
) -> Completion
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<(T, Vec<Change>)>,
{
    if let Err(e) = conn.exec("SAVEPOINT op", []) {
        let err = sql_err(e);
        return Box::new(move |_, _| {
            let _ = reply.send(Err(err));
        });
    }
    match op(conn) {
        Ok((value, events)) => match conn.exec("RELEASE op", []) {
            Ok(_) => Box::new(move |commit, changes| match commit {
                Ok(()) => {
                    for event in events {
                        // No receiver is not an error: nobody is watching.
                        let _ = changes.send(event);
                    }
                    let _ = reply.send(Ok(value));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.clone()));
                }
            }),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
                let err = sql_err(e);
                Box::new(move |_, _| {
                    let _ = reply.send(Err(err));
                })
            }
        },
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
            Box::new(move |_, _| {
                let _ = reply.send(Err(err));
            })
        }
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Box<dyn Job>>, changes: broadcast::Sender<Change>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (result, completions) = commit_group(&conn, group);
        for complete in completions {
            complete(&result, &changes);
        }
    }
}

/// Runs a group in one transaction. A failed COMMIT is reported to every member as a
/// temporary failure: SQLite has rolled back, so nothing of the group is durable.
fn commit_group(conn: &Connection, group: Vec<Box<dyn Job>>) -> (StoreResult<()>, Vec<Completion>) {
    if let Err(e) = conn.exec("BEGIN IMMEDIATE", []) {
        let err = StoreError::Temporary(format!("cannot begin a transaction: {e}"));
        for job in group {
            job.refuse(err.clone());
        }
        return (Err(err), Vec::new());
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    for job in jobs.by_ref() {
        completions.push(job.run(conn));
        if conn.is_autocommit() {
            // An error (disk full, I/O) made SQLite roll the whole transaction back. Running
            // the rest now would commit each on its own; refuse them, and report the group as
            // failed: nothing of it is durable.
            let err = StoreError::Temporary("the transaction was rolled back by an error".into());
            tracing::error!(
                "store transaction rolled back, {} operations refused",
                completions.len() + jobs.len()
            );
            for job in jobs {
                job.refuse(err.clone());
            }
            return (Err(err), completions);
        }
    }
    let result = match conn.exec("COMMIT", []) {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(
                "store commit failed, {} operations refused: {e}",
                completions.len()
            );
            Err(StoreError::Temporary(format!("commit failed: {e}")))
        }
    };
    (result, completions)
}
