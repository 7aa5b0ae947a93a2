//! The SQLite backend against the conformance suite, plus what is particular to it.

mod conformance;
mod idn;
mod sqlite_specific;
mod temp_blobs;
