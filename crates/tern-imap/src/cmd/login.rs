//! LOGIN and AUTHENTICATE PLAIN (RFC 9051 §6.2.2, §6.2.3; RFC 4959 SASL-IR), through the shared
//! login throttle and password verifier (`tern_auth`).

use base64::Engine;
use tern_auth::{decode_plain, LoginError, Secret};
use tern_store::StoreError;

use crate::respond::tagged;
use crate::session::{store_failure, Next, Outcome, Piece, Session, State};

impl Session {
    pub(crate) async fn login(
        &mut self,
        out: &mut Vec<u8>,
        tag: &str,
        user: String,
        password: Secret,
    ) {
        if self.is_authenticated() {
            tagged(out, tag, "BAD", "Already logged in");
            return;
        }
        if !self.login_allowed() {
            // RFC 9051 §6.2.3 / §7.1: LOGINDISABLED; PRIVACYREQUIRED says why.
            tagged(
                out,
                tag,
                "NO",
                "[PRIVACYREQUIRED] Use STARTTLS or the IMAPS port first",
            );
            return;
        }
        let shared = self.shared.clone();
        let lookup = shared
            .stores
            .directory
            .login_account(&user, shared.settings.recipients);
        match shared
            .auth
            .login(self.info.peer.ip(), &user, password, lookup)
            .await
        {
            Ok(account) => {
                let max = shared.settings.max_sessions_per_user;
                let Some(slot) = shared.users.session(account.id, max) else {
                    tracing::info!(user = %account.address, "too many sessions");
                    // RFC 9051 §7.1 LIMIT.
                    return tagged(out, tag, "NO", "[LIMIT] Too many sessions for this account");
                };
                self.session_slot = Some(slot);
                tracing::info!(user = %account.address, "logged in");
                self.state = State::Authenticated(account);
                tagged(
                    out,
                    tag,
                    "OK",
                    &format!("[CAPABILITY {}] Logged in", self.capabilities()),
                );
            }
            Err(LoginError::Throttled(why)) => {
                tracing::info!(user = %user, "login refused: {why}");
                tagged(
                    out,
                    tag,
                    "NO",
                    "[UNAVAILABLE] Too many failed logins; try again later",
                );
            }
            Err(LoginError::Invalid) => {
                tracing::info!(user = %user, "login failed");
                tagged(
                    out,
                    tag,
                    "NO",
                    "[AUTHENTICATIONFAILED] Invalid user name or password",
                );
            }
            Err(LoginError::Lookup(e)) => {
                let e: StoreError = e;
                store_failure(out, tag, &e);
            }
        }
    }

    pub(crate) async fn authenticate_plain(
        &mut self,
        tag: &str,
        initial: Option<Vec<u8>>,
    ) -> Outcome {
        let mut out = Vec::new();
        if self.is_authenticated() {
            tagged(&mut out, tag, "BAD", "Already logged in");
            return Outcome::done(out);
        }
        if !self.login_allowed() {
            tagged(
                &mut out,
                tag,
                "NO",
                "[PRIVACYREQUIRED] Use STARTTLS or the IMAPS port first",
            );
            return Outcome::done(out);
        }
        match initial {
            Some(raw) => {
                self.sasl_plain(&mut out, tag, &raw).await;
                Outcome::done(out)
            }
            None => {
                out.extend_from_slice(b"+ \r\n");
                Outcome {
                    pieces: vec![Piece::Bytes(out)],
                    next: Next::AuthData(tag.to_string()),
                }
            }
        }
    }

    /// The client's line after `+` (already base64-decoded), or `None` for `*` (cancel).
    pub(crate) async fn auth_data(&mut self, tag: &str, data: Option<Vec<u8>>) -> Outcome {
        let mut out = Vec::new();
        match data {
            Some(raw) => self.sasl_plain(&mut out, tag, &raw).await,
            None => tagged(&mut out, tag, "BAD", "Authentication cancelled"),
        }
        Outcome::done(out)
    }

    pub(crate) async fn sasl_plain(&mut self, out: &mut Vec<u8>, tag: &str, raw: &[u8]) {
        // decode_plain takes the wire form; the codec has already decoded it.
        let text = base64::engine::general_purpose::STANDARD.encode(raw);
        match decode_plain(&text) {
            Ok(c) => self.login(out, tag, c.username, c.password).await,
            Err(e) => tagged(out, tag, "NO", &format!("[AUTHENTICATIONFAILED] {e}")),
        }
    }
}
