//! Tern's authentication: argon2id password hashing, SASL PLAIN, the failed-login throttle,
//! and a [`Secret`] that never prints.
//!
//! # Standards
//! - RFC 9106 (Argon2), stored as PHC strings (`$argon2id$v=19$m=...`)
//! - RFC 4616 (SASL PLAIN), RFC 4648 (base64)
//!
//! # Security
//! Verifies passwords that come from the network. Hashing cost is set by [`HashCost`]; the
//! defaults follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane). Test
//! configurations lower it to keep suites fast. A stored hash carries its own parameters, so
//! raising the cost later does not lock anyone out. SASL messages are capped in length and
//! decoded strictly. Failed logins are counted per client, per network and per account: past
//! a threshold a client or a network is refused without checking the password, and an
//! account is never refused, only slightly delayed for clients that have not logged in to it
//! (see `docs/login-throttle.md`).

mod login;
mod sasl;
mod throttle;
mod verifier;

pub use login::{Authenticator, LoginError};
pub use sasl::{decode_login_field, decode_plain, PlainCredentials, SaslError};
pub use throttle::{Attempt, LoginThrottle, ThrottleConfig, Throttled};
pub use verifier::Verifier;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A password or other credential. Its `Debug` prints nothing, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The argon2id cost of new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id and a fresh random salt, as a PHC string.
pub fn hash_password(password: &Secret, cost: HashCost) -> Result<String, AuthError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| AuthError::Params(e.to_string()))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash matches nothing.
/// Servers use [`Verifier`], which keeps its work area between calls.
pub fn verify_password(password: &Secret, stored: &str) -> bool {
    verifier::verify_with(password, stored, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password(&Secret::new("correct horse"), CHEAP).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify_password(&Secret::new("correct horse"), &hash));
        assert!(!verify_password(&Secret::new("Correct horse"), &hash));
        assert!(!verify_password(
            &Secret::new("correct horse"),
            "not a hash"
        ));
    }

    #[test]
    fn salts_differ_and_secrets_do_not_print() {
        let a = hash_password(&Secret::new("pw"), CHEAP).unwrap();
        let b = hash_password(&Secret::new("pw"), CHEAP).unwrap();
        assert_ne!(a, b);
        assert_eq!(format!("{:?}", Secret::new("pw")), "Secret(..)");
    }
}
