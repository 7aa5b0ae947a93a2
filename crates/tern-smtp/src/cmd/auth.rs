//! AUTH (RFC 4954) on the submission listeners: PLAIN (RFC 4616) and LOGIN, with an initial
//! response or after a 334 challenge.

use base64::Engine;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tern_auth::{decode_login_field, decode_plain, LoginError, SaslError, Secret};

use crate::reply::Reply;
use crate::session::{Outcome, Session};

/// Where a SASL exchange stands between the 334 challenge and the client's next line.
#[derive(Debug)]
pub(crate) enum SaslStep {
    /// PLAIN with an empty challenge.
    Plain,
    /// LOGIN: the user name is asked for.
    LoginUser,
    /// LOGIN: the password is asked for.
    LoginPassword(String),
}

fn challenge(text: &str) -> Reply {
    Reply::plain(
        334,
        vec![base64::engine::general_purpose::STANDARD.encode(text)],
    )
}

fn undecodable() -> Reply {
    Reply::new(501, "5.5.2", "Cannot decode the response")
}

impl Session {
    pub(crate) async fn auth(&mut self, mechanism: u64, initial: String) -> Outcome {
        if self.submission.is_none() {
            return Outcome::reply(Reply::new(
                503,
                "5.5.1",
                "AUTH is not available on this port; use the submission port",
            ));
        }
        if self.helo.as_ref().is_none_or(|h| !h.extended) {
            return Outcome::reply(Reply::new(503, "5.5.1", "Send EHLO first"));
        }
        // RFC 4954 §4: one successful AUTH per session, and none during a transaction.
        if self.user.is_some() {
            return Outcome::reply(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.tx.is_some() {
            return Outcome::reply(Reply::new(
                503,
                "5.5.1",
                "AUTH is not allowed during a mail transaction",
            ));
        }
        if !self.auth_allowed() {
            // RFC 4954 §4 and §6: 538 when the mechanism needs encryption first.
            return Outcome::reply(Reply::new(
                538,
                "5.7.11",
                "Encryption required: use STARTTLS first, or the submissions port",
            ));
        }
        // RFC 4954 §4: "=" is an empty initial response.
        let initial = match initial.as_str() {
            "" => None,
            "=" => Some(String::new()),
            _ => Some(initial),
        };
        match (mechanism, initial) {
            (AUTH_PLAIN, Some(response)) => self.sasl_plain(&response).await,
            (AUTH_PLAIN, None) => {
                self.sasl = Some(SaslStep::Plain);
                Outcome::reply(Reply::plain(334, vec![String::new()]))
            }
            (AUTH_LOGIN, Some(user)) => self.login_user(&user),
            (AUTH_LOGIN, None) => {
                self.sasl = Some(SaslStep::LoginUser);
                Outcome::reply(challenge("Username:"))
            }
            _ => Outcome::reply(Reply::new(
                504,
                "5.5.4",
                "Unrecognized authentication type; PLAIN and LOGIN are offered",
            )),
        }
    }

    /// The client's line after a 334 challenge.
    pub(crate) async fn sasl_response(&mut self, step: SaslStep, line: &[u8]) -> Outcome {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        // RFC 4954 §4: "*" cancels the exchange.
        if text == "*" {
            return Outcome::reply(Reply::new(501, "5.7.0", "Authentication cancelled"));
        }
        match step {
            SaslStep::Plain => self.sasl_plain(text).await,
            SaslStep::LoginUser => self.login_user(text),
            SaslStep::LoginPassword(user) => match decode_login_field(text) {
                Ok(password) => self.login(user, Secret::new(password)).await,
                Err(_) => Outcome::reply(undecodable()),
            },
        }
    }

    fn login_user(&mut self, response: &str) -> Outcome {
        match decode_login_field(response) {
            Ok(user) => {
                self.sasl = Some(SaslStep::LoginPassword(user));
                Outcome::reply(challenge("Password:"))
            }
            Err(_) => Outcome::reply(undecodable()),
        }
    }

    async fn sasl_plain(&mut self, response: &str) -> Outcome {
        match decode_plain(response) {
            Ok(credentials) => self.login(credentials.username, credentials.password).await,
            // RFC 4954 §6: acting as another identity is an authorization failure.
            Err(SaslError::Authzid) => Outcome::reply(Reply::new(
                535,
                "5.7.8",
                "Acting as another user is not supported",
            )),
            Err(_) => Outcome::reply(undecodable()),
        }
    }

    async fn login(&mut self, username: String, password: Secret) -> Outcome {
        let Some(policy) = self.submission.clone() else {
            return Outcome::reply(Reply::new(503, "5.5.1", "AUTH is not available"));
        };
        let lookup = self
            .stores
            .directory
            .login_account(&username, self.settings.recipients);
        match policy
            .auth
            .login(self.info.peer.ip(), &username, password, lookup)
            .await
        {
            Ok(account) => {
                tracing::info!(user = %account.address, "authenticated");
                self.user = Some(account);
                Outcome::reply(Reply::new(235, "2.7.0", "Authentication successful"))
            }
            Err(LoginError::Throttled(why)) => {
                tracing::info!(user = %username, "login refused: {why}");
                Outcome::reply(Reply::new(
                    454,
                    "4.7.0",
                    "Too many failed logins; try again later",
                ))
            }
            Err(LoginError::Invalid) => {
                tracing::info!(user = %username, "login failed");
                self.bad_command(Reply::new(
                    535,
                    "5.7.8",
                    "Authentication credentials invalid",
                ))
            }
            Err(LoginError::Lookup(e)) => {
                let e: tern_store::StoreError = e;
                Outcome::reply(self.store_failure(&e))
            }
        }
    }
}
