//! What the message layer recorded about a blob's content: the stored structure
//! (`message_meta`) and the full-text index (`message_text`, FTS5 with the trigram tokenizer,
//! so any substring of three characters or more is found through the index).
//!
//! Both are keyed by blob id: one blob, parsed once, serves every mailbox that holds it. Rows
//! go in the commit that inserts the blob and go with it (a foreign key for the structure, a
//! trigger for the index: schema version 4).

use rusqlite::{params, Connection, OptionalExtension};
use tern_message::mime::{fold_case, Analysis, MessageMeta};
use tern_store::{StoreError, StoreResult, TextField};
use tern_types::{MailboxId, Uid};

use crate::convert::{sql_err, Cached};

/// Stores the analysis of blob `blob_id`.
pub(crate) fn insert(conn: &Connection, blob_id: i64, content: &Analysis) -> StoreResult<()> {
    let meta = &content.meta;
    let sort = &meta.sort;
    let key = |k: &Option<tern_message::mime::AddressKey>| {
        k.as_ref().map(|k| (k.address.clone(), k.name.clone()))
    };
    let (from_address, from_name) = key(&sort.from).unzip();
    let (to_address, to_name) = key(&sort.to).unzip();
    let (cc_address, cc_name) = key(&sort.cc).unzip();
    conn.exec(
        "INSERT INTO message_meta (blob_id, structure, sent_date, base_subject, from_address,
                                   from_name, to_address, to_name, cc_address, cc_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            blob_id,
            meta.encode(),
            sort.sent_date,
            sort.base_subject,
            from_address,
            from_name.flatten(),
            to_address,
            to_name.flatten(),
            cc_address,
            cc_name.flatten(),
        ],
    )
    .map_err(sql_err)?;
    let text = &content.text;
    conn.exec(
        "INSERT INTO message_text (rowid, subject, addr_from, addr_to, addr_cc, addr_bcc, headers, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            blob_id,
            text.subject,
            text.from,
            text.to,
            text.cc,
            text.bcc,
            text.headers,
            text.body
        ],
    )
    .map_err(sql_err)?;
    Ok(())
}

/// The stored structure of the message `uid` of `mailbox`; `None` for a message whose blob
/// has none (stored before schema version 4).
pub(crate) fn meta_of(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
) -> StoreResult<Option<MessageMeta>> {
    let row: Option<Option<Vec<u8>>> = conn
        .row(
            "SELECT mm.structure FROM messages m LEFT JOIN message_meta mm ON mm.blob_id = m.blob_id
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

/// The index column(s) a field searches.
fn columns(field: TextField) -> &'static [&'static str] {
    match field {
        TextField::Subject => &["subject"],
        TextField::From => &["addr_from"],
        TextField::To => &["addr_to"],
        TextField::Cc => &["addr_cc"],
        TextField::Bcc => &["addr_bcc"],
        TextField::Headers => &["headers"],
        TextField::Body => &["body"],
        TextField::Text => &["headers", "body"],
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
/// characters or more and scans the stored text otherwise: the same rows either way.
pub(crate) fn search(
    conn: &Connection,
    mailbox: MailboxId,
    field: TextField,
    term: &str,
) -> StoreResult<Vec<Uid>> {
    let pattern = substring_pattern(term);
    let selects: Vec<String> = columns(field)
        .iter()
        .map(|column| {
            format!(
                "SELECT m.uid FROM message_text t JOIN messages m ON m.blob_id = t.rowid
                  WHERE t.{column} GLOB ?2 AND m.mailbox_id = ?1"
            )
        })
        .collect();
    let sql = format!("{} ORDER BY 1", selects.join(" UNION "));
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let uids = stmt
        .query_map(params![mailbox.0, pattern], |r| r.get::<_, u32>(0).map(Uid))
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    Ok(uids)
}

#[cfg(test)]
mod tests {
    use super::substring_pattern;

    #[test]
    fn glob_metacharacters_match_themselves() {
        assert_eq!(substring_pattern("A*b?[c]"), "*a[*]b[?][[]c]*");
    }
}
