//! One file per command group; each adds methods to [`crate::session::Session`].

pub(crate) mod auth;
mod body;
mod ehlo;
mod mail;
mod rcpt;
mod starttls;
