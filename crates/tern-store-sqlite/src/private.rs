//! Files and directories only the server's own user can open.
//!
//! The store holds password hashes and mail, so its directories are created 0700 and its
//! files 0600, whatever the process umask (a umask only ever removes bits, and these modes
//! have none of the bits a usual umask removes). `unsafe_code` is forbidden, so the umask
//! itself is never changed: each creation names its mode instead.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parent, each 0700. An existing directory is left as it is.
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Creates a new file 0600 for writing; fails if the name is taken.
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates `path` empty and 0600 unless it exists, so that SQLite opens a file with that
/// mode instead of creating one 0644. SQLite gives the database's `-wal` and `-shm` files
/// the mode of the database file, so they are 0600 too.
pub(crate) fn ensure_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}
