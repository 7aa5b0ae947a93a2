//! Durability under SIGKILL, with the real store in a child process; the external-client
//! runner.

mod clients;
mod crash;
mod mime_fuzz_seeds;
