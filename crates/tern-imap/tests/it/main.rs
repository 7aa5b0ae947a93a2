//! The IMAP listeners of this version against real clients (Python's imaplib) and raw
//! sockets for the protocol details and bad input.

mod clients;
mod mbsync;
mod raw;
