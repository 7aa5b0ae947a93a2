//! Garbage collection of blobs: rows nothing references, files with no row, leftover
//! temporary files. This is what cleans up after a crash between writing a blob and
//! committing the metadata that would have referenced it.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use std::collections::HashSet;
use tern_store::StoreResult;
use tern_types::BlobHash;

use crate::blobs::blocking;
use crate::convert::sql_err;
use crate::temp_blob::LiveTemps;
use crate::SqliteStore;

/// What one collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub rows_removed: u64,
    pub files_removed: u64,
    pub temp_files_removed: u64,
}

pub(crate) async fn collect(store: &SqliteStore, grace: Duration) -> StoreResult<GcReport> {
    // While serving, no row can lose its last reference without being dropped in the same
    // transaction (`drop_unreferenced`), so the row pass (a scan inside the writer) only runs
    // at start-up, to repair what an older or damaged store left.
    let rows_removed = if !grace.is_zero() {
        0
    } else {
        store
        .inner
        .writer
        .write(|conn| {
            let n = conn
                .execute(
                    "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = blobs.id)
                       AND NOT EXISTS (SELECT 1 FROM queue_messages q WHERE q.blob_id = blobs.id)",
                    [],
                )
                .map_err(sql_err)?;
            Ok((n as u64, Vec::new()))
        })
        .await?
    };
    // The hashes of blobs stored as files; a file whose hash is not here is an orphan.
    let kept: HashSet<Vec<u8>> = store
        .inner
        .readers
        .read(|conn| {
            let mut stmt = conn
                .prepare("SELECT hash FROM blobs WHERE data IS NULL")
                .map_err(sql_err)?;
            let kept = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(sql_err)?
                .collect::<Result<_, _>>()
                .map_err(sql_err)?;
            Ok(kept)
        })
        .await?;
    let dir = store.inner.blobs.clone();
    let (files_removed, temp_files_removed) = blocking(move || {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // A temporary file a live writer owns is kept however old: its sender may be slow.
        let temp = remove_old_files(&dir, &dir.tmp_dir(), cutoff, |live, name| {
            Ok(!live.contains(name))
        })?;
        let mut files = 0;
        for byte in 0..=255u8 {
            files += remove_old_files(
                &dir,
                &dir.root().join(format!("{byte:02x}")),
                cutoff,
                |_, name| {
                    Ok(BlobHash::from_hex(name).is_none_or(|hash| !kept.contains(&hash.0[..])))
                },
            )?;
        }
        Ok((files, temp))
    })
    .await?;
    let report = GcReport {
        rows_removed,
        files_removed,
        temp_files_removed,
    };
    if report != GcReport::default() {
        tracing::info!(
            rows = report.rows_removed,
            files = report.files_removed,
            temp_files = report.temp_files_removed,
            "removed unreferenced blobs"
        );
    }
    Ok(report)
}

/// Removes files in `dir` last modified before `cutoff` for which `doomed` says yes, given
/// the live writers' temporary files and the file's name. The decision and the removal happen
/// under the blob names lock (see `BlobDir::names`).
fn remove_old_files(
    blobs: &crate::blobs::BlobDir,
    dir: &Path,
    cutoff: SystemTime,
    mut doomed: impl FnMut(&LiveTemps, &str) -> StoreResult<bool>,
) -> StoreResult<u64> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let live = blobs.lock_names();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.modified().map_or(true, |m| m > cutoff) {
            continue;
        }
        let name = entry.file_name();
        if doomed(&live, &name.to_string_lossy())? && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
