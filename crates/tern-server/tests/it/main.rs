//! The `tern` binary and the in-process server: CLI, configuration errors, listeners, TLS,
//! logs, the data-directory lock and recovery after SIGKILL.

mod alpn;
mod cli;
mod private;
mod sending;
mod serve;
