//! The data directory is private: `tern serve` creates it 0700 and will not serve from one
//! that other users can open. It holds password hashes and mail.
//!
//! Decision: a data directory that other users (the "other" class) can open in any way is
//! refused, with the fix in the message. A warning would go to a log that may never be read,
//! while the exposure is real from the first message stored; a refusal happens at start, when
//! someone is watching, and the fix is one command. Access by the directory's group is only
//! warned about: it can be deliberate (a backup or monitoring group) and reaches only the
//! members the administrator chose.
//!
//! Only the directory itself is checked: files inside cannot be reached through a directory
//! others cannot search, whatever their own mode (stores from older versions have 0644 files).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use tern_config::Config;

/// Permission bits of the "other" class, and of the group.
const OTHERS: u32 = 0o007;
const GROUP: u32 = 0o070;

/// Creates `data_dir` (and missing parents) 0700, or checks an existing one: refused when
/// other users can open it, a warning when its group can.
pub(crate) fn make_private(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| {
                    format!(
                        "cannot create data_dir {} ({})",
                        dir.display(),
                        config.source
                    )
                });
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot read data_dir {} ({})", dir.display(), config.source)
            })
        }
    };
    anyhow::ensure!(
        meta.is_dir(),
        "data_dir {} ({}) is not a directory",
        dir.display(),
        config.source
    );
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & OTHERS == 0,
        "data_dir {dir} ({source}) can be opened by other users (mode {mode:04o}), and it \
         holds password hashes and mail; make it private with `chmod 700 {dir}` and start \
         again",
        dir = dir.display(),
        source = config.source,
    );
    if mode & GROUP != 0 {
        tracing::warn!(
            data_dir = %dir.display(),
            "data_dir can be opened by its group (mode {mode:04o}), and it holds password \
             hashes and mail; unless that group should read them, run `chmod 700 {}`",
            dir.display()
        );
    }
    Ok(())
}

/// Creates (or truncates) a file in the data directory, 0600 when it is new.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}
