//! What the message layer recorded about a blob's content: the stored structure (`blobs.meta`,
//! in the commit that inserts the blob, gone with it) and search over the full-text index that
//! `indexer.rs` keeps in `text.db` (FTS5 with the trigram tokenizer, so any substring of three
//! characters or more is found through it), keyed by blob id: one blob, parsed once, serves
//! every mailbox that holds it.

use rusqlite::{params, Connection, OptionalExtension};
use tern_message::mime::{analyse, describe, fold_case, MessageMeta, MimeLimits, SearchText};
use tern_store::{BlobContent, StoreError, StoreResult, TextField};
use tern_types::{MailboxId, Uid};

use crate::blobs::{read_blob, BlobDir};
use crate::convert::{sql_err, Cached};

/// The stored structure of the message `uid` of `mailbox`; `None` for a message whose blob
/// has none (stored before schema version 4).
pub(crate) fn meta_of(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
) -> StoreResult<Option<MessageMeta>> {
    let row: Option<Option<Vec<u8>>> = conn
        .row(
            "SELECT b.meta FROM messages m JOIN blobs b ON b.id = m.blob_id
              WHERE m.mailbox_id = ?1 AND m.uid = ?2",
            params![mailbox.0, uid.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    match row {
        None => Err(StoreError::NotFound(format!(
            "message {uid} in mailbox #{mailbox}"
        ))),
        Some(None) => Ok(None),
        Some(Some(bytes)) => MessageMeta::decode(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Internal(e.to_string())),
    }
}

/// The records of `from..=to`, in UID order (see [`meta_of`]).
pub(crate) fn metas_of(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
) -> StoreResult<Vec<(Uid, Option<MessageMeta>)>> {
    let rows = crate::mailbox::rows_of_uids(
        conn,
        mailbox,
        uids,
        "SELECT m.uid, b.meta FROM messages m JOIN blobs b ON b.id = m.blob_id
          WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid",
        "SELECT m.uid, b.meta FROM messages m JOIN blobs b ON b.id = m.blob_id
          WHERE m.mailbox_id = ?1 AND m.uid = ?2",
        |r| Ok((Uid(r.get(0)?), r.get::<_, Option<Vec<u8>>>(1)?)),
    )?;
    rows.into_iter()
        .map(|(uid, bytes)| {
            let meta = bytes
                .map(|bytes| MessageMeta::decode(&bytes))
                .transpose()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok((uid, meta))
        })
        .collect()
}

/// A column of the full-text index (`schema::TEXT_INDEX`): its name, its table, and the part
/// of a message's [`SearchText`] it holds, in one place.
#[derive(Clone, Copy)]
enum IndexColumn {
    Subject,
    From,
    To,
    Cc,
    Bcc,
    Headers,
    Body,
}

impl IndexColumn {
    /// The column(s) a field searches.
    fn of(field: TextField) -> &'static [IndexColumn] {
        match field {
            TextField::Subject => &[IndexColumn::Subject],
            TextField::From => &[IndexColumn::From],
            TextField::To => &[IndexColumn::To],
            TextField::Cc => &[IndexColumn::Cc],
            TextField::Bcc => &[IndexColumn::Bcc],
            TextField::Headers => &[IndexColumn::Headers],
            TextField::Body => &[IndexColumn::Body],
            TextField::Text => &[IndexColumn::Headers, IndexColumn::Body],
        }
    }

    fn name(self) -> &'static str {
        match self {
            IndexColumn::Subject => "subject",
            IndexColumn::From => "addr_from",
            IndexColumn::To => "addr_to",
            IndexColumn::Cc => "addr_cc",
            IndexColumn::Bcc => "addr_bcc",
            IndexColumn::Headers => "headers",
            IndexColumn::Body => "body",
        }
    }

    /// The short fields are indexed apart from the long ones.
    fn table(self) -> &'static str {
        match self {
            IndexColumn::Headers | IndexColumn::Body => "long_text",
            _ => "short_text",
        }
    }

    fn text(self, text: &SearchText) -> &str {
        match self {
            IndexColumn::Subject => &text.subject,
            IndexColumn::From => &text.from,
            IndexColumn::To => &text.to,
            IndexColumn::Cc => &text.cc,
            IndexColumn::Bcc => &text.bcc,
            IndexColumn::Headers => &text.headers,
            IndexColumn::Body => &text.body,
        }
    }
}

/// A GLOB pattern matching `term` anywhere: `*term*` with GLOB's own metacharacters
/// bracketed so they match themselves.
fn substring_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 8);
    pattern.push('*');
    for c in fold_case(term).chars() {
        match c {
            '*' | '?' | '[' => {
                pattern.push('[');
                pattern.push(c);
                pattern.push(']');
            }
            _ => pattern.push(c),
        }
    }
    pattern.push('*');
    pattern
}

/// UIDs of the messages of `mailbox` whose `field` contains `term`, case-insensitively,
/// in UID order. GLOB on a trigram FTS5 column uses the index when the term has three
/// characters or more and scans the indexed text otherwise: the same rows either way. Blobs
/// the indexer has not taken in (above its watermark) are analysed here (about
/// `indexer::MAX_DEFERRED` at most while the store is busy, usually none), so the answer is
/// exact at every moment; index rows of dropped blobs match no message (blob ids never
/// repeat). The store's snapshot is taken first, the index's (with the watermark) second: a
/// batch the indexer commits in between is seen indexed, with its blobs in the snapshot.
pub(crate) fn search(
    conn: &Connection,
    dir: &BlobDir,
    limits: &MimeLimits,
    mailbox: MailboxId,
    field: TextField,
    term: &str,
) -> StoreResult<Vec<Uid>> {
    // Any read of `main` first: its snapshot starts before the index's.
    conn.query_row("SELECT count(*) FROM text_dropped", [], |_| Ok(()))
        .map_err(sql_err)?;
    let upto = crate::indexer::watermark(conn)?;
    let mut uids = pending_matches(conn, dir, limits, upto, mailbox, field, term)?;
    let pattern = substring_pattern(term);
    // CROSS JOIN keeps this order: the index finds the few blobs that match, then their
    // messages are looked up by blob. Left to itself, SQLite walked the mailbox and asked the
    // index about each message (seconds on 100,000 messages, against milliseconds).
    let selects: Vec<String> = IndexColumn::of(field)
        .iter()
        .map(|column| {
            let (table, column) = (column.table(), column.name());
            format!(
                "SELECT m.uid FROM text.{table} t CROSS JOIN messages m ON m.blob_id = t.rowid
                  WHERE t.{column} GLOB ?2 AND m.mailbox_id = ?1 AND t.rowid <= ?3"
            )
        })
        .collect();
    let sql = selects.join(" UNION ");
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let indexed = stmt
        .query_map(params![mailbox.0, pattern, upto], |r| {
            r.get::<_, u32>(0).map(Uid)
        })
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    uids.extend(indexed);
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// The messages of `mailbox` whose blobs wait for the indexer and match.
fn pending_matches(
    conn: &Connection,
    dir: &BlobDir,
    limits: &MimeLimits,
    upto: i64,
    mailbox: MailboxId,
    field: TextField,
    term: &str,
) -> StoreResult<Vec<Uid>> {
    // From the blobs the index lacks (few) to their messages, as in `search`.
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.uid, m.blob_id
               FROM blobs b CROSS JOIN messages m ON m.blob_id = b.id
              WHERE b.id > ?2 AND m.mailbox_id = ?1",
        )
        .map_err(sql_err)?;
    let pending = stmt
        .query_map(params![mailbox.0, upto], |r| {
            Ok((Uid(r.get(0)?), r.get::<_, i64>(1)?))
        })
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    let term = fold_case(term);
    let mut out = Vec::new();
    for (uid, blob) in pending {
        let text = analyse(&read_blob(conn, dir, blob)?, limits).text;
        if IndexColumn::of(field)
            .iter()
            .any(|c| c.text(&text).contains(&term))
        {
            out.push(uid);
        }
    }
    Ok(out)
}

/// Blobs analysed per write transaction by [`analyse_unanalysed`].
const BACKFILL_BATCH: usize = 64;

/// Analyses the blobs that have no recorded content (stored before schema version 4), in
/// batches, so that every message has what IMAP and search read. Returns how many it did.
/// Runs beside normal work: each batch is one short write; a blob removed meanwhile is
/// skipped by the insert's `WHERE EXISTS`.
pub(crate) async fn analyse_unanalysed(store: &crate::SqliteStore) -> StoreResult<u64> {
    let inner = &store.inner;
    let mut done = 0u64;
    let mut after = 0i64;
    loop {
        let ids: Vec<i64> = inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT b.id FROM blobs b WHERE b.id > ?1 AND b.meta IS NULL
                          ORDER BY b.id LIMIT ?2",
                    )
                    .map_err(sql_err)?;
                let ids = stmt
                    .query_map(params![after, BACKFILL_BATCH as i64], |r| r.get(0))
                    .map_err(sql_err)?
                    .collect::<Result<_, _>>()
                    .map_err(sql_err);
                ids
            })
            .await?;
        let Some(&last) = ids.last() else {
            return Ok(done);
        };
        after = last;
        let dir = inner.blobs.clone();
        let limits = inner.mime_limits;
        let analysed: Vec<(i64, BlobContent)> = inner
            .readers
            .read(move |conn| {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    match crate::blobs::read_blob(conn, &dir, id) {
                        Ok(bytes) => out.push((id, BlobContent::new(describe(&bytes, &limits)))),
                        // Removed since the listing: nothing to record.
                        Err(StoreError::Internal(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await?;
        done += analysed.len() as u64;
        inner
            .writer
            .write(move |conn| {
                for (id, analysis) in &analysed {
                    let still_there = conn
                        .row(
                            "SELECT 1 FROM blobs WHERE id = ?1 AND meta IS NULL",
                            [id],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(sql_err)?
                        .is_some();
                    if still_there {
                        conn.exec(
                            "UPDATE blobs SET meta = ?2 WHERE id = ?1",
                            params![id, analysis.encoded],
                        )
                        .map_err(sql_err)?;
                    }
                }
                Ok(((), Vec::new()))
            })
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::substring_pattern;

    #[test]
    fn glob_metacharacters_match_themselves() {
        assert_eq!(substring_pattern("A*b?[c]"), "*a[*]b[?][[]c]*");
    }
}
