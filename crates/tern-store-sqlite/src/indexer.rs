//! Keeps the full-text index (`text.db`) up to date, beside the writer, not in its commits.
//!
//! Why not in the accepting commit: FTS5 with the trigram tokenizer does work per octet of
//! text (one token per character), and on the writer thread, which every commit waits for, it
//! took 35 % of the server's CPU and cut SMTP delivery from about 3,000 to about 1,000
//! messages/s at 8 sessions (BENCH.md, "Message layer"). So the commit that stores a message
//! puts its blob in `text_pending` (a small row, durable with the message), and this task
//! indexes pending blobs in batches, on the other core, where FTS5's per-commit costs (segment
//! flushes, merges) are shared by hundreds of messages. It derives the search text from the
//! blob again (`mime::analyse`, tens of microseconds): storing the text in the accepting
//! commit as well doubled the WAL octets per message.
//!
//! Searches stay exact at every moment (`content::search`): pending blobs are analysed and
//! matched there, index rows of blobs that are pending again or dropped (`text_dropped`) are
//! ignored.
//!
//! It works when the store is quiet: while the writer takes more than [`BUSY`] operations per
//! [`IDLE`] interval (a burst of deliveries), indexing waits, unless [`MAX_DEFERRED`] rows are
//! pending. A burst is then accepted at the rate it would have without an index, and indexed
//! right after it (BENCH.md has both figures); searches meanwhile scan the pending rows.
//!
//! One batch: read pending and dropped rows in one snapshot; in `text.db`, delete the index
//! rows of every blob named and insert the pending ones, commit (synchronous=FULL); then remove
//! exactly those rows through the writer (dropped ones by `seq`, which never repeats; pending
//! ones only while their blob has the hash that was indexed). A crash between the two commits
//! repeats the batch, which deleting before inserting makes harmless.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::{params, Connection};
use tern_store::{StoreError, StoreResult};

use tern_message::mime::{analyse, MimeLimits, SearchText};

use crate::blobs::{read_blob, BlobDir};
use crate::convert::sql_err;
use crate::{Inner, SqliteStore};

/// Pending rows indexed per batch: large enough that FTS5's per-commit work is shared, small
/// enough that one batch takes well under a second.
const BATCH: i64 = 512;

/// The pause between batches, and the interval over which the writer's load is judged.
const IDLE: Duration = Duration::from_millis(50);

/// Writer operations per [`IDLE`] interval above which the store counts as busy (500/s).
const BUSY: u64 = 25;

/// Pending blobs past which indexing goes on however busy the store is, so that a search never
/// has more than this to analyse itself.
pub(crate) const MAX_DEFERRED: i64 = 10_000;

/// A pending blob: its id, its hash, and its search text (`None`: the blob is unreadable).
type Pending = (i64, Vec<u8>, Option<SearchText>);

/// Starts the indexer on the current tokio runtime. Without one (the `tern` admin commands)
/// nothing is indexed: pending rows wait, still searchable, for the server.
pub(crate) fn spawn(store: &SqliteStore, text_index: Connection) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(&store.inner);
    let index = Arc::new(Mutex::new(text_index));
    runtime.spawn(async move {
        let mut last_operations = 0;
        loop {
            tokio::time::sleep(IDLE).await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let operations = inner.writer.operations();
            let busy = operations.saturating_sub(last_operations) > BUSY;
            last_operations = operations;
            if busy {
                match inner.readers.read(pending_span).await {
                    Ok(span) if span < MAX_DEFERRED => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("full-text indexing: {e}"),
                }
            }
            drop(inner);
            match run_batch(&weak, &index).await {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("full-text indexing failed (retrying): {e}");
                    tokio::time::sleep(IDLE * 20).await;
                }
            }
            // Our own commit is not load.
            if let Some(inner) = weak.upgrade() {
                last_operations = inner.writer.operations();
            }
        }
    });
}

/// Indexes one batch; `None` once the store is gone.
async fn run_batch(
    weak: &Weak<Inner>,
    index: &Arc<Mutex<Connection>>,
) -> StoreResult<Option<usize>> {
    let Some(inner) = weak.upgrade() else {
        return Ok(None);
    };
    let dir = inner.blobs.clone();
    let limits = inner.mime_limits;
    let (dropped, pending) = inner
        .readers
        .read(move |conn| read_batch(conn, &dir, &limits))
        .await?;
    if dropped.is_empty() && pending.is_empty() {
        return Ok(Some(0));
    }
    let work = dropped.len() + pending.len();
    let dropped_seqs: Vec<i64> = dropped.iter().map(|(seq, _)| *seq).collect();
    let pending_blobs: Vec<(i64, Vec<u8>)> = pending
        .iter()
        .map(|(blob, hash, _)| (*blob, hash.clone()))
        .collect();
    let index = index.clone();
    tokio::task::spawn_blocking(move || {
        let conn = index
            .lock()
            .map_err(|_| StoreError::Internal("the text index connection is poisoned".into()))?;
        write_index(&conn, &dropped, &pending)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("indexing task failed: {e}")))??;
    inner
        .writer
        .write(move |conn| {
            let mut drop_row = conn
                .prepare_cached("DELETE FROM text_dropped WHERE seq = ?1")
                .map_err(sql_err)?;
            for seq in &dropped_seqs {
                drop_row.execute([seq]).map_err(sql_err)?;
            }
            // Only while the blob is the one indexed: its id may have been dropped and given
            // to a new blob (a different hash; the same hash is the same text).
            let mut done = conn
                .prepare_cached(
                    "DELETE FROM text_pending WHERE blob_id = ?1
                        AND (SELECT hash FROM blobs WHERE id = ?1) = ?2",
                )
                .map_err(sql_err)?;
            for (blob, hash) in &pending_blobs {
                done.execute(params![blob, hash]).map_err(sql_err)?;
            }
            Ok(((), Vec::new()))
        })
        .await?;
    Ok(Some(work))
}

/// How many blobs are pending, at most (max - min of their ids bounds the count, read from
/// the ends of the primary key).
fn pending_span(conn: &Connection) -> StoreResult<i64> {
    conn.query_row(
        "SELECT coalesce(max(blob_id) - min(blob_id) + 1, 0) FROM text_pending",
        [],
        |r| r.get(0),
    )
    .map_err(sql_err)
}

/// The next batch, from one snapshot: dropped blobs, and pending blobs with their text.
#[allow(clippy::type_complexity)]
fn read_batch(
    conn: &Connection,
    dir: &BlobDir,
    limits: &MimeLimits,
) -> StoreResult<(Vec<(i64, i64)>, Vec<Pending>)> {
    let mut stmt = conn
        .prepare_cached("SELECT seq, blob_id FROM text_dropped ORDER BY seq LIMIT ?1")
        .map_err(sql_err)?;
    let dropped = stmt
        .query_map([BATCH * 4], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT p.blob_id, b.hash FROM text_pending p JOIN blobs b ON b.id = p.blob_id
              ORDER BY p.blob_id LIMIT ?1",
        )
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([BATCH], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    let mut pending = Vec::with_capacity(rows.len());
    for (blob, hash) in rows {
        // Same snapshot as the listing: the blob is there (a pending row goes with its blob).
        let text = read_blob(conn, dir, blob)
            .ok()
            .map(|bytes| analyse(&bytes, limits).text);
        pending.push((blob, hash, text));
    }
    Ok((dropped, pending))
}

/// One transaction in `text.db`: forget every blob named, then index the pending ones.
fn write_index(conn: &Connection, dropped: &[(i64, i64)], pending: &[Pending]) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
    let result = (|| {
        let mut forget = conn
            .prepare_cached("DELETE FROM message_text WHERE rowid = ?1")
            .map_err(sql_err)?;
        for blob in dropped
            .iter()
            .map(|(_, b)| *b)
            .chain(pending.iter().map(|(b, _, _)| *b))
        {
            forget.execute([blob]).map_err(sql_err)?;
        }
        let mut add = conn
            .prepare_cached(
                "INSERT INTO message_text (rowid, subject, addr_from, addr_to, addr_cc, addr_bcc,
                                           headers, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(sql_err)?;
        for (blob, _, text) in pending {
            let Some(t) = text else { continue };
            add.execute(params![
                blob, t.subject, t.from, t.to, t.cc, t.bcc, t.headers, t.body
            ])
            .map_err(sql_err)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(sql_err),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Rows waiting for the indexer: pending search text and dropped blobs.
pub(crate) fn backlog(conn: &Connection) -> StoreResult<u64> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM text_pending) + (SELECT count(*) FROM text_dropped)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(sql_err)
}
