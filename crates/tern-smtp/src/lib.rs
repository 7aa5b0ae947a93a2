//! Tern's SMTP server. This is the MX role: other servers deliver mail for local recipients;
//! nothing is relayed.
//!
//! Layers (see `docs/ARCHITECTURE.md`): `line.rs` and `data.rs` turn bytes into command lines
//! and message text, with smtp-proto parsing each command; `conn.rs` drives the connection
//! (reads, timeouts, pipelining, STARTTLS); `session.rs` and `cmd/` hold the state machine and
//! the policy and make the store calls. Replies are built in `reply.rs`.
//!
//! # Standards
//! - RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3030 (CHUNKING,
//!   BINARYMIME), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034 and RFC 3463
//!   (ENHANCEDSTATUSCODES), RFC 3207 (STARTTLS), RFC 3461 (DSN parameters, kept for the
//!   sending path)
//!
//! # Security
//! Everything here comes from the network. Command lines are capped (`max_command_line`), and
//! a bare CR or LF in a command or in DATA text is refused, so that no peer can make us see
//! a message boundary its next hop would not see (SMTP smuggling, CVE-2023-51764 family). BDAT
//! chunks are counted in octets, so they have no boundary to forge and are stored as sent
//! (BINARYMIME needs exactly that); whatever relays such a message later must send it with
//! CRLF line ends. Input pipelined after STARTTLS is discarded (CVE-2011-0411). Unadvertised
//! MAIL and RCPT parameters get 555. Message size, recipients, text line length, bad commands
//! (refused recipients included), idle time (for reads and writes), the time a whole message
//! transfer may take (`data_timeout`) and connections are all limited; see [`SmtpSettings`].

mod address;
mod cmd;
mod conn;
mod data;
#[doc(hidden)]
pub mod fuzzing;
mod header_filter;
mod line;
mod postmaster;
mod reply;
mod session;
mod submission;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tern_net::{ConnInfo, Refusal, Service, Shutdown, Stream, TlsAcceptor};
use tern_queue::QueueHandle;
use tern_store::{RecipientPolicy, Stores};
use tern_types::{Address, Domain};

pub use postmaster::{resolve_postmaster, PostmasterError};
pub use submission::SubmissionPolicy;

/// What the SMTP listener needs to know; built from the `[smtp]` configuration section.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub hostname: Domain,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_command_line: usize,
    pub max_text_line: usize,
    pub max_bad_commands: u32,
    pub idle_timeout: Duration,
    /// From the 354 (or the first BDAT) to the end of the message data.
    pub data_timeout: Duration,
    pub greeting_delay: Duration,
    pub over_quota_permanent: bool,
    pub recipients: RecipientPolicy,
    /// Where mail for `<Postmaster>` goes; `None`: postmaster@ the first local domain.
    pub postmaster: Option<Address>,
}

/// The SMTP service for one listener.
pub struct SmtpService {
    settings: Arc<SmtpSettings>,
    stores: Stores,
    queue: QueueHandle,
    tls: Option<TlsAcceptor>,
    /// Set for the submission listeners.
    submission: Option<Arc<SubmissionPolicy>>,
}

impl std::fmt::Debug for SmtpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SmtpService {
    /// `tls` enables STARTTLS.
    pub fn new(
        settings: SmtpSettings,
        stores: Stores,
        queue: QueueHandle,
        tls: Option<TlsAcceptor>,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            stores,
            queue,
            tls,
            submission: None,
        }
    }

    /// The service for a submission listener (RFC 6409): AUTH, then mail to anyone.
    pub fn submission(
        settings: SmtpSettings,
        stores: Stores,
        queue: QueueHandle,
        tls: Option<TlsAcceptor>,
        policy: Arc<SubmissionPolicy>,
    ) -> Self {
        Self {
            submission: Some(policy),
            ..Self::new(settings, stores, queue, tls)
        }
    }
}

#[async_trait]
impl Service for SmtpService {
    fn name(&self) -> &'static str {
        match self.submission {
            Some(_) => "submission",
            None => "smtp",
        }
    }

    async fn serve(&self, stream: Box<dyn Stream>, info: ConnInfo, shutdown: Shutdown) {
        let session = session::Session::new(
            self.settings.clone(),
            self.stores.clone(),
            self.queue.clone(),
            info,
            self.tls.is_some(),
            self.submission.clone(),
        );
        conn::run(stream, session, self.tls.clone(), shutdown).await;
    }

    fn refusal(&self, why: Refusal) -> String {
        conn::refusal_text(&self.settings, why)
    }
}
