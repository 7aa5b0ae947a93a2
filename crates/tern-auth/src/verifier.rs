//! Password verification on one long-lived thread with a reused work area.
//!
//! Each argon2id verification needs its memory cost in RAM (19 MiB at the default). Allocated
//! afresh on whichever thread runs it, that memory stays with the allocator arena of that
//! thread: measured, a POP3 server grew by about 20 MiB per login. Here one thread owns one
//! buffer, grown to the largest cost seen and reused, so logins cost CPU but no lasting memory.
//! Logins are checked one at a time, which also caps the CPU that password guessing can take.

use std::sync::mpsc;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::Secret;

type Job = (Secret, String, oneshot::Sender<bool>);

/// Hands verifications to the verifier thread.
#[derive(Debug, Clone)]
pub struct Verifier {
    jobs: mpsc::Sender<Job>,
}

impl Verifier {
    /// Starts the verifier thread. It ends when the last `Verifier` clone is dropped.
    pub fn spawn() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tern-password-verifier".into())
            .spawn(move || {
                let mut memory: Vec<Block> = Vec::new();
                while let Ok((password, hash, reply)) = queue.recv() {
                    let _ = reply.send(verify_with(&password, &hash, &mut memory));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash matches nothing.
    pub async fn verify(&self, password: Secret, hash: String) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((password, hash, reply)).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

/// Recomputes the hash with the stored parameters and salt in `memory`, and compares it with
/// the stored output in constant time.
pub(crate) fn verify_with(password: &Secret, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let get = |name: &str| parsed.params.get_decimal(name);
    let (Some(m), Some(t), Some(p), Some(salt), Some(expected)) =
        (get("m"), get("t"), get("p"), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let Ok(params) = Params::new(m, t, p, Some(expected.len())) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if argon2
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut out,
            &mut memory[..params.block_count()],
        )
        .is_err()
    {
        return false;
    }
    out.iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hash_password, HashCost};

    #[test]
    fn agrees_with_the_argon2_crate() {
        let cost = HashCost {
            memory_kib: 256,
            iterations: 2,
            parallelism: 2,
        };
        let hash = hash_password(&Secret::new("right"), cost).unwrap();
        let mut memory = Vec::new();
        assert!(verify_with(&Secret::new("right"), &hash, &mut memory));
        assert!(!verify_with(&Secret::new("wrong"), &hash, &mut memory));
        assert!(!verify_with(
            &Secret::new("right"),
            "$argon2id$v=19$m=64,t=1,p=1$bad",
            &mut memory
        ));
        assert!(!verify_with(
            &Secret::new("right"),
            "plain text",
            &mut memory
        ));
        // The work area is kept for the next verification.
        assert_eq!(memory.len(), 256);
    }

    #[tokio::test]
    async fn verifies_on_its_thread() {
        let cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let hash = hash_password(&Secret::new("pw"), cost).unwrap();
        let verifier = Verifier::spawn().unwrap();
        assert!(verifier.verify(Secret::new("pw"), hash.clone()).await);
        assert!(!verifier.verify(Secret::new("nope"), hash).await);
    }
}
