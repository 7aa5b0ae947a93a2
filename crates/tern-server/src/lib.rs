//! The `tern` binary as a library: command line, configuration, stores, listeners, services.
//!
//! `main.rs` only parses arguments and calls [`cli::run`]; tests start servers in-process
//! with [`serve::start`].
//!
//! # Standards
//! None directly: this crate wires the protocol crates together.
//!
//! # Security
//! Reads the configuration file and passwords (from a terminal prompt or standard input,
//! never from the command line). Holds an exclusive lock on the data directory while serving,
//! so two servers can never write the same store. The data directory holds password hashes and
//! mail: `tern serve` creates it 0700 and refuses one that other users can open.

pub mod admin;
pub mod cli;
mod data_dir;
pub mod logging;
pub mod serve;
