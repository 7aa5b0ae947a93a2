//! One password login, the same for every protocol: the throttle decides whether this client
//! may try at all, the account is looked up, the password is checked at the same cost whether
//! or not the account exists, and the outcome goes back to the throttle. POP3, submission and
//! IMAP differ only in how they say the result.

use std::future::Future;
use std::net::IpAddr;
use std::time::Instant;

use crate::{LoginThrottle, Secret, Throttled, Verifier};

/// What a login attempt came to, besides success.
#[derive(Debug)]
pub enum LoginError<E> {
    /// Too many failures from this client or network: refused without checking the password.
    Throttled(Throttled),
    /// Unknown user or wrong password (deliberately not told apart), after the failure delay.
    Invalid,
    /// The account could not be looked up: a temporary failure, not counted against anyone.
    Lookup(E),
}

/// Shared by every listener of a server, so failures count across protocols.
#[derive(Debug)]
pub struct Authenticator {
    throttle: LoginThrottle,
    verifier: Verifier,
    /// An argon2id hash of a random password at the configured cost, verified in place of a
    /// real one when the account does not exist: a wrong user name costs what a wrong password
    /// costs, so timing does not tell which accounts exist.
    no_account_hash: String,
}

impl Authenticator {
    pub fn new(throttle: LoginThrottle, verifier: Verifier, no_account_hash: String) -> Self {
        Self {
            throttle,
            verifier,
            no_account_hash,
        }
    }

    /// Checks `password` for `username` from `ip`. `lookup` finds the account and its stored
    /// hash (`None` for no such account); it runs only when the throttle admits the attempt.
    pub async fn login<T, E, F>(
        &self,
        ip: IpAddr,
        username: &str,
        password: Secret,
        lookup: F,
    ) -> Result<T, LoginError<E>>
    where
        F: Future<Output = Result<Option<(T, String)>, E>>,
    {
        let attempt = self
            .throttle
            .admit(ip, username, Instant::now())
            .map_err(LoginError::Throttled)?;
        // Non-zero for an account under attack, when this client has not logged in to it.
        if !attempt.wait().is_zero() {
            tokio::time::sleep(attempt.wait()).await;
        }
        let account = match lookup.await {
            Ok(account) => account,
            Err(e) => {
                self.throttle.withdrawn(attempt);
                return Err(LoginError::Lookup(e));
            }
        };
        let (account, hash) = match account {
            Some((account, hash)) => (Some(account), hash),
            None => (None, self.no_account_hash.clone()),
        };
        let verified = self.verifier.verify(password, hash).await;
        match account {
            Some(account) if verified => {
                self.throttle.succeeded(attempt, Instant::now());
                Ok(account)
            }
            _ => {
                let wait = self.throttle.failed(attempt, Instant::now());
                tokio::time::sleep(wait).await;
                Err(LoginError::Invalid)
            }
        }
    }
}
