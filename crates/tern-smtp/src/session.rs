//! The SMTP session: its state, and the dispatch of each command to `cmd/`.

use std::sync::Arc;

use smtp_proto::{Error as ParseError, Request};
use tern_net::ConnInfo;
use tern_queue::QueueHandle;
use tern_store::{AccountAuth, BlobWriter, EnvelopeParams, Route, Stores};

use crate::cmd::auth::SaslStep;
use crate::data::Flaws;
use crate::header_filter::HeaderFilter;
use crate::reply::Reply;
use crate::submission::SubmissionPolicy;
use crate::SmtpSettings;

/// What the connection driver does after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// Message text follows, up to `<CRLF>.<CRLF>`.
    ReceiveData,
    /// `size` octets of message follow (RFC 3030).
    ReceiveBdat {
        size: usize,
        last: bool,
    },
    /// Discard buffered input and start the TLS handshake (RFC 3207 §4.2).
    StartTls,
    Close,
}

/// A reply (none for BDAT, which is answered after its chunk) and what comes next.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) reply: Option<Reply>,
    pub(crate) next: Next,
}

impl Outcome {
    pub(crate) fn reply(reply: Reply) -> Self {
        Self {
            reply: Some(reply),
            next: Next::Continue,
        }
    }

    pub(crate) fn then(reply: Reply, next: Next) -> Self {
        Self {
            reply: Some(reply),
            next,
        }
    }
}

/// The client's EHLO or HELO.
#[derive(Debug, Clone)]
pub(crate) struct Helo {
    pub(crate) name: String,
    /// EHLO (extensions allowed) rather than HELO.
    pub(crate) extended: bool,
}

/// A recipient accepted by RCPT: one local account, or (submission) a remote address.
#[derive(Debug, Clone)]
pub(crate) struct Recipient {
    pub(crate) address: String,
    pub(crate) route: Route,
    pub(crate) notify: Option<String>,
    pub(crate) orcpt: Option<String>,
}

/// One mail transaction, from MAIL to the end of the message.
pub(crate) struct Transaction {
    pub(crate) sender: String,
    pub(crate) params: EnvelopeParams,
    pub(crate) binary: bool,
    pub(crate) declared_size: u64,
    /// Every RCPT that was accepted, as given (for the log and the Received header).
    pub(crate) accepted: Vec<String>,
    /// Accepted recipients, one per account (an alias or two addresses of one account
    /// deliver once) or remote address.
    pub(crate) recipients: Vec<Recipient>,
    pub(crate) body: Option<Body>,
}

/// The message being received.
pub(crate) struct Body {
    /// `None` once the message is known to be refused (too big): the rest is only drained.
    pub(crate) writer: Option<Box<dyn BlobWriter>>,
    pub(crate) size: u64,
    pub(crate) oversize: bool,
    /// The store failed while receiving: the message gets a temporary failure.
    pub(crate) failed: bool,
    /// Whether this body came through BDAT (DATA and BDAT cannot mix, RFC 3030 §2).
    pub(crate) chunked: bool,
    pub(crate) flaws: Flaws,
    /// Counts Received fields; leaves out Bcc on submission.
    pub(crate) filter: HeaderFilter,
    /// What the filter kept of the last piece of text, reused between pieces.
    pub(crate) filtered: Vec<u8>,
}

pub(crate) struct Session {
    pub(crate) settings: Arc<SmtpSettings>,
    pub(crate) stores: Stores,
    pub(crate) queue: QueueHandle,
    pub(crate) info: ConnInfo,
    /// Whether STARTTLS can be offered (a certificate is configured).
    pub(crate) tls_available: bool,
    pub(crate) helo: Option<Helo>,
    pub(crate) tx: Option<Transaction>,
    /// The answer owed for a BDAT chunk that arrived when none was acceptable; given once the
    /// chunk has been read (its bytes must not be taken for commands).
    pub(crate) bdat_refusal: Option<Reply>,
    bad_commands: u32,
    /// Set on the submission listeners.
    pub(crate) submission: Option<Arc<SubmissionPolicy>>,
    /// The account that logged in with AUTH (submission).
    pub(crate) user: Option<AccountAuth>,
    /// A SASL exchange waiting for the client's next line.
    pub(crate) sasl: Option<SaslStep>,
}

impl Session {
    pub(crate) fn new(
        settings: Arc<SmtpSettings>,
        stores: Stores,
        queue: QueueHandle,
        info: ConnInfo,
        tls_available: bool,
        submission: Option<Arc<SubmissionPolicy>>,
    ) -> Self {
        Self {
            settings,
            stores,
            queue,
            info,
            tls_available,
            helo: None,
            tx: None,
            bdat_refusal: None,
            bad_commands: 0,
            submission,
            user: None,
            sasl: None,
        }
    }

    pub(crate) fn greeting(&self) -> Reply {
        // RFC 5321 §4.3.1; RFC 2034 §3: no enhanced code on the greeting.
        Reply::plain(220, vec![format!("{} ESMTP Tern", self.settings.hostname)])
    }

    /// A command line was malformed or unknown, or a recipient was refused. After
    /// `max_bad_commands` of them the session ends (like Postfix's smtpd_hard_error_limit), so
    /// that nobody can probe for addresses or garbage-feed the server without end.
    pub(crate) fn bad_command(&mut self, reply: Reply) -> Outcome {
        self.bad_commands += 1;
        if self.bad_commands >= self.settings.max_bad_commands {
            tracing::info!(count = self.bad_commands, "too many bad commands, closing");
            return Outcome::then(
                Reply::new(
                    421,
                    "4.7.0",
                    format!(
                        "{} Too many errors, closing connection",
                        self.settings.hostname
                    ),
                ),
                Next::Close,
            );
        }
        Outcome::reply(reply)
    }

    /// Handles one complete command line.
    pub(crate) async fn command(&mut self, line: &[u8]) -> Outcome {
        if let Some(step) = self.sasl.take() {
            return self.sasl_response(step, line).await;
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => return self.parse_error(e),
        };
        match request {
            Request::Ehlo { host } => self.ehlo(host, true),
            Request::Helo { host } => self.ehlo(host, false),
            Request::Lhlo { .. } => {
                Outcome::reply(Reply::new(502, "5.5.1", "LHLO is for LMTP; this is SMTP"))
            }
            // smtp-proto reads both `<>` and `<Postmaster>` as "": the raw line tells them apart.
            Request::Mail { from } => {
                let postmaster = from.address.is_empty() && path_is_postmaster(line);
                self.mail(from, postmaster).await
            }
            Request::Rcpt { to } if to.address.is_empty() && !path_is_postmaster(line) => {
                self.bad_command(Reply::new(501, "5.1.3", "The null path is not a recipient"))
            }
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await,
            Request::StartTls => self.starttls(),
            Request::Rset => {
                self.reset();
                Outcome::reply(Reply::new(250, "2.0.0", "Reset OK"))
            }
            Request::Noop { .. } => Outcome::reply(Reply::new(250, "2.0.0", "OK")),
            Request::Quit => Outcome::then(
                Reply::new(
                    221,
                    "2.0.0",
                    format!("{} closing connection", self.settings.hostname),
                ),
                Next::Close,
            ),
            Request::Help { .. } => Outcome::reply(Reply::new(
                214,
                "2.0.0",
                "Tern SMTP: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS (RFC 5321)",
            )),
            // RFC 5321 §3.5.3: 252 answers without confirming or denying an account.
            Request::Vrfy { .. } | Request::Expn { .. } => Outcome::reply(Reply::new(
                252,
                "2.5.2",
                "Cannot verify the user, but will accept the message and attempt delivery",
            )),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                Outcome::reply(Reply::new(502, "5.5.1", "Command not implemented"))
            }
        }
    }

    fn parse_error(&mut self, e: ParseError) -> Outcome {
        let reply = match e {
            ParseError::UnknownCommand => Reply::new(500, "5.5.2", "Command not recognized"),
            ParseError::InvalidSenderAddress => {
                Reply::new(501, "5.1.7", "Bad sender address syntax")
            }
            ParseError::InvalidRecipientAddress => {
                Reply::new(501, "5.1.3", "Bad recipient address syntax")
            }
            ParseError::SyntaxError { syntax } => {
                Reply::new(501, "5.5.4", format!("Syntax: {syntax}"))
            }
            ParseError::InvalidParameter { param } => {
                Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
            }
            ParseError::UnsupportedParameter { param } => {
                Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
            }
            ParseError::ResponseTooLong => Reply::new(500, "5.5.2", "Line too long"),
            ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
                Reply::new(500, "5.5.2", "Incomplete command")
            }
        };
        self.bad_command(reply)
    }

    /// Ends the transaction, dropping any message being received (its blob is never
    /// referenced, so it is collected).
    pub(crate) fn reset(&mut self) {
        self.tx = None;
        self.bdat_refusal = None;
    }

    /// Whether a message body has been started and not yet ended (between BDAT chunks too):
    /// the transfer the data timeout and the shutdown's grace period apply to.
    pub(crate) fn receiving_body(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| t.body.is_some())
    }

    /// After the TLS handshake the session starts over (RFC 3207 §4.2).
    pub(crate) fn tls_started(&mut self, description: String) {
        self.info.tls = Some(description);
        self.helo = None;
        self.sasl = None;
        // RFC 3207 §4.2: nothing learned before the handshake is kept, a login included.
        self.user = None;
        self.reset();
    }
}

/// Whether the path of a MAIL or RCPT line is `<Postmaster>` (RFC 5321 §4.1.1.3, any case).
/// The path is the line's first `<...>`: nothing before it can hold '<', while parameters
/// after it can (an ENVID or ORCPT value).
fn path_is_postmaster(line: &[u8]) -> bool {
    line.iter()
        .position(|&b| b == b'<')
        .and_then(|start| line.get(start..start.saturating_add(12)))
        .is_some_and(|path| path.eq_ignore_ascii_case(b"<postmaster>"))
}
