//! Mailboxes and messages in SQLite: UIDs, MODSEQs, the expunge log and quota usage.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tern_message::mime::MessageMeta;
use tern_store::{
    Appended, Change, ChangeKind, ChangesSince, FlagCounts, FlagOp, MailboxInfo, MailboxStore,
    MessageReader, MessageRecord, NewMessage, StoreError, StoreResult, TextField,
};
use tern_types::{AccountId, Flag, Flags, MailboxId, ModSeq, SpecialUse, Uid, UidValidity};
use tokio::sync::broadcast;

use crate::blobs::{drop_unreferenced, insert_blob};
use crate::convert::{is_duplicate, now, sql_err, Cached};
use crate::reader::open_message_in;
use crate::SqliteStore;

/// The columns [`mailbox_row`] reads, in its order; a macro so that `concat!` builds the
/// statements at compile time (the look-ups of every delivery format no string).
macro_rules! mailbox_columns {
    () => {
        "id, account_id, name, special_use, uid_validity, uid_next, highest_modseq, message_count, total_size, recent_uid"
    };
}
/// The columns [`message_row`] reads, in its order, from the message row alone: a listing
/// never reads the content's row (a 4 KiB message's blob row is a page of its own, so joining
/// it read a page per message). A macro, like [`mailbox_columns`].
macro_rules! message_columns {
    () => {
        "uid, modseq, flags, keywords, internal_date, size, blob_id"
    };
}

fn mailbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxInfo> {
    let special: Option<String> = r.get(3)?;
    Ok(MailboxInfo {
        id: MailboxId(r.get(0)?),
        account: AccountId(r.get(1)?),
        name: r.get(2)?,
        special_use: special.as_deref().and_then(SpecialUse::parse),
        uid_validity: UidValidity(r.get(4)?),
        uid_next: Uid(r.get(5)?),
        highest_modseq: ModSeq(r.get::<_, i64>(6)? as u64),
        messages: r.get(7)?,
        size: r.get::<_, i64>(8)? as u64,
        recent_uid: Uid(r.get(9)?),
    })
}

/// Rows of the messages of `uids` (ascending), in UID order, reading only around them: the
/// UIDs are cut into runs wherever two neighbours are more than [`RUN_GAP`] apart, a run of
/// several is read with one scan of its UID range (`range`, parameters mailbox, first, last)
/// and a UID alone with a look-up (`each`, parameters mailbox, UID). So `1:*` is one scan
/// whatever gaps old expunges left, and a few messages far apart never cost a read of
/// everything between them. Each row's UID comes first (`row` reads it).
pub(crate) fn rows_of_uids<T>(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
    range: &str,
    each: &str,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<(Uid, T)>,
) -> StoreResult<Vec<(Uid, T)>> {
    debug_assert!(uids.windows(2).all(|w| w[0] < w[1]), "UIDs not ascending");
    let mut out = Vec::with_capacity(uids.len());
    let mut rest = uids;
    while let Some(first) = rest.first() {
        let run = rest
            .windows(2)
            .position(|w| w[1].0.saturating_sub(w[0].0) > RUN_GAP)
            .map_or(rest.len(), |end| end + 1);
        let (this, next) = rest.split_at(run);
        rest = next;
        if let [only] = this {
            let mut stmt = conn.prepare_cached(each).map_err(sql_err)?;
            if let Some(found) = stmt
                .query_row(params![mailbox.0, only.0], &row)
                .optional()
                .map_err(sql_err)?
            {
                out.push(found);
            }
            continue;
        }
        let last = this.last().unwrap_or(first);
        let mut stmt = conn.prepare_cached(range).map_err(sql_err)?;
        let rows = stmt
            .query_map(params![mailbox.0, first.0, last.0], &row)
            .map_err(sql_err)?;
        for found in rows {
            let found = found.map_err(sql_err)?;
            if this.binary_search(&found.0).is_ok() {
                out.push(found);
            }
        }
    }
    Ok(out)
}

/// The widest gap between two UIDs that [`rows_of_uids`] still reads as one range: the rows
/// in between (at most this many) cost less than a look-up each.
const RUN_GAP: u32 = 64;

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRecord> {
    let keywords: String = r.get(3)?;
    Ok(MessageRecord {
        uid: Uid(r.get(0)?),
        modseq: ModSeq(r.get::<_, i64>(1)? as u64),
        flags: Flags::from_stored(r.get(2)?, keywords.split(' ').map(String::from)),
        internal_date: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        content_id: r.get::<_, i64>(6)? as u64,
    })
}

fn keywords_text(flags: &Flags) -> String {
    flags.keywords().collect::<Vec<_>>().join(" ")
}

pub(crate) fn mailbox_by_id(conn: &Connection, id: MailboxId) -> StoreResult<MailboxInfo> {
    conn.row(
        concat!(
            "SELECT ",
            mailbox_columns!(),
            " FROM mailboxes WHERE id = ?1"
        ),
        [id.0],
        mailbox_row,
    )
    .optional()
    .map_err(sql_err)?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox #{id}")))
}

/// A UIDVALIDITY never handed out before in this store (RFC 9051 §2.3.1.1: a mailbox that is
/// deleted and created again must not reuse one). Starts from the clock so that a store
/// rebuilt from nothing does not repeat the values of an old one either.
fn next_uid_validity(conn: &Connection) -> StoreResult<UidValidity> {
    let stored: Option<i64> = conn
        .row(
            "SELECT value FROM meta WHERE key = 'next_uid_validity'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    let value = stored
        .unwrap_or_else(|| now().clamp(1, u32::MAX as i64))
        .clamp(1, u32::MAX as i64);
    let next = if value >= u32::MAX as i64 {
        1
    } else {
        value + 1
    };
    conn.exec(
        "INSERT INTO meta (key, value) VALUES ('next_uid_validity', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [next],
    )
    .map_err(sql_err)?;
    Ok(UidValidity(value as u32))
}

/// Creates a mailbox, unless one of that name exists (`AlreadyExists`, whatever the count)
/// or the account has `most` mailboxes already (`Limit`).
pub(crate) fn create_mailbox_in(
    conn: &Connection,
    account: AccountId,
    name: &str,
    special_use: Option<SpecialUse>,
    most: u32,
) -> StoreResult<MailboxInfo> {
    if name.is_empty() {
        return Err(StoreError::Invalid("a mailbox name cannot be empty".into()));
    }
    let name = canonical_name(name);
    let exists = conn
        .row(
            "SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2",
            params![account.0, name],
            |_| Ok(()),
        )
        .optional()
        .map_err(sql_err)?
        .is_some();
    if exists {
        return Err(StoreError::AlreadyExists(format!("mailbox {name:?}")));
    }
    let count: u32 = conn
        .row(
            "SELECT count(*) FROM mailboxes WHERE account_id = ?1",
            [account.0],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if count >= most {
        return Err(StoreError::Limit(format!(
            "an account holds {most} mailboxes at most"
        )));
    }
    let uid_validity = next_uid_validity(conn)?;
    conn.exec(
        "INSERT INTO mailboxes (account_id, name, special_use, uid_validity) VALUES (?1, ?2, ?3, ?4)",
        params![account.0, name, special_use.map(SpecialUse::as_str), uid_validity.0],
    )
    .map_err(|e| match is_duplicate(&e) {
        true => StoreError::AlreadyExists(format!("mailbox {name:?}")),
        false => sql_err(e),
    })?;
    mailbox_by_id(conn, MailboxId(conn.last_insert_rowid()))
}

/// RFC 9051 §5.1: INBOX is case-insensitive; it is stored as "INBOX".
fn canonical_name(name: &str) -> &str {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        name
    }
}

pub(crate) fn find_mailbox(
    conn: &Connection,
    account: AccountId,
    name: &str,
) -> StoreResult<MailboxInfo> {
    let name = canonical_name(name);
    conn.row(
        concat!(
            "SELECT ",
            mailbox_columns!(),
            " FROM mailboxes WHERE account_id = ?1 AND name = ?2"
        ),
        params![account.0, name],
        mailbox_row,
    )
    .optional()
    .map_err(sql_err)?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {name:?}")))
}

pub(crate) fn blob_ids_of_account(conn: &Connection, account: AccountId) -> StoreResult<Vec<i64>> {
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT m.blob_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
              WHERE b.account_id = ?1",
        )
        .map_err(sql_err)?;
    let ids = stmt
        .query_map([account.0], |r| r.get::<_, i64>(0))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    Ok(ids)
}

/// What an append stores: a blob row (new or shared with other deliveries) and the message
/// details.
pub(crate) struct AppendParts<'a> {
    pub(crate) blob_id: i64,
    pub(crate) blob_size: u64,
    pub(crate) prefix: &'a [u8],
    pub(crate) flags: &'a Flags,
    pub(crate) internal_date: i64,
}

/// Appends inside the caller's transaction: the message with the next UID and MODSEQ, the
/// mailbox counters and the account's quota usage, all or nothing. Past the account's quota
/// it fails with [`StoreError::OverQuota`]; the caller's savepoint undoes the partial work.
pub(crate) fn append_in(
    conn: &Connection,
    mailbox: MailboxId,
    parts: AppendParts<'_>,
) -> StoreResult<(Appended, Change)> {
    append_to(conn, &mailbox_by_id(conn, mailbox)?, parts)
}

/// [`append_in`] for a caller that has just read the mailbox's row in this transaction (SMTP
/// delivery finds the INBOX by name): the row is not read a second time.
pub(crate) fn append_to(
    conn: &Connection,
    info: &MailboxInfo,
    parts: AppendParts<'_>,
) -> StoreResult<(Appended, Change)> {
    let mailbox = info.id;
    let uid = info.uid_next;
    if uid.0 == u32::MAX {
        return Err(StoreError::Internal(format!(
            "mailbox #{mailbox} has used every UID"
        )));
    }
    let modseq = ModSeq(info.highest_modseq.0 + 1);
    let size = parts.prefix.len() as u64 + parts.blob_size;
    conn.exec(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_id, prefix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            mailbox.0,
            uid.0,
            modseq.0 as i64,
            parts.flags.system_bits(),
            keywords_text(parts.flags),
            parts.internal_date,
            size as i64,
            parts.blob_id,
            parts.prefix,
        ],
    )
    .map_err(sql_err)?;
    conn.exec(
        "UPDATE mailboxes SET uid_next = ?2, highest_modseq = ?3, message_count = message_count + 1,
                total_size = total_size + ?4 WHERE id = ?1",
        params![mailbox.0, uid.0 + 1, modseq.0 as i64, size as i64],
    )
    .map_err(sql_err)?;
    // The quota is checked in the same statement that counts the message: whoever appends
    // (SMTP, the queue, IMAP APPEND), a message that does not fit is refused whole, whatever
    // size its sender declared (RFC 1870 SIZE is only a promise).
    let counted = conn
        .exec(
            "UPDATE accounts SET used_bytes = used_bytes + ?2
              WHERE id = ?1 AND (quota_bytes = 0 OR used_bytes + ?2 <= quota_bytes)",
            params![info.account.0, size as i64],
        )
        .map_err(sql_err)?;
    if counted == 0 {
        return Err(StoreError::OverQuota(format!("account #{}", info.account)));
    }
    let appended = Appended {
        mailbox,
        uid_validity: info.uid_validity,
        uid,
        modseq,
        recent: false,
    };
    let change = Change {
        account: info.account,
        mailbox,
        modseq,
        kind: ChangeKind::Added(uid),
    };
    Ok((appended, change))
}

fn message_by_uid(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
) -> StoreResult<Option<MessageRecord>> {
    conn.row(
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
        ),
        params![mailbox.0, uid.0],
        message_row,
    )
    .optional()
    .map_err(sql_err)
}

fn store_flags_in(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
    op: FlagOp,
    flags: &Flags,
    unchanged_since: Option<ModSeq>,
) -> StoreResult<(Vec<MessageRecord>, Vec<Change>)> {
    let info = mailbox_by_id(conn, mailbox)?;
    // One MODSEQ for the whole operation: every message it changes gets the same value.
    let modseq = ModSeq(info.highest_modseq.0 + 1);
    let mut changed = Vec::new();
    for &uid in uids {
        let Some(mut record) = message_by_uid(conn, mailbox, uid)? else {
            continue;
        };
        if unchanged_since.is_some_and(|limit| record.modseq > limit) {
            continue;
        }
        let updated = op.apply(&record.flags, flags);
        if updated == record.flags {
            continue;
        }
        conn.exec(
            "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2",
            params![mailbox.0, uid.0, updated.system_bits(), keywords_text(&updated), modseq.0 as i64],
        )
        .map_err(sql_err)?;
        record.flags = updated;
        record.modseq = modseq;
        changed.push(record);
    }
    if changed.is_empty() {
        return Ok((changed, Vec::new()));
    }
    conn.exec(
        "UPDATE mailboxes SET highest_modseq = ?2 WHERE id = ?1",
        params![mailbox.0, modseq.0 as i64],
    )
    .map_err(sql_err)?;
    let events = changed
        .iter()
        .map(|r| Change {
            account: info.account,
            mailbox,
            modseq,
            kind: ChangeKind::FlagsChanged(r.uid),
        })
        .collect();
    Ok((changed, events))
}

/// Removes the messages of `uids` inside the caller's transaction; with `only_deleted`, only
/// those that still have `\Deleted` (a flag another session took off since they were chosen
/// saves the message).
pub(crate) fn expunge_in(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[Uid],
    only_deleted: bool,
) -> StoreResult<(Vec<Uid>, Vec<Change>)> {
    let info = mailbox_by_id(conn, mailbox)?;
    let modseq = ModSeq(info.highest_modseq.0 + 1);
    let mut removed = Vec::new();
    let mut blob_ids = Vec::new();
    let mut bytes: i64 = 0;
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for uid in sorted {
        let Some(record) = message_by_uid(conn, mailbox, uid)? else {
            continue;
        };
        if only_deleted && !record.flags.contains(&Flag::Deleted) {
            continue;
        }
        conn.exec(
            "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
            params![mailbox.0, uid.0],
        )
        .map_err(sql_err)?;
        conn.exec(
            "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
            params![mailbox.0, uid.0, modseq.0 as i64],
        )
        .map_err(sql_err)?;
        bytes += record.size as i64;
        blob_ids.push(record.content_id as i64);
        removed.push(uid);
    }
    if removed.is_empty() {
        return Ok((removed, Vec::new()));
    }
    conn.exec(
        "UPDATE mailboxes SET highest_modseq = ?2, message_count = message_count - ?3,
                total_size = total_size - ?4, expunge_log_len = expunge_log_len + ?3 WHERE id = ?1",
        params![mailbox.0, modseq.0 as i64, removed.len() as i64, bytes],
    )
    .map_err(sql_err)?;
    conn.exec(
        "UPDATE accounts SET used_bytes = max(0, used_bytes - ?2) WHERE id = ?1",
        params![info.account.0, bytes],
    )
    .map_err(sql_err)?;
    blob_ids.sort_unstable();
    blob_ids.dedup();
    drop_unreferenced(conn, &blob_ids)?;
    let events = removed
        .iter()
        .map(|&uid| Change {
            account: info.account,
            mailbox,
            modseq,
            kind: ChangeKind::Expunged(uid),
        })
        .collect();
    Ok((removed, events))
}

fn changes_since_in(
    conn: &Connection,
    mailbox: MailboxId,
    since: ModSeq,
) -> StoreResult<ChangesSince> {
    let info = mailbox_by_id(conn, mailbox)?;
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid"
        ))
        .map_err(sql_err)?;
    let changed = stmt
        .query_map(params![mailbox.0, since.0 as i64], message_row)
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
        )
        .map_err(sql_err)?;
    let expunged = stmt
        .query_map(params![mailbox.0, since.0 as i64], |r| Ok(Uid(r.get(0)?)))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    let log_floor: i64 = conn
        .row(
            "SELECT expunge_floor FROM mailboxes WHERE id = ?1",
            [mailbox.0],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    Ok(ChangesSince {
        highest_modseq: info.highest_modseq,
        uid_next: info.uid_next,
        changed,
        expunged,
        log_floor: ModSeq(log_floor as u64),
    })
}

/// Keeps the newest `kept` entries of a mailbox's expunge log and moves its floor past the
/// rest, so the log of a busy mailbox stops growing. RFC 7162 §3.2.5.1: below the floor a
/// QRESYNC client is told of a superset of what vanished, which it accepts.
///
/// Finding the cut walks `kept` index entries, so it is done only once the log is more than
/// a sixteenth (and at least one entry) past `kept` (`mailboxes.expunge_log_len` counts it):
/// a mailbox expunged one message at a time costs the writer that walk once every few hundred
/// expunges, not at each. After a trim the count is taken again from the rows, so it cannot
/// drift for long.
pub(crate) fn trim_expunge_log(
    conn: &Connection,
    mailbox: MailboxId,
    kept: u32,
) -> StoreResult<()> {
    let length: i64 = conn
        .row(
            "SELECT expunge_log_len FROM mailboxes WHERE id = ?1",
            [mailbox.0],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if length <= i64::from(kept) + i64::from((kept / 16).max(1)) {
        return Ok(());
    }
    let cut: Option<i64> = conn
        .row(
            "SELECT modseq FROM expunged WHERE mailbox_id = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2",
            params![mailbox.0, kept],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    if let Some(cut) = cut {
        conn.exec(
            "DELETE FROM expunged WHERE mailbox_id = ?1 AND modseq <= ?2",
            params![mailbox.0, cut],
        )
        .map_err(sql_err)?;
        conn.exec(
            "UPDATE mailboxes SET expunge_floor = max(expunge_floor, ?2) WHERE id = ?1",
            params![mailbox.0, cut],
        )
        .map_err(sql_err)?;
    }
    // Counted again (at most `kept` rows; trims are rare), also when there was nothing to cut
    // and the count had drifted above the rows.
    conn.exec(
        "UPDATE mailboxes SET expunge_log_len =
                (SELECT count(*) FROM expunged WHERE mailbox_id = ?1) WHERE id = ?1",
        [mailbox.0],
    )
    .map_err(sql_err)?;
    Ok(())
}

impl SqliteStore {
    /// Removes `uids` (with `only_deleted`, those still `\Deleted` when the writer gets to
    /// them) and trims the expunge log in the same commit.
    async fn expunge_and_trim(
        &self,
        mailbox: MailboxId,
        uids: Vec<Uid>,
        only_deleted: bool,
    ) -> StoreResult<Vec<Uid>> {
        let kept = self.inner.expunge_log_kept;
        self.inner
            .writer
            .write(move |conn| {
                let expunged = expunge_in(conn, mailbox, &uids, only_deleted)?;
                trim_expunge_log(conn, mailbox, kept)?;
                Ok(expunged)
            })
            .await
    }
}

#[async_trait]
impl MailboxStore for SqliteStore {
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> StoreResult<MailboxInfo> {
        let name = name.to_string();
        let most = self.inner.account_limits.mailboxes;
        self.inner
            .writer
            .write(move |conn| {
                // RFC 9051 §6.3.4: the superiors the name needs, in the same commit, so that
                // a refusal (the account's limit) leaves none of them behind.
                for (end, _) in name.match_indices('/') {
                    match create_mailbox_in(conn, account, &name[..end], None, most) {
                        Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok((
                    create_mailbox_in(conn, account, &name, special_use, most)?,
                    Vec::new(),
                ))
            })
            .await
    }

    async fn list_mailboxes(&self, account: AccountId) -> StoreResult<Vec<MailboxInfo>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare(concat!(
                        "SELECT ",
                        mailbox_columns!(),
                        " FROM mailboxes WHERE account_id = ?1 ORDER BY id"
                    ))
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map([account.0], mailbox_row)
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await
    }

    async fn mailbox(&self, account: AccountId, name: &str) -> StoreResult<MailboxInfo> {
        // A look-up by key, before nearly every IMAP command that names a mailbox: on this
        // thread (see `ReadPool::read_now`).
        self.inner
            .readers
            .read_now(|conn| find_mailbox(conn, account, name))
    }

    async fn append_all(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
        take_recent: bool,
    ) -> StoreResult<Vec<Appended>> {
        let sizes: Vec<u64> = messages
            .iter()
            .map(|m| m.prefix.len() as u64 + m.blob.size)
            .collect();
        // One writer operation: its savepoint is rolled back whole if any message fails
        // (over quota, say), so none of them is kept.
        let appended = self
            .inner
            .writer
            .write(move |conn| {
                let mut appended = Vec::with_capacity(messages.len());
                let mut changes = Vec::with_capacity(messages.len());
                for message in &messages {
                    let blob = insert_blob(conn, &message.blob)?;
                    let parts = AppendParts {
                        blob_id: blob.id,
                        blob_size: blob.size,
                        prefix: &message.prefix,
                        flags: &message.flags,
                        internal_date: message.internal_date,
                    };
                    let (one, change) = append_in(conn, mailbox, parts)?;
                    appended.push(one);
                    changes.push(change);
                }
                if let (true, Some(first)) = (take_recent, appended.first().map(|a| a.uid)) {
                    let taken = conn
                        .exec(
                            "UPDATE mailboxes SET recent_uid = uid_next WHERE id = ?1 AND recent_uid = ?2",
                            params![mailbox.0, first.0],
                        )
                        .map_err(sql_err)?;
                    appended.iter_mut().for_each(|a| a.recent = taken == 1);
                }
                Ok((appended, changes))
            })
            .await?;
        // Logged in the caller's span, so the line carries its session id.
        for (one, size) in appended.iter().zip(sizes) {
            tracing::info!(mailbox = %mailbox, uid = %one.uid, size, "message stored");
        }
        Ok(appended)
    }

    async fn messages_of(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> StoreResult<Vec<MessageRecord>> {
        let uids = uids.to_vec();
        self.inner
            .readers
            .read(move |conn| {
                let rows = rows_of_uids(
                    conn,
                    mailbox,
                    &uids,
                    concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
                    ),
                    concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
                    ),
                    |r| message_row(r).map(|record| (record.uid, record)),
                )?;
                Ok(rows.into_iter().map(|(_, record)| record).collect())
            })
            .await
    }

    async fn messages(&self, mailbox: MailboxId, from: Uid) -> StoreResult<Vec<MessageRecord>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE mailbox_id = ?1 AND uid >= ?2 ORDER BY uid"
                    ))
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![mailbox.0, from.0], message_row)
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await
    }

    async fn flag_counts(&self, mailbox: MailboxId) -> StoreResult<FlagCounts> {
        let (seen, deleted) = (Flag::Seen.bit(), Flag::Deleted.bit());
        self.inner
            .readers
            .read(move |conn| {
                conn.query_row(
                    "SELECT count(*) FILTER (WHERE flags & ?2 = 0),
                            count(*) FILTER (WHERE flags & ?3 != 0),
                            count(*) FILTER (WHERE uid >= (SELECT recent_uid FROM mailboxes WHERE id = ?1))
                       FROM messages WHERE mailbox_id = ?1",
                    params![mailbox.0, seen, deleted],
                    |r| {
                        Ok(FlagCounts {
                            unseen: r.get(0)?,
                            deleted: r.get(1)?,
                            recent: r.get(2)?,
                        })
                    },
                )
                .map_err(sql_err)
            })
            .await
    }

    async fn wire_sizes(&self, mailbox: MailboxId) -> StoreResult<Vec<(Uid, u64)>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT m.uid, m.size - b.size + b.wire_size FROM messages m JOIN blobs b ON b.id = m.blob_id
                          WHERE m.mailbox_id = ?1 ORDER BY m.uid",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map([mailbox.0], |r| {
                        Ok((Uid(r.get(0)?), r.get::<_, i64>(1)? as u64))
                    })
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await
    }

    async fn read_ranges(
        &self,
        mailbox: MailboxId,
        wanted: Vec<(Uid, std::ops::Range<u64>)>,
    ) -> StoreResult<Vec<Vec<u8>>> {
        let dir = self.inner.blobs.clone();
        // One read transaction on one blocking thread for them all.
        self.inner
            .readers
            .read_mapped(move |conn| {
                wanted
                    .into_iter()
                    .map(|(uid, range)| {
                        let reader = open_message_in(conn, &dir, mailbox, uid)?;
                        let want = usize::try_from(range.end.saturating_sub(range.start))
                            .unwrap_or(usize::MAX);
                        let mut buf = Vec::new();
                        reader.read_now(range.start, want, &mut buf)?;
                        Ok(buf)
                    })
                    .collect()
            })
            .await
    }

    async fn open_message(
        &self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> StoreResult<Box<dyn MessageReader>> {
        let dir = self.inner.blobs.clone();
        let reader = self
            .inner
            .readers
            .read(move |conn| open_message_in(conn, &dir, mailbox, uid))
            .await?;
        Ok(Box::new(reader))
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> StoreResult<Vec<MessageRecord>> {
        let uids = uids.to_vec();
        let flags = flags.clone();
        self.inner
            .writer
            .write(move |conn| store_flags_in(conn, mailbox, &uids, op, &flags, unchanged_since))
            .await
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> StoreResult<Vec<Uid>> {
        self.expunge_and_trim(mailbox, uids.to_vec(), false).await
    }

    async fn expunge_deleted(
        &self,
        mailbox: MailboxId,
        within: Option<&[Uid]>,
    ) -> StoreResult<Vec<Uid>> {
        // The candidates from a reader (only UIDs and flags, no records), so the writer, which
        // every delivery waits for, looks at those alone; it checks each again. UID EXPUNGE
        // reads only the UID range its set spans (`within` is sorted), not the whole mailbox.
        let deleted_bit = Flag::Deleted.bit();
        let (first, last) = match within {
            Some(set) => match (set.first(), set.last()) {
                (Some(first), Some(last)) => (first.0, last.0),
                _ => return Ok(Vec::new()),
            },
            None => (0, u32::MAX),
        };
        let mut uids: Vec<Uid> = self
            .inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT uid FROM messages
                          WHERE mailbox_id = ?1 AND uid BETWEEN ?3 AND ?4 AND flags & ?2 != 0
                          ORDER BY uid",
                    )
                    .map_err(sql_err)?;
                let uids = stmt
                    .query_map(params![mailbox.0, deleted_bit, first, last], |r| {
                        Ok(Uid(r.get(0)?))
                    })
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(uids)
            })
            .await?;
        if let Some(within) = within {
            uids.retain(|uid| within.binary_search(uid).is_ok());
        }
        if uids.is_empty() {
            return Ok(uids);
        }
        self.expunge_and_trim(mailbox, uids, true).await
    }

    async fn message_meta(&self, mailbox: MailboxId, uid: Uid) -> StoreResult<Option<MessageMeta>> {
        self.inner
            .readers
            .read(move |conn| crate::content::meta_of(conn, mailbox, uid))
            .await
    }

    async fn messages_meta(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> StoreResult<Vec<(Uid, Option<MessageMeta>)>> {
        let uids = uids.to_vec();
        self.inner
            .readers
            .read_mapped(move |conn| crate::content::metas_of(conn, mailbox, &uids))
            .await
    }

    async fn search_text(
        &self,
        mailbox: MailboxId,
        field: TextField,
        term: &str,
    ) -> StoreResult<Vec<Uid>> {
        let term = term.to_string();
        let dir = self.inner.blobs.clone();
        let limits = self.inner.mime_limits;
        self.inner
            .readers
            .read(move |conn| crate::content::search(conn, &dir, &limits, mailbox, field, &term))
            .await
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> StoreResult<Vec<(Uid, Uid)>> {
        let uids = uids.to_vec();
        self.inner
            .writer
            .write(move |conn| crate::mailbox_ops::copy_in(conn, from, &uids, to))
            .await
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> StoreResult<Vec<(Uid, Uid)>> {
        let uids = uids.to_vec();
        let kept = self.inner.expunge_log_kept;
        self.inner
            .writer
            .write(move |conn| {
                let moved = crate::mailbox_ops::move_in(conn, from, &uids, to)?;
                trim_expunge_log(conn, from, kept)?;
                Ok(moved)
            })
            .await
    }

    async fn delete_mailbox(&self, mailbox: MailboxId) -> StoreResult<()> {
        self.inner
            .writer
            .write(move |conn| crate::mailbox_ops::delete_in(conn, mailbox))
            .await
    }

    async fn rename_mailbox(&self, mailbox: MailboxId, new_name: &str) -> StoreResult<()> {
        let new_name = new_name.to_string();
        let most = self.inner.account_limits.mailboxes;
        self.inner
            .writer
            .write(move |conn| crate::mailbox_ops::rename_in(conn, mailbox, &new_name, most))
            .await
    }

    async fn set_subscribed(
        &self,
        account: AccountId,
        name: &str,
        subscribed: bool,
    ) -> StoreResult<()> {
        let name = canonical_name(name).to_string();
        let most = self.inner.account_limits.subscriptions;
        self.inner
            .writer
            .write(move |conn| {
                if !subscribed {
                    conn.exec(
                        "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2",
                        params![account.0, name],
                    )
                    .map_err(sql_err)?;
                    return Ok(((), Vec::new()));
                }
                // A name already subscribed is no new one: it is taken even at the limit.
                let (count, present): (u32, bool) = conn
                    .row(
                        "SELECT count(*), coalesce(sum(name = ?2), 0) > 0
                           FROM subscriptions WHERE account_id = ?1",
                        params![account.0, name],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(sql_err)?;
                if !present && count >= most {
                    return Err(StoreError::Limit(format!(
                        "an account holds {most} subscriptions at most"
                    )));
                }
                conn.exec(
                    "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?1, ?2)",
                    params![account.0, name],
                )
                .map_err(sql_err)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn subscriptions(&self, account: AccountId) -> StoreResult<Vec<String>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT name FROM subscriptions WHERE account_id = ?1 ORDER BY name",
                    )
                    .map_err(sql_err)?;
                let names = stmt
                    .query_map([account.0], |r| r.get(0))
                    .map_err(sql_err)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(sql_err)?;
                Ok(names)
            })
            .await
    }

    async fn claim_recent(&self, mailbox: MailboxId) -> StoreResult<std::ops::Range<Uid>> {
        // Every read-write session that learns of new mail asks; only the first finds any to
        // claim. The others are answered from a read, not a writer operation each.
        let unclaimed = move |conn: &Connection| {
            conn.row(
                "SELECT recent_uid, uid_next FROM mailboxes WHERE id = ?1",
                [mailbox.0],
                |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?)),
            )
            .optional()
            .map_err(sql_err)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox #{mailbox}")))
        };
        let (from, to) = self.inner.readers.read_now(unclaimed)?;
        if from >= to {
            return Ok(Uid(from)..Uid(from));
        }
        self.inner
            .writer
            .write(move |conn| {
                // Again in the writer: another session may have claimed them meanwhile.
                let (from, to) = unclaimed(conn)?;
                if from < to {
                    conn.exec(
                        "UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1",
                        params![mailbox.0, to],
                    )
                    .map_err(sql_err)?;
                }
                Ok((Uid(from)..Uid(to.max(from)), Vec::new()))
            })
            .await
    }

    async fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> StoreResult<ChangesSince> {
        self.inner
            .readers
            .read(move |conn| changes_since_in(conn, mailbox, since))
            .await
    }

    fn watch(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }
}
