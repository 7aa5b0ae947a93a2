//! Commands beyond the session's core: mailbox management, and commands that change messages.

mod append;
mod mailboxes;
mod messages;
mod quota;
