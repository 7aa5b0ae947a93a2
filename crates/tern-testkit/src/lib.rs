//! Test-only helpers: a whole Tern server on ephemeral ports with a temporary data directory,
//! in-process ([`TestServer`]) or as a child process ([`ChildServer`]), and the store load
//! tool used by the crash test and the benchmark.
//!
//! # Standards
//! None.
//!
//! # Security
//! Test code: binds only 127.0.0.1, port 0.

mod child;
mod server;

pub use child::{tern_binary, ChildServer};
pub use server::{TestServer, TEST_PASSWORD};

use std::path::{Path, PathBuf};

/// A configuration for tests: every protocol on 127.0.0.1 port 0, cheap password hashing,
/// data in `data/` next to the file. Returns the file's path.
pub fn write_test_config(dir: &Path, extra: &str) -> PathBuf {
    let listen: String = tern_config::Protocol::ALL
        .iter()
        .map(|p| format!("{} = [\"127.0.0.1:0\"]\n", p.key()))
        .collect();
    let text = format!(
        "hostname = \"mx.test\"\ndata_dir = \"data\"\nlog_level = \"info\"\n{extra}\n[listen]\n{listen}\n\
         [auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\nargon2_parallelism = 1\n"
    );
    let path = dir.join("tern.toml");
    std::fs::write(&path, text).expect("write test config");
    path
}
