//! Temporary blob files, `blobs/tmp/<random>`: where a large body is written before it is
//! renamed to its hash.
//!
//! A [`TempBlob`] owns its file from creation to rename. Every other way out (a failed write,
//! fsync or rename, a dropped writer) removes the file at once, so a full disk is not made
//! fuller by the attempts it refused. While it lives, its name is in the blob directory's set
//! of live temporary files, and the collector leaves it alone however old it is: a sender
//! trickling a large body for hours keeps its file.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;
use tern_store::StoreResult;

use crate::blobs::BlobDir;
use crate::convert::io_err;
use crate::private;

/// The names of the temporary files that live writers own. Kept under the blob names lock
/// (see `BlobDir::lock_names`), so the collector's look-up and removal cannot interleave with
/// a writer taking or giving up a name.
#[derive(Debug, Default)]
pub(crate) struct LiveTemps(HashSet<String>);

impl LiveTemps {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

#[derive(Debug)]
pub(crate) struct TempBlob {
    dir: BlobDir,
    name: String,
    path: PathBuf,
    file: File,
    /// Set once the file has its final name: nothing is left to remove.
    renamed: bool,
}

impl TempBlob {
    /// Takes a fresh name (registered as live before the file exists, so the collector never
    /// sees the file unowned) and creates the file 0600.
    pub(crate) fn create(dir: &BlobDir) -> StoreResult<Self> {
        let mut names = dir.lock_names();
        let name = loop {
            let name = format!("{:016x}", rand::thread_rng().gen::<u64>());
            if names.0.insert(name.clone()) {
                break name;
            }
        };
        let path = dir.tmp_dir().join(&name);
        match private::create_new_file(&path) {
            Ok(file) => Ok(Self {
                dir: dir.clone(),
                name,
                path,
                file,
                renamed: false,
            }),
            Err(e) => {
                names.0.remove(&name);
                Err(io_err(
                    &format!("cannot create the blob file {}", path.display()),
                    e,
                ))
            }
        }
    }

    pub(crate) fn write_all(&mut self, data: &[u8]) -> StoreResult<()> {
        self.file.write_all(data).map_err(|e| {
            io_err(
                &format!("cannot write the blob file {}", self.path.display()),
                e,
            )
        })
    }

    /// Makes the bytes durable, then gives the file its final name `target`. The directory
    /// that now holds it still has to be synced by the caller.
    pub(crate) fn persist(mut self, target: &Path) -> StoreResult<()> {
        self.file.sync_all().map_err(|e| {
            io_err(
                &format!("cannot fsync the blob file {}", self.path.display()),
                e,
            )
        })?;
        let renamed = {
            let mut names = self.dir.lock_names();
            let renamed = fs::rename(&self.path, target);
            if renamed.is_ok() {
                names.0.remove(&self.name);
            }
            renamed
        };
        // On an error the lock is released before `self` drops (and removes the file).
        renamed.map_err(|e| {
            io_err(
                &format!("cannot rename the blob file to {}", target.display()),
                e,
            )
        })?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if self.renamed {
            return;
        }
        // Removed before the name is given up: the collector can only ever find an owned
        // file or no file.
        if let Err(e) = fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot remove the temporary blob file {}: {e}",
                    self.path.display()
                );
            }
        }
        self.dir.lock_names().0.remove(&self.name);
    }
}
