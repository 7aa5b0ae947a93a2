//! Mapping between SQLite values and errors and the store's types.

use rusqlite::ErrorCode;
use tern_store::StoreError;

/// Busy, locked, I/O and full-disk errors are temporary: the operation did not happen and can
/// be tried again. Everything else is a bug or a corrupt database.
pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::OutOfMemory,
        ) => StoreError::Temporary(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// Whether `e` is a UNIQUE or PRIMARY KEY violation: the thing inserted exists already. Other
/// constraint failures (foreign keys, NOT NULL) are not that and must not be reported so.
pub(crate) fn is_duplicate(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

pub(crate) fn io_err(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Temporary(format!("{what}: {e}"))
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `execute` and `query_row` through the connection's statement cache: the hot paths run the
/// same few statements thousands of times, and preparing one costs more than running it.
pub(crate) trait Cached {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for rusqlite::Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction on a connection of its own (outside the
/// writer's group commit: schema upgrades, the full-text index): committed when `f`
/// succeeds, rolled back when it fails.
pub(crate) fn in_transaction<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce() -> tern_store::StoreResult<T>,
) -> tern_store::StoreResult<T> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
    match f() {
        Ok(value) => {
            conn.execute_batch("COMMIT").map_err(sql_err)?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
