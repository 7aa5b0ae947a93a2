//! Opening connections and creating or upgrading the schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use tern_store::{StoreError, StoreResult};
use tern_types::Domain;

use crate::convert::{in_transaction, sql_err};

/// How long a connection waits for another process (the `tern` CLI while the server runs)
/// to finish its write before giving up with a temporary failure.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Each entry upgrades the schema by one version (`PRAGMA user_version`). Append-only: a
/// store at version n runs the entries after n.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE domains (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
-- AUTOINCREMENT: an account's id is never given to another account, so nothing that still
-- names a removed account (a queued recipient, a session) can reach a new one.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id     INTEGER NOT NULL REFERENCES domains(id),
    local         TEXT NOT NULL,
    local_key     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    quota_bytes   INTEGER NOT NULL DEFAULT 0,
    used_bytes    INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL,
    UNIQUE (domain_id, local_key)
);
-- local_key '' is the domain's catch-all.
CREATE TABLE aliases (
    id        INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local     TEXT NOT NULL,
    local_key TEXT NOT NULL,
    UNIQUE (domain_id, local_key)
);
CREATE TABLE alias_targets (
    alias_id   INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (alias_id, account_id)
) WITHOUT ROWID;
CREATE INDEX alias_targets_account ON alias_targets(account_id);
CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    special_use    TEXT,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    uid_validity   INTEGER NOT NULL,
    uid_next       INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    message_count  INTEGER NOT NULL DEFAULT 0,
    total_size     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);
-- data is NULL when the blob is a file under blobs/<hash>. Rows are referenced by id, and
-- there is deliberately no index on hash: every index keyed by a hash puts each insert on a
-- random page, and under group commit those pages were half of all WAL bytes. One blob row
-- serves every recipient of a delivery; identical messages delivered separately get separate
-- rows (and share the file, if they are files).
CREATE TABLE blobs (
    id   INTEGER PRIMARY KEY,
    hash      BLOB NOT NULL,
    size      INTEGER NOT NULL,
    -- size with CRLF line ends throughout (POP3 sizes)
    wire_size INTEGER NOT NULL,
    data      BLOB
);
CREATE TABLE messages (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    flags         INTEGER NOT NULL,
    keywords      TEXT NOT NULL,
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob_id       INTEGER NOT NULL REFERENCES blobs(id),
    prefix        BLOB NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);
-- The change log of expunged UIDs (RFC 7162 §3.2.5.1 VANISHED needs them).
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
CREATE TABLE queue_messages (
    id           INTEGER PRIMARY KEY,
    blob_id      INTEGER NOT NULL REFERENCES blobs(id),
    trace_prefix BLOB NOT NULL,
    sender       TEXT NOT NULL,
    envid        TEXT,
    ret          TEXT,
    body         TEXT,
    smtputf8     INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX queue_messages_blob ON queue_messages(blob_id);
-- account_id is set for local delivery and deliberately not a foreign key: an account removed
-- while mail waits turns the delivery into a failure, not a lost row.
CREATE TABLE queue_recipients (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    account_id   INTEGER,
    notify       TEXT,
    orcpt        TEXT,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
"#,
    // Message ids from a store-wide counter: queue_messages.id used to be the next rowid, so an
    // idle server called every message "1". Ids given before this migration may repeat once.
    r#"
INSERT OR IGNORE INTO meta (key, value) SELECT 'next_message_id', coalesce(max(id), 0) + 1 FROM queue_messages;
"#,
    CANONICAL_DOMAIN_NAMES,
    MESSAGE_CONTENT,
    // Version 5: whether the sender has been warned that a recipient is late (a "delayed"
    // DSN, RFC 3464; sent once per recipient).
    "ALTER TABLE queue_recipients ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;",
    // Version 6: the expunge log's floor per mailbox (RFC 7162 QRESYNC): the log keeps the
    // newest entries only (`mailbox.rs`, `EXPUNGE_LOG_KEPT`), and expunges at or below the
    // floor are no longer known one by one.
    "ALTER TABLE mailboxes ADD COLUMN expunge_floor INTEGER NOT NULL DEFAULT 0;",
    RECENT_AND_SUBSCRIPTIONS,
    // Version 8: the length of each mailbox's expunge log, so the writer knows when to trim
    // it without counting (`mailbox.rs`, `trim_expunge_log`).
    "ALTER TABLE mailboxes ADD COLUMN expunge_log_len INTEGER NOT NULL DEFAULT 0;
     UPDATE mailboxes SET expunge_log_len = (SELECT count(*) FROM expunged e WHERE e.mailbox_id = mailboxes.id);",
];

/// Version 7. `recent_uid`: RFC 3501 §2.3.2 \Recent, the first UID no session has yet
/// claimed as recent (messages there are recent to the next session that selects the mailbox;
/// those already stored are not). `subscriptions`: RFC 9051 §6.3.7, subscriptions by name,
/// apart from mailboxes: a name may be subscribed that does not exist, and a deleted
/// mailbox's subscription stays.
const RECENT_AND_SUBSCRIPTIONS: &str = r#"
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET recent_uid = uid_next;
CREATE TABLE subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed;
ALTER TABLE mailboxes DROP COLUMN subscribed;
"#;

/// Version 4: the message layer (`content.rs`, `indexer.rs`). Blobs stored before it have no
/// `meta`; `SqliteStore::analyse_unanalysed` fills it in. The full-text index itself is in
/// `text.db` ([`TEXT_INDEX`]), with the highest blob id it has taken in; what it has to
/// forget is in `text_dropped`, written in the commit that drops a blob.
const MESSAGE_CONTENT: &str = r#"
-- tern_message::mime::MessageMeta, encoded: part tree, envelope, sort keys, preview. In the
-- blob's own row (not a table of its own): one B-tree fewer in every accepting commit.
ALTER TABLE blobs ADD COLUMN meta BLOB;
-- Blob ids from a counter from now on, never given twice (SQLite's max(id)+1 gives a dropped
-- id again): the full-text index is keyed by blob id and must never meet an old one.
INSERT OR IGNORE INTO meta (key, value) SELECT 'next_blob_id', coalesce(max(id), 0) + 1 FROM blobs;
-- Blobs whose index rows text.db must drop; until it has, searches ignore those rows.
CREATE TABLE text_dropped (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_id INTEGER NOT NULL
);
CREATE INDEX text_dropped_blob ON text_dropped(blob_id);
CREATE TRIGGER blobs_forget_text AFTER DELETE ON blobs BEGIN
    INSERT INTO text_dropped (blob_id) VALUES (old.id);
END;
"#;

/// The full-text index in `text.db`: FTS5 with the trigram tokenizer over text lower-cased by
/// `tern_message::mime::fold_case`, so the tokenizer need not fold case and GLOB (which is
/// case-sensitive) gives the case-insensitive substring match IMAP SEARCH wants. The rowid is
/// the blob's id; `progress.indexed_upto` is the indexer's watermark. It is derived data: a
/// missing `text.db` starts again at 0 and the indexer rebuilds it.
/// `detail=none` (no token positions): GLOB still checks each candidate row against the
/// pattern, so answers are the same, and indexing costs half (measured: 242 against 507 µs
/// per 5 KiB document, an index of 15 against 37 MiB for 2,000 of them).
/// Two tables: that check reads the candidate's stored row, and in one table a SUBJECT search
/// read each candidate's whole text (a page a message). The short fields have a table of their
/// own, whose rows are small: 2,381 candidates of 10,000 checked in 2.9 ms against 27.5 ms.
pub(crate) const TEXT_INDEX: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS short_text USING fts5(
    subject, addr_from, addr_to, addr_cc, addr_bcc,
    tokenize = 'trigram case_sensitive 1', detail = none
);
CREATE VIRTUAL TABLE IF NOT EXISTS long_text USING fts5(
    headers, body,
    tokenize = 'trigram case_sensitive 1', detail = none
);
CREATE TABLE IF NOT EXISTS progress (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT OR IGNORE INTO progress (id, indexed_upto) VALUES (1, 0);";

/// The single table of the first index (all fields in one row): dropped, and the index
/// rebuilt from the start, when a store made before the split opens. One transaction: a stop
/// between the two would keep the watermark of an index that is gone.
const FORMER_TEXT_INDEX: &str = "
BEGIN IMMEDIATE;
DROP TABLE message_text;
UPDATE progress SET indexed_upto = 0;
COMMIT;";

/// The index database's file, next to `tern.db`.
pub(crate) fn text_db_path(db_path: &Path) -> std::path::PathBuf {
    db_path.with_file_name(crate::TEXT_DB_FILE)
}

/// Opens `text.db` for the indexer (its only writer), creating the index if needed.
pub(crate) fn open_text_index(db_path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(text_db_path(db_path)).map_err(sql_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
    // synchronous=FULL: the indexer removes dropped rows only after this commit is durable.
    conn.execute_batch(
        "PRAGMA page_size=4096; PRAGMA cache_size=-8192; PRAGMA journal_mode=WAL; \
         PRAGMA synchronous=FULL;",
    )
    .map_err(sql_err)?;
    conn.execute_batch(TEXT_INDEX).map_err(sql_err)?;
    let former: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'message_text'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql_err)?
        > 0;
    if former {
        conn.execute_batch(FORMER_TEXT_INDEX).map_err(sql_err)?;
    }
    Ok(conn)
}

/// Version 3: domain names stored in their canonical form (`tern_types::Domain`: A-labels,
/// lower-case ASCII). Stores made before it may hold U-labels (`bücher.example`), and even
/// both spellings of one domain as two rows: those are merged into the oldest row (their
/// accounts and aliases move to it; an address present under both spellings makes the
/// migration fail on the UNIQUE constraint, and the store is left as it was).
const CANONICAL_DOMAIN_NAMES: &str = r#"
CREATE TEMP TABLE domain_merge AS
  SELECT d.id AS old_id,
         (SELECT min(t.id) FROM domains t
           WHERE tern_domain_key(t.name) = tern_domain_key(d.name)) AS new_id
    FROM domains d;
UPDATE accounts SET domain_id = (SELECT new_id FROM domain_merge WHERE old_id = domain_id);
UPDATE aliases SET domain_id = (SELECT new_id FROM domain_merge WHERE old_id = domain_id);
DELETE FROM domains WHERE id IN (SELECT old_id FROM domain_merge WHERE old_id <> new_id);
UPDATE domains SET name = tern_domain_key(name);
DROP TABLE domain_merge;
"#;

/// `tern_domain_key(name)`: the canonical form of a stored domain name, for migrations. A
/// name that is no longer a valid domain is returned unchanged (it then matches nothing, and
/// `tern domain list` names it).
fn register_functions(conn: &Connection) -> StoreResult<()> {
    conn.create_scalar_function(
        "tern_domain_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let name: String = ctx.get(0)?;
            Ok(Domain::parse(&name).map_or(name, |d| d.as_str().to_string()))
        },
    )
    .map_err(sql_err)
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    // 8 MiB of page cache: the hot index pages of a busy store stay in memory. Statement
    // journals (one per savepoint, so one per operation in a group) stay in memory too.
    // page_size only takes effect on a new database (before WAL mode is set).
    conn.execute_batch("PRAGMA page_size=4096; PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;")
        .map_err(sql_err)?;
    // WAL lets readers (and the CLI) work while the writer commits. synchronous=FULL syncs the
    // WAL at every commit: an acknowledged write survives a crash or power loss.
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(sql_err)
}

/// WAL pages after which the writer checkpoints by itself: only reached when the checkpoint
/// thread falls behind (see `checkpoint.rs`). 20,000 pages is about 80 MiB.
const WRITER_CHECKPOINT_PAGES: u32 = 20_000;

/// Opens the writing connection and brings the schema up to date.
pub(crate) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    configure(&conn)?;
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}; PRAGMA journal_size_limit=67108864;"
    ))
    .map_err(sql_err)?;
    register_functions(&conn)?;
    migrate(&conn)?;
    Ok(conn)
}

pub(crate) fn open_checkpointer(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    configure(&conn)?;
    // Checkpointing copies pages from the WAL; a page cache would only hold copies.
    conn.execute_batch("PRAGMA cache_size=-256;")
        .map_err(sql_err)?;
    Ok(conn)
}

/// How a read connection reads its pages (`pool.rs` keeps both kinds).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReaderKind {
    /// Into its own page cache.
    Copied,
    /// Through a memory map: for reads of the content of many messages.
    Mapped,
}

pub(crate) fn open_reader(path: &Path, kind: ReaderKind) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    // The full-text index, as schema `text` (`SqliteStore::open` creates the file first), for
    // the readers that search; a mapped reader reads message content only and keeps three
    // descriptors fewer.
    if kind == ReaderKind::Copied {
        let text_db = text_db_path(path);
        conn.execute("ATTACH DATABASE ?1 AS text", [text_db.to_string_lossy()])
            .map_err(sql_err)?;
    }
    // Up to eight idle readers of each kind are kept open (`pool::MAX_IDLE`); 1 MiB of cache
    // each at most keeps the server small. A mapped reader reads `tern.db` through a memory
    // map of up to 256 MiB instead (see `pool.rs` for when, and why not always). Writes go
    // through the writer's own connection (no map).
    conn.execute_batch("PRAGMA cache_size=-1024;")
        .map_err(sql_err)?;
    if kind == ReaderKind::Mapped {
        conn.execute_batch("PRAGMA mmap_size=268435456;")
            .map_err(sql_err)?;
    }
    Ok(conn)
}

/// Brings the schema up to date in one write transaction, the version read inside it: a
/// server and a `tern` command starting together on a new store cannot both migrate.
fn migrate(conn: &Connection) -> StoreResult<()> {
    in_transaction(conn, || {
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql_err)?;
        if version > MIGRATIONS.len() {
            // An older tern on a store a newer one upgraded would write it without keeping
            // what the newer schema keeps (say, the expunge log's length).
            return Err(StoreError::Internal(format!(
                "the database schema is version {version}, newer than this tern knows ({}): \
                 run the tern that upgraded it",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(sql).map_err(|e| match sql_err(e) {
                StoreError::Internal(why) => StoreError::Internal(format!(
                    "upgrading the database schema to version {} failed (the store is \
                     unchanged; keep the previous tern until it is fixed): {why}",
                    i + 1
                )),
                other => other,
            })?;
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(sql_err)?;
        }
        Ok(())
    })
}
