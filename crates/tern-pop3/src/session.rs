//! The POP3 session: AUTHORIZATION, TRANSACTION and UPDATE (RFC 1939 §3).

use std::sync::Arc;

use tern_auth::{decode_plain, LoginError, Secret};
use tern_net::ConnInfo;
use tern_store::StoreError;
use tern_types::{MailboxId, Uid};

use crate::maildrop::Maildrop;
use crate::proto::{parse, Command, ParseError};
use crate::retr::MessageStream;
use crate::Pop3Shared;

/// What the connection driver does after sending a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// The next line is a SASL response (after "+ ").
    SaslResponse,
    /// Discard buffered input, then the TLS handshake (RFC 2595 §4).
    StartTls,
    Close,
}

#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) bytes: Vec<u8>,
    /// A message to stream after `bytes` (RETR, TOP), with its terminating "." line.
    pub(crate) body: Option<MessageStream>,
    pub(crate) next: Next,
}

impl Response {
    fn ok(text: impl AsRef<str>) -> Self {
        Self::line("+OK", text.as_ref(), Next::Continue)
    }

    fn err(text: impl AsRef<str>) -> Self {
        Self::line("-ERR", text.as_ref(), Next::Continue)
    }

    pub(crate) fn line(status: &str, text: &str, next: Next) -> Self {
        Self {
            bytes: format!("{status} {text}\r\n").into_bytes(),
            body: None,
            next,
        }
    }

    /// "+OK text", then `body` lines, then the terminating ".".
    fn multi(text: &str, body: Vec<u8>) -> Self {
        let mut bytes = format!("+OK {text}\r\n").into_bytes();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b".\r\n");
        Self {
            bytes,
            body: None,
            next: Next::Continue,
        }
    }
}

enum State {
    Authorization { user: Option<String> },
    Transaction(Box<Maildrop>),
}

pub(crate) struct Session {
    shared: Arc<Pop3Shared>,
    info: ConnInfo,
    state: State,
}

impl Session {
    pub(crate) fn new(shared: Arc<Pop3Shared>, info: ConnInfo) -> Self {
        Self {
            shared,
            info,
            state: State::Authorization { user: None },
        }
    }

    pub(crate) fn greeting(&self) -> Response {
        Response::ok(format!(
            "{} Tern POP3 server ready",
            self.shared.settings.hostname
        ))
    }

    fn tls_active(&self) -> bool {
        self.info.tls.is_some()
    }

    /// Whether a password may be sent now (RFC 2595 §2: not in the clear unless allowed).
    fn login_allowed(&self) -> bool {
        self.tls_active()
            || self
                .shared
                .settings
                .plaintext
                .allows(self.info.is_loopback())
    }

    pub(crate) fn tls_started(&mut self, description: String) {
        self.info.tls = Some(description);
        // RFC 2595 §4: a USER given before the handshake is forgotten.
        self.state = State::Authorization { user: None };
    }

    pub(crate) async fn command(&mut self, line: &str) -> Response {
        let command = match parse(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => return Response::err("Unknown command"),
            Err(ParseError::Syntax(usage)) => return Response::err(format!("Syntax: {usage}")),
        };
        match command {
            Command::Capa => return self.capa(),
            Command::Quit => return self.quit().await,
            Command::Apop => {
                return Response::err("APOP is not supported; use USER/PASS or AUTH PLAIN over TLS")
            }
            _ => {}
        }
        let shared = self.shared.clone();
        match &mut self.state {
            State::Transaction(drop) => transaction(&shared, drop, command).await,
            State::Authorization { user } => match command {
                Command::Stls => self.stls(),
                Command::User(name) => self.user(name),
                Command::Pass(password) => {
                    let name = user.take();
                    self.pass(name, password).await
                }
                Command::Auth { mechanism, initial } => self.auth(&mechanism, initial).await,
                _ => Response::err("Not logged in; use USER/PASS or AUTH first"),
            },
        }
    }

    fn capa(&self) -> Response {
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if self.login_allowed() {
            lines.push("USER");
            lines.push("SASL PLAIN");
        }
        if !self.tls_active() && matches!(self.state, State::Authorization { .. }) {
            lines.push("STLS");
        }
        lines.push("IMPLEMENTATION Tern");
        let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        Response::multi("Capability list follows", body.into_bytes())
    }

    fn stls(&mut self) -> Response {
        if self.tls_active() {
            return Response::err("TLS is already active");
        }
        Response::line("+OK", "Begin TLS negotiation", Next::StartTls)
    }

    fn refuse_plaintext() -> Response {
        Response::err("[AUTH] Passwords are not accepted on an unencrypted connection; use STLS first or the POP3S port")
    }

    fn user(&mut self, name: String) -> Response {
        if !self.login_allowed() {
            return Self::refuse_plaintext();
        }
        self.state = State::Authorization { user: Some(name) };
        Response::ok("Send PASS")
    }

    async fn pass(&mut self, user: Option<String>, password: Secret) -> Response {
        if !self.login_allowed() {
            return Self::refuse_plaintext();
        }
        match user {
            Some(user) => self.login(user, password).await,
            None => Response::err("Send USER first"),
        }
    }

    /// RFC 5034 AUTH; PLAIN only (RFC 4616).
    async fn auth(&mut self, mechanism: &str, initial: Option<String>) -> Response {
        if mechanism.is_empty() {
            return Response::multi("Mechanisms follow", b"PLAIN\r\n".to_vec());
        }
        if mechanism != "PLAIN" {
            return Response::err("Unsupported authentication mechanism; PLAIN is supported");
        }
        if !self.login_allowed() {
            return Self::refuse_plaintext();
        }
        match initial {
            // RFC 5034 §4: "=" is an empty initial response.
            Some(response) if response != "=" => self.sasl_plain(&response).await,
            _ => Response::line("+", "", Next::SaslResponse),
        }
    }

    /// The client's answer to "+ ".
    pub(crate) async fn sasl_response(&mut self, line: &str) -> Response {
        if line == "*" {
            return Response::err("Authentication cancelled");
        }
        self.sasl_plain(line).await
    }

    async fn sasl_plain(&mut self, response: &str) -> Response {
        match decode_plain(response) {
            Ok(credentials) => self.login(credentials.username, credentials.password).await,
            Err(e) => Response::err(format!("[AUTH] {e}")),
        }
    }

    async fn login(&mut self, username: String, password: Secret) -> Response {
        let shared = self.shared.clone();
        let lookup = shared
            .stores
            .directory
            .login_account(&username, shared.settings.recipients);
        let account = match shared
            .auth
            .login(self.info.peer.ip(), &username, password, lookup)
            .await
        {
            Ok(account) => account,
            Err(LoginError::Throttled(why)) => {
                tracing::info!(user = %username, "login refused: {why}");
                return Response::err("[SYS/TEMP] Too many failed logins; try again later");
            }
            Err(LoginError::Invalid) => {
                tracing::info!(user = %username, "login failed");
                return Response::err("[AUTH] Invalid user name or password");
            }
            Err(LoginError::Lookup(e)) => {
                let e: StoreError = e;
                tracing::error!("store failure at login: {e}");
                return Response::err("[SYS/TEMP] Temporary server failure, try again later");
            }
        };
        let Some(lock) = shared.locks.try_lock(account.id) else {
            tracing::info!(user = %account.address, "maildrop in use");
            return Response::err("[IN-USE] The maildrop is in use by another session");
        };
        match Maildrop::open(&shared.stores, account.id, lock).await {
            Ok(maildrop) => {
                let (count, size) = maildrop.totals();
                tracing::info!(user = %account.address, messages = count, "logged in");
                self.state = State::Transaction(Box::new(maildrop));
                Response::ok(format!("Logged in, {count} messages ({size} octets)"))
            }
            Err(e) => {
                tracing::error!("cannot open the maildrop: {e}");
                Response::err("[SYS/TEMP] Temporary server failure, try again later")
            }
        }
    }

    /// QUIT: in TRANSACTION, the UPDATE state removes the messages marked deleted, in one
    /// durable store operation (RFC 1939 §6).
    async fn quit(&mut self) -> Response {
        let hostname = self.shared.settings.hostname.clone();
        // The maildrop (and its lock) leaves the session here and is dropped before the
        // answer is sent: a client that logs in again right after QUIT must not find it
        // still locked.
        let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
        let State::Transaction(drop) = state else {
            return Response::line("+OK", &format!("{hostname} signing off"), Next::Close);
        };
        let doomed: Vec<Uid> = drop
            .entries
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect();
        if doomed.is_empty() {
            return Response::line("+OK", &format!("{hostname} signing off"), Next::Close);
        }
        match self
            .shared
            .stores
            .mailboxes
            .expunge(drop.mailbox, &doomed)
            .await
        {
            Ok(removed) => {
                tracing::info!(deleted = removed.len(), "maildrop updated");
                Response::line(
                    "+OK",
                    &format!(
                        "{hostname} signing off ({} messages deleted)",
                        removed.len()
                    ),
                    Next::Close,
                )
            }
            Err(e) => {
                tracing::error!("cannot delete messages: {e}");
                Response::line(
                    "-ERR",
                    "[SYS/TEMP] Some deleted messages were not removed",
                    Next::Close,
                )
            }
        }
    }
}

/// A command in the TRANSACTION state (RFC 1939 §5).
async fn transaction(shared: &Pop3Shared, drop: &mut Maildrop, command: Command) -> Response {
    let no_such = |n: u32| Response::err(format!("No message {n}"));
    match command {
        Command::Stat => {
            let (count, size) = drop.totals();
            Response::ok(format!("{count} {size}"))
        }
        Command::List(Some(n)) => match drop.get(n) {
            Some(e) => Response::ok(format!("{n} {}", e.size)),
            None => no_such(n),
        },
        Command::List(None) => {
            let (count, size) = drop.totals();
            let body: String = listing(drop, |_, e| e.size.to_string());
            Response::multi(
                &format!("{count} messages ({size} octets)"),
                body.into_bytes(),
            )
        }
        Command::Uidl(Some(n)) => match drop.get(n) {
            Some(e) => Response::ok(format!("{n} {}", drop.unique_id(e))),
            None => no_such(n),
        },
        Command::Uidl(None) => {
            let body = listing(drop, |d, e| d.unique_id(e));
            Response::multi("Unique ids follow", body.into_bytes())
        }
        Command::Retr(n) => match drop.get(n) {
            Some(e) => send_message(shared, drop.mailbox, n, e.uid, e.size, None).await,
            None => no_such(n),
        },
        Command::Top { message, lines } => match drop.get(message) {
            Some(e) => {
                send_message(shared, drop.mailbox, message, e.uid, e.size, Some(lines)).await
            }
            None => no_such(message),
        },
        Command::Dele(n) => match drop.get_mut(n) {
            Some(e) => {
                e.deleted = true;
                Response::ok(format!("Message {n} deleted"))
            }
            None => Response::err(format!("No message {n}, or already deleted")),
        },
        Command::Rset => {
            drop.entries.iter_mut().for_each(|e| e.deleted = false);
            let (count, size) = drop.totals();
            Response::ok(format!("{count} messages ({size} octets)"))
        }
        Command::Noop => Response::ok("OK"),
        Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Stls => {
            Response::err("Already logged in")
        }
        Command::Capa | Command::Quit | Command::Apop => Response::err("Not allowed now"),
    }
}

/// RETR (whole message) or TOP (`body_lines` of the body): the status line now, the message
/// streamed after it by the connection driver.
async fn send_message(
    shared: &Pop3Shared,
    mailbox: MailboxId,
    n: u32,
    uid: Uid,
    size: u64,
    body_lines: Option<u32>,
) -> Response {
    match shared.stores.mailboxes.open_message(mailbox, uid).await {
        Ok(reader) => {
            let text = match body_lines {
                None => format!("{size} octets"),
                Some(_) => format!("Top of message {n} follows"),
            };
            Response {
                bytes: format!("+OK {text}\r\n").into_bytes(),
                body: Some(MessageStream::new(reader, body_lines)),
                next: Next::Continue,
            }
        }
        Err(e) => {
            tracing::error!("cannot read message {n}: {e}");
            Response::err("[SYS/TEMP] Cannot read the message now")
        }
    }
}

/// "n value" lines for every message not marked deleted.
fn listing(
    drop: &Maildrop,
    value: impl Fn(&Maildrop, &crate::maildrop::Entry) -> String,
) -> String {
    drop.entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.deleted)
        .map(|(i, e)| format!("{} {}\r\n", i + 1, value(drop, e)))
        .collect()
}
