//! Tern's IMAP server (issue 8), being built. This version: the session states, CAPABILITY,
//! NOOP, LOGOUT, STARTTLS, LOGIN and AUTHENTICATE PLAIN (SASL-IR), LIST, LSUB, SELECT/EXAMINE,
//! STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, APPEND, FETCH of flags, UID, size,
//! internal date, ENVELOPE, BODY/BODYSTRUCTURE and whole messages, STORE, EXPUNGE, COPY, MOVE
//! (and the UID forms, UIDPLUS codes), CLOSE, UNSELECT, CHECK. Other commands are answered
//! `NO [CANNOT]` until they are built.
//!
//! Layers: `conn.rs` (bytes, literals, TLS, timeouts) parses with imap-codec and hands a
//! [`request::Request`] to `session.rs` (state and store calls), whose answers `respond.rs`
//! writes; message bodies are streamed from the store.
//!
//! # Standards
//! - RFC 3501 (IMAP4rev1), RFC 9051 §5.1 (mailbox naming), §5.4 (autologout), §6 (commands)
//! - RFC 3501 §5.1.3 (modified UTF-7), RFC 4959 (SASL-IR), RFC 7888 (LITERAL+), RFC 3691
//!   (UNSELECT), RFC 4315 (UIDPLUS), RFC 6851 (MOVE), RFC 7889 (APPENDLIMIT), RFC 4616
//!   (PLAIN), RFC 8314 (implicit TLS)
//!
//! # Security
//! Names and commands come from clients: literals are refused before they are read past a
//! small limit before login ([`ImapSettings::max_prelogin_literal`]) and a command limit
//! after; passwords only over TLS unless allowed; logins go through the shared throttle;
//! input pipelined before a TLS handshake is dropped; mailbox names are decoded strictly.

mod cmd;
mod compress;
mod conn;
mod extended;
mod list;
pub mod names;
mod placeholder;
mod request;
mod respond;
mod search;
mod section;
mod session;
mod sort;
mod thread;
mod users;
mod vanished;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tern_auth::Authenticator;
use tern_config::PlaintextAuth;
use tern_net::{ConnInfo, Refusal, Service, Shutdown, Stream, TlsAcceptor};
use tern_store::{RecipientPolicy, Stores};

/// The IMAP listeners' settings.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub hostname: String,
    /// RFC 9051 §5.4: at least 30 minutes of inactivity after login.
    pub idle_timeout: Duration,
    /// Before login.
    pub prelogin_timeout: Duration,
    /// Largest literal before login.
    pub max_prelogin_literal: u64,
    /// Largest command after login, literals included (APPEND aside).
    pub max_command_size: u32,
    /// Largest message APPEND takes (RFC 7889 APPENDLIMIT).
    pub append_limit: u32,
    /// Logged-in sessions of one account at once.
    pub max_sessions_per_user: usize,
    /// IDLE commands of one account at once.
    pub max_idle_per_user: usize,
    /// How deep parentheses may nest in a command (SEARCH groups, lists).
    pub max_nesting: usize,
    /// Keywords a mailbox may hold, and one message at most.
    pub max_keywords: usize,
    pub plaintext: PlaintextAuth,
    pub recipients: RecipientPolicy,
}

/// Shared by the imap and imaps listeners.
pub struct ImapShared {
    pub settings: ImapSettings,
    pub stores: Stores,
    pub auth: Arc<Authenticator>,
    /// For STARTTLS.
    pub tls: TlsAcceptor,
    users: users::UserSessions,
}

impl ImapShared {
    pub fn new(
        settings: ImapSettings,
        stores: Stores,
        auth: Arc<Authenticator>,
        tls: TlsAcceptor,
    ) -> Self {
        Self {
            settings,
            stores,
            auth,
            tls,
            users: users::UserSessions::default(),
        }
    }
}

impl std::fmt::Debug for ImapShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapShared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The service of one IMAP listener.
#[derive(Debug)]
pub struct ImapService {
    shared: Arc<ImapShared>,
    implicit_tls: bool,
}

impl ImapService {
    pub fn new(shared: Arc<ImapShared>, implicit_tls: bool) -> Self {
        Self {
            shared,
            implicit_tls,
        }
    }
}

#[async_trait]
impl Service for ImapService {
    fn name(&self) -> &'static str {
        if self.implicit_tls {
            "imaps"
        } else {
            "imap"
        }
    }

    async fn serve(&self, stream: Box<dyn Stream>, info: ConnInfo, shutdown: Shutdown) {
        conn::run(stream, info, self.shared.clone(), shutdown).await;
    }

    /// A literal and the CRLF after it often come in two writes (Python's imaplib): they must
    /// not wait for a delayed acknowledgement between them.
    fn quick_ack(&self) -> bool {
        true
    }

    fn refusal(&self, why: Refusal) -> String {
        let text = match why {
            Refusal::TooManyConnections => "Too many connections, try again later",
            Refusal::TooManyFromAddress => "Too many connections from your address",
        };
        format!("* BYE [UNAVAILABLE] {text}\r\n")
    }
}
