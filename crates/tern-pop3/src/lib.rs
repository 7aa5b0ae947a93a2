//! Tern's POP3 server: the account's INBOX as a maildrop, downloaded and usually deleted.
//!
//! `proto.rs` parses command lines (our own small parser: no maintained crate does POP3);
//! `conn.rs` drives the connection (reads, idle timeout, STLS, SASL continuations);
//! `session.rs` holds the states of RFC 1939 §3 and makes the store calls; `maildrop.rs` is
//! the snapshot a session works on and the exclusive lock on it; `retr.rs` streams RETR and
//! TOP answers from the store.
//!
//! # Standards
//! - RFC 1939 (POP3), RFC 2449 (CAPA, response codes, PIPELINING), RFC 2595 (STLS),
//!   RFC 3206 (SYS and AUTH response codes), RFC 5034 (SASL AUTH), RFC 4616 (PLAIN),
//!   RFC 8314 (implicit TLS on pop3s)
//!
//! # Security
//! Everything here comes from the network. Command lines are capped (`max_command_line`)
//! and must arrive within `command_timeout` of their first byte,
//! unknown or malformed commands get `-ERR` and change nothing, passwords are refused on
//! unencrypted connections except as `auth.plaintext_without_tls` allows, failed logins are
//! delayed and throttled per client and per network (never refused per account: see
//! docs/login-throttle.md), and deletions happen only at QUIT.

mod conn;
#[doc(hidden)]
pub mod fuzzing;
mod maildrop;
mod proto;
mod retr;
mod session;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tern_auth::Authenticator;
use tern_config::PlaintextAuth;
use tern_net::{ConnInfo, Refusal, Service, Shutdown, Stream, TlsAcceptor};
use tern_store::{RecipientPolicy, Stores};

pub use maildrop::MaildropLocks;

/// What the POP3 listeners need to know, from the configuration.
#[derive(Debug, Clone)]
pub struct Pop3Settings {
    pub hostname: String,
    pub idle_timeout: Duration,
    pub max_command_line: usize,
    /// From the first byte of a command line (or SASL response) to its end.
    pub command_timeout: Duration,
    /// When USER/PASS and AUTH are allowed without TLS (decided per connection from the
    /// peer's address).
    pub plaintext: PlaintextAuth,
    /// How login names are matched to accounts.
    pub recipients: RecipientPolicy,
}

/// Shared by the pop3 and pop3s listeners of one server.
pub struct Pop3Shared {
    pub settings: Pop3Settings,
    pub stores: Stores,
    /// Password checks and the failed-login throttle, shared with the other listeners.
    pub auth: Arc<Authenticator>,
    pub locks: Arc<MaildropLocks>,
    /// For STLS.
    pub tls: TlsAcceptor,
}

impl std::fmt::Debug for Pop3Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// One POP3 listener.
#[derive(Debug)]
pub struct Pop3Service {
    shared: Arc<Pop3Shared>,
    name: &'static str,
}

impl Pop3Service {
    /// `implicit_tls` for pop3s, whose connections arrive already inside TLS.
    pub fn new(shared: Arc<Pop3Shared>, implicit_tls: bool) -> Self {
        Self {
            shared,
            name: if implicit_tls { "pop3s" } else { "pop3" },
        }
    }
}

#[async_trait]
impl Service for Pop3Service {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn serve(&self, stream: Box<dyn Stream>, info: ConnInfo, shutdown: Shutdown) {
        conn::run(stream, info, self.shared.clone(), shutdown).await;
    }

    /// RFC 3206 §4: SYS/TEMP, a temporary problem on the server's side.
    fn refusal(&self, _why: Refusal) -> String {
        "-ERR [SYS/TEMP] Too many connections, try again later\r\n".into()
    }
}
