//! The commands, grouped by what they work on (DESIGN: `cmd/<command>.rs`): login, mailboxes
//! (CREATE to LIST and STATUS), SELECT and the updates of a selected mailbox, FETCH, SEARCH with
//! SORT and THREAD, the commands that change messages, APPEND and QUOTA. `session.rs` keeps the
//! state and the dispatch.

mod append;
pub(crate) mod fetch;
mod login;
mod mailboxes;
mod messages;
mod quota;
mod search;
mod select;
