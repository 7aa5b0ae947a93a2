//! Durability under SIGKILL, with the real store in a child process.

mod crash;
