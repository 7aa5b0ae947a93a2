//! The IMAP listeners of this version against real clients (Python's imaplib, mbsync,
//! offlineimap, the async-imap crate) and raw sockets for the protocol details and bad input.

mod async_imap;
mod clients;
mod compliance;
mod extended;
mod mbsync;
mod offline_sync;
mod offlineimap;
mod qresync;
mod raw;
mod rev2;

use tern_config::Protocol;
use tern_testkit::TestServer;

/// Delivers `messages` from carol to alice over SMTP and returns alice's INBOX once they are
/// all in it (trace headers included, in UID order).
async fn deliver_to_alice(server: &TestServer, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    tern_testkit::smtp_client::deliver(
        server.addr(Protocol::Smtp),
        "carol@remote.example",
        &["alice@example.test"],
        messages,
    )
    .await;
    server.inbox("alice@example.test", messages.len()).await
}
