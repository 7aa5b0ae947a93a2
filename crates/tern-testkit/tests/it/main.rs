//! Durability under SIGKILL, with the real store in a child process; the external-client
//! runner; the private Postfix instance for interop tests; the test DNS server, through the
//! queue's MX resolver.

mod clients;
mod crash;
mod dns;
mod mime_fuzz_seeds;
mod postfix;
