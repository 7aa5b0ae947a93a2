//! Keeps the full-text index (`text.db`) up to date, beside the writer, not in its commits.
//!
//! Why not in the accepting commit: FTS5 with the trigram tokenizer does work per octet of
//! text (one token per character), and on the writer thread, which every commit waits for, it
//! took 35 % of the server's CPU and cut SMTP delivery from about 3,000 to about 1,000
//! messages/s at 8 sessions (BENCH.md, "Message layer"). Queuing the text (or just the blob)
//! in the accepting commit instead still cost a B-tree insert per message that the writer
//! felt. So the accepting commit adds nothing for the index: `text.db` holds, with the index,
//! the highest blob id it has taken in (`progress.indexed_upto`, the watermark), and every
//! blob above it waits for this task. Blob ids come from a counter and never repeat (schema
//! version 4), so an index row can only be stale, never wrong: a dropped blob's row matches no
//! message, and `text_dropped` (written by a trigger) tells this task to delete it.
//!
//! This task indexes blobs in batches, on the other core, where FTS5's per-commit costs
//! (segment flushes, merges) are shared by hundreds of messages. It derives the search text
//! from the blob (`mime::analyse`, tens of microseconds). It waits while the store is busy
//! (any writer operation in the last [`IDLE`] interval: a burst of deliveries, a client
//! appending one message after another, whose commits would wait on the index's) unless
//! [`MAX_DEFERRED`] blobs wait: a burst is accepted at the rate it would have without an
//! index, and indexed right after it.
//!
//! Searches stay exact at every moment (`content::search`): blobs above the watermark are
//! analysed and matched by the search itself.
//!
//! One batch: read the watermark, then, in one snapshot of the store, the dropped ids and the
//! next blobs above the watermark (up to [`BATCH`] blobs or [`BATCH_OCTETS`]); in one
//! `text.db` transaction, delete the index rows of every id named, index the blobs and move the
//! watermark to the last one; then remove exactly the dropped rows read (by `seq`, which never
//! repeats) through the writer. A crash between the two commits repeats the batch, which
//! deleting before inserting makes harmless. A blob that cannot be read ends the batch before
//! it (the watermark never passes a blob that was not indexed); the next batch tries again.
//! Only `tern serve` runs the indexer (`SqliteOptions::index_text`).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::{params, Connection};
use tern_message::mime::{analyse, MimeLimits, SearchText};
use tern_store::{StoreError, StoreResult};

use crate::blobs::{read_blob, BlobDir};
use crate::convert::{in_transaction, sql_err};
use crate::{Inner, SqliteStore};

/// Blobs indexed per batch: large enough that FTS5's per-commit work is shared, small enough
/// that one batch takes well under a second.
const BATCH: i64 = 512;

/// Dropped ids handled per batch.
const DROPPED_BATCH: i64 = 4 * BATCH;

/// Octets of messages read per batch at most (one larger message is taken alone): what a
/// batch holds in memory stays bounded whatever the messages.
const BATCH_OCTETS: i64 = 64 * 1024 * 1024;

/// The pause between batches, and the interval over which the writer's load is judged.
const IDLE: Duration = Duration::from_millis(50);

/// Writer operations per [`IDLE`] interval above which the store counts as busy: any. An IMAP
/// client appending one message after another (500 a second) ran under the former 25 and
/// every APPEND shared the disk with an index commit; measured, 10 % more APPENDs a second
/// with none. A store that is written now and then (a few operations a second) still leaves
/// most intervals idle, so indexing keeps up there.
const BUSY: u64 = 0;

/// Blobs waiting past which indexing goes on however busy the store is, so that a search never
/// has more than this to analyse itself.
pub(crate) const MAX_DEFERRED: i64 = 10_000;

/// The longest indexing waits for a quiet store: a batch then runs anyway. Without it, mail
/// coming in a few messages a second (any sender can do that) kept every interval busy and
/// the index [`MAX_DEFERRED`] behind for good, each search analysing that many blobs itself.
const MAX_DEFER_TIME: Duration = Duration::from_secs(1);

/// A blob to index: its id and its search text.
type ToIndex = (i64, SearchText);

/// What one batch does, read from one snapshot of the store.
struct Batch {
    /// `(seq, blob id)` rows of `text_dropped`.
    dropped: Vec<(i64, i64)>,
    /// Blobs to index, the next ones above the watermark.
    blobs: Vec<ToIndex>,
    /// The watermark after this batch.
    upto: i64,
}

/// Starts the indexer on the current tokio runtime. Without one nothing is indexed; searches
/// analyse what waits.
pub(crate) fn spawn(store: &SqliteStore, text_index: Connection) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(&store.inner);
    let index = Arc::new(Mutex::new(text_index));
    runtime.spawn(async move {
        let mut last_operations = 0;
        let mut deferred_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(IDLE).await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let operations = inner.writer.operations();
            let busy = operations.saturating_sub(last_operations) > BUSY;
            last_operations = operations;
            let waited_enough =
                deferred_since.is_some_and(|since| since.elapsed() >= MAX_DEFER_TIME);
            if busy && !waited_enough {
                match inner.readers.read(waiting_at_most).await {
                    Ok(waiting) if waiting < MAX_DEFERRED => {
                        deferred_since.get_or_insert_with(tokio::time::Instant::now);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("full-text indexing: {e}"),
                }
            }
            deferred_since = None;
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

/// The watermark, as a reader connection (which attaches `text.db` as `text`) sees it.
pub(crate) fn watermark(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("SELECT indexed_upto FROM text.progress", [], |r| r.get(0))
        .map_err(sql_err)
}

/// Blobs waiting for the index, at most (ids above the watermark).
fn waiting_at_most(conn: &Connection) -> StoreResult<i64> {
    conn.query_row(
        "SELECT coalesce((SELECT max(id) FROM blobs), 0) - (SELECT indexed_upto FROM text.progress)",
        [],
        |r| r.get(0),
    )
    .map_err(sql_err)
}

/// Blobs waiting for the index, and dropped ones whose rows it has yet to delete (0 once it
/// has caught up).
pub(crate) fn backlog(conn: &Connection) -> StoreResult<u64> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM blobs WHERE id > (SELECT indexed_upto FROM text.progress))
                + (SELECT count(*) FROM text_dropped)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(sql_err)
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
    let batch = inner
        .readers
        .read(move |conn| read_batch(conn, &dir, &limits))
        .await?;
    let Some(batch) = batch else {
        return Ok(Some(0));
    };
    let work = batch.dropped.len() + batch.blobs.len();
    let dropped_seqs: Vec<i64> = batch.dropped.iter().map(|(seq, _)| *seq).collect();
    let index = index.clone();
    tokio::task::spawn_blocking(move || {
        let conn = index
            .lock()
            .map_err(|_| StoreError::Internal("the text index connection is poisoned".into()))?;
        write_index(&conn, &batch)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("indexing task failed: {e}")))??;
    if !dropped_seqs.is_empty() {
        inner
            .writer
            .write(move |conn| {
                let mut done = conn
                    .prepare_cached("DELETE FROM text_dropped WHERE seq = ?1")
                    .map_err(sql_err)?;
                for seq in &dropped_seqs {
                    done.execute([seq]).map_err(sql_err)?;
                }
                Ok(((), Vec::new()))
            })
            .await?;
    }
    Ok(Some(work))
}

/// The next batch, from one snapshot (the watermark first: only this task moves it);
/// `None` when there is nothing to do.
fn read_batch(conn: &Connection, dir: &BlobDir, limits: &MimeLimits) -> StoreResult<Option<Batch>> {
    let upto = watermark(conn)?;
    let mut stmt = conn
        .prepare_cached("SELECT seq, blob_id FROM text_dropped ORDER BY seq LIMIT ?1")
        .map_err(sql_err)?;
    let dropped: Vec<(i64, i64)> = stmt
        .query_map([DROPPED_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err)?
        .collect::<Result<_, _>>()
        .map_err(sql_err)?;
    let mut above = conn
        .prepare_cached("SELECT id, size FROM blobs WHERE id > ?1 ORDER BY id LIMIT ?2")
        .map_err(sql_err)?;
    let candidates: Vec<(i64, i64)> = above
        .query_map(params![upto, BATCH], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err)?
        .collect::<Result<_, _>>()
        .map_err(sql_err)?;
    let mut blobs = Vec::new();
    let mut octets = 0;
    for (id, size) in candidates {
        if !blobs.is_empty() && octets + size > BATCH_OCTETS {
            break;
        }
        match read_blob(conn, dir, id) {
            Ok(bytes) => blobs.push((id, analyse(&bytes, limits).text)),
            // Not past it: this batch ends here, and an error with nothing done is reported.
            Err(e) if blobs.is_empty() && dropped.is_empty() => return Err(e),
            Err(e) => {
                tracing::warn!("full-text indexing stops before blob #{id}: {e}");
                break;
            }
        }
        octets += size;
    }
    if dropped.is_empty() && blobs.is_empty() {
        return Ok(None);
    }
    let upto = blobs.last().map_or(upto, |(id, _)| *id);
    Ok(Some(Batch {
        dropped,
        blobs,
        upto,
    }))
}

/// One transaction in `text.db`: forget every id named, index the blobs, move the watermark.
fn write_index(conn: &Connection, batch: &Batch) -> StoreResult<()> {
    in_transaction(conn, || {
        let mut forget_short = conn
            .prepare_cached("DELETE FROM short_text WHERE rowid = ?1")
            .map_err(sql_err)?;
        let mut forget_long = conn
            .prepare_cached("DELETE FROM long_text WHERE rowid = ?1")
            .map_err(sql_err)?;
        for id in batch
            .dropped
            .iter()
            .map(|(_, id)| *id)
            .chain(batch.blobs.iter().map(|(id, _)| *id))
        {
            forget_short.execute([id]).map_err(sql_err)?;
            forget_long.execute([id]).map_err(sql_err)?;
        }
        let mut add_short = conn
            .prepare_cached(
                "INSERT INTO short_text (rowid, subject, addr_from, addr_to, addr_cc, addr_bcc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(sql_err)?;
        let mut add_long = conn
            .prepare_cached("INSERT INTO long_text (rowid, headers, body) VALUES (?1, ?2, ?3)")
            .map_err(sql_err)?;
        for (id, t) in &batch.blobs {
            add_short
                .execute(params![id, t.subject, t.from, t.to, t.cc, t.bcc])
                .map_err(sql_err)?;
            add_long
                .execute(params![id, t.headers, t.body])
                .map_err(sql_err)?;
        }
        conn.execute("UPDATE progress SET indexed_upto = ?1", [batch.upto])
            .map_err(sql_err)?;
        Ok(())
    })
}
