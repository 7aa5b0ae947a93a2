//! Mailbox operations beyond appending and flags, for IMAP: COPY, MOVE, DELETE, RENAME.
//! Each runs inside one writer transaction (the caller's closure), all or nothing.

use rusqlite::{params, Connection, OptionalExtension};
use tern_store::{Change, StoreError, StoreResult};
use tern_types::{Flags, MailboxId, Uid};

use crate::convert::{is_duplicate, sql_err, Cached};
use crate::mailbox::{append_in, expunge_in, mailbox_by_id, AppendParts};

/// A message's UID in the source mailbox and its UID in the destination (RFC 4315 COPYUID).
type UidPair = (Uid, Uid);

/// What a copy needs of a message: its blob, prefix, size, flags and date.
struct Source {
    blob_id: i64,
    prefix: Vec<u8>,
    size: u64,
    flags: u8,
    keywords: String,
    internal_date: i64,
}

fn source(conn: &Connection, mailbox: MailboxId, uid: Uid) -> StoreResult<Option<Source>> {
    conn.row(
        "SELECT blob_id, prefix, size, flags, keywords, internal_date FROM messages
          WHERE mailbox_id = ?1 AND uid = ?2",
        params![mailbox.0, uid.0],
        |r| {
            Ok(Source {
                blob_id: r.get(0)?,
                prefix: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                flags: r.get(3)?,
                keywords: r.get(4)?,
                internal_date: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(sql_err)
}

/// RFC 9051 §6.4.7 COPY: each message, in UID order, appended to `to` with its flags and
/// internal date (the blob is shared, not copied).
pub(crate) fn copy_in(
    conn: &Connection,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
) -> StoreResult<(Vec<UidPair>, Vec<Change>)> {
    mailbox_by_id(conn, from)?;
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut pairs = Vec::new();
    let mut changes = Vec::new();
    for uid in sorted {
        let Some(message) = source(conn, from, uid)? else {
            continue;
        };
        let flags =
            Flags::from_stored(message.flags, message.keywords.split(' ').map(String::from));
        let parts = AppendParts {
            blob_id: message.blob_id,
            blob_size: message.size - message.prefix.len() as u64,
            prefix: &message.prefix,
            flags: &flags,
            internal_date: message.internal_date,
        };
        let (appended, change) = append_in(conn, to, parts)?;
        pairs.push((uid, appended.uid));
        changes.push(change);
    }
    Ok((pairs, changes))
}

/// RFC 6851 MOVE: the copy and the expunge in one transaction.
pub(crate) fn move_in(
    conn: &Connection,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
) -> StoreResult<(Vec<UidPair>, Vec<Change>)> {
    // A move within one mailbox is allowed (RFC 6851 §3.3): the message gets a new UID there.
    // Within one account a move changes no usage: what is moved is counted free while the
    // copies are made (their quota check would otherwise count it twice), then again.
    let account = mailbox_by_id(conn, from)?.account;
    let same_account = mailbox_by_id(conn, to)?.account == account;
    let mut moving: i64 = 0;
    if same_account {
        for uid in uids {
            if let Some(message) = source(conn, from, *uid)? {
                moving += message.size as i64;
            }
        }
        conn.exec(
            "UPDATE accounts SET used_bytes = used_bytes - ?2 WHERE id = ?1",
            params![account.0, moving],
        )
        .map_err(sql_err)?;
    }
    let (pairs, mut changes) = copy_in(conn, from, uids, to)?;
    let moved: Vec<Uid> = pairs.iter().map(|(source, _)| *source).collect();
    let (_, expunged) = expunge_in(conn, from, &moved, false)?;
    changes.extend(expunged);
    if same_account {
        conn.exec(
            "UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE id = ?1",
            params![account.0, moving],
        )
        .map_err(sql_err)?;
    }
    Ok((pairs, changes))
}

/// Every UID of a mailbox, in order.
fn uids_of(conn: &Connection, mailbox: MailboxId) -> StoreResult<Vec<Uid>> {
    let mut stmt = conn
        .prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")
        .map_err(sql_err)?;
    let uids = stmt
        .query_map([mailbox.0], |r| Ok(Uid(r.get(0)?)))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    Ok(uids)
}

fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

/// RFC 9051 §6.3.4 DELETE: the messages go (expunged, their space back to the quota, their
/// blobs dropped when nothing else holds them), then the mailbox.
pub(crate) fn delete_in(conn: &Connection, mailbox: MailboxId) -> StoreResult<((), Vec<Change>)> {
    let info = mailbox_by_id(conn, mailbox)?;
    if is_inbox(&info.name) {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let (_, changes) = expunge_in(conn, mailbox, &uids_of(conn, mailbox)?, false)?;
    conn.exec("DELETE FROM mailboxes WHERE id = ?1", [mailbox.0])
        .map_err(sql_err)?;
    Ok(((), changes))
}

/// RFC 9051 §6.3.5 RENAME, inferiors included; INBOX's messages move to a new mailbox, which
/// counts against the account's `most` mailboxes.
pub(crate) fn rename_in(
    conn: &Connection,
    mailbox: MailboxId,
    new_name: &str,
    most: u32,
) -> StoreResult<((), Vec<Change>)> {
    let info = mailbox_by_id(conn, mailbox)?;
    if is_inbox(new_name) {
        return Err(StoreError::AlreadyExists("INBOX".into()));
    }
    let taken = conn
        .row(
            "SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2",
            params![info.account.0, new_name],
            |_| Ok(()),
        )
        .optional()
        .map_err(sql_err)?
        .is_some();
    if taken {
        return Err(StoreError::AlreadyExists(format!("mailbox {new_name:?}")));
    }
    if is_inbox(&info.name) {
        // The new mailbox gets INBOX's messages (new UIDs there); INBOX stays, empty.
        let target = crate::mailbox::create_mailbox_in(conn, info.account, new_name, None, most)?;
        let (_, changes) = move_in(conn, mailbox, &uids_of(conn, mailbox)?, target.id)?;
        return Ok(((), changes));
    }
    let old_prefix = format!("{}/", info.name);
    conn.exec(
        "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)
          WHERE account_id = ?1 AND substr(name, 1, length(?2)) = ?2",
        params![info.account.0, old_prefix, format!("{new_name}/")],
    )
    .map_err(|e| match is_duplicate(&e) {
        true => StoreError::AlreadyExists(format!("an inferior of {new_name:?}")),
        false => sql_err(e),
    })?;
    conn.exec(
        "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
        params![mailbox.0, new_name],
    )
    .map_err(sql_err)?;
    // Subscriptions follow the mailbox and its inferiors to their new names, so the client
    // keeps seeing what it subscribed to.
    conn.exec(
        "UPDATE OR REPLACE subscriptions SET name = ?3 WHERE account_id = ?1 AND name = ?2",
        params![info.account.0, info.name, new_name],
    )
    .map_err(sql_err)?;
    conn.exec(
        "UPDATE OR REPLACE subscriptions SET name = ?3 || substr(name, length(?2) + 1)
          WHERE account_id = ?1 AND substr(name, 1, length(?2)) = ?2",
        params![info.account.0, old_prefix, format!("{new_name}/")],
    )
    .map_err(sql_err)?;
    Ok(((), Vec::new()))
}
