//! DKIM (RFC 6376; Ed25519 by RFC 8463) for mail that leaves: key pairs, the DNS record to
//! publish, and signing, on mail-auth. A domain's keys are files under
//! `<data_dir>/dkim/<domain>/<selector>.<ed25519|rsa>` (private key DER: PKCS#8 for Ed25519,
//! PKCS#1 for RSA), made by `tern dkim generate`; every domain with a key signs with all of
//! them (an Ed25519 and an RSA signature: receivers that do not know Ed25519 check the RSA one,
//! RFC 8463 §4).

use std::path::{Path, PathBuf};

use base64::Engine;
use mail_auth::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use mail_auth::headers::HeaderWriter;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};

/// RSA keys: RFC 8301 §3.2 asks for at least 1024 bits and recommends 2048.
const RSA_BITS: usize = 2048;

/// Header fields signed (RFC 6376 §5.4.1's recommendations); a field absent from the message
/// is signed as absent, so it cannot be added later.
const SIGNED_FIELDS: [&str; 11] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
    "In-Reply-To",
    "References",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    Rsa,
}

impl Algorithm {
    /// The key file's extension and the record's `k=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa => "rsa",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("DKIM key generation failed: {0}")]
    Generate(String),
    #[error("{path}: {why}")]
    KeyFile { path: PathBuf, why: String },
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

/// A new key pair: the private key to store, and the TXT record value to publish.
#[derive(Debug)]
pub struct NewKey {
    pub private_der: Vec<u8>,
    pub record: String,
}

/// Generates a key pair for `algorithm`.
pub fn generate(algorithm: Algorithm) -> Result<NewKey, DkimError> {
    let pair = match algorithm {
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
        Algorithm::Rsa => DkimKeyPair::generate_rsa(RSA_BITS),
    }
    .map_err(|e| DkimError::Generate(e.to_string()))?;
    let public = match algorithm {
        Algorithm::Ed25519 => pair.public_key().to_vec(),
        // Publish SubjectPublicKeyInfo, as OpenDKIM and most verifiers expect.
        Algorithm::Rsa => spki_from_pkcs1(pair.public_key()),
    };
    let (private_der, _) = pair.into_inner();
    Ok(NewKey {
        private_der,
        record: format!(
            "v=DKIM1; k={}; p={}",
            algorithm.name(),
            base64::engine::general_purpose::STANDARD.encode(public)
        ),
    })
}

/// DER length octets.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

/// Wraps a PKCS#1 RSAPublicKey in SubjectPublicKeyInfo (RFC 5280 §4.1,
/// rsaEncryption 1.2.840.113549.1.1.1 with NULL parameters), by hand: a few fixed DER
/// octets, where a crate would bring another copy of the RSA stack.
fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bit_string);
    bit_string.push(0);
    bit_string.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(ALGORITHM.len() + bit_string.len(), &mut out);
    out.extend_from_slice(&ALGORITHM);
    out.extend(bit_string);
    out
}

/// The zone-file line for a record: strings over 255 octets split into quoted pieces
/// (RFC 1035 §3.3.14 character-strings; RFC 6376 §3.6.2.2).
pub fn zone_line(selector: &str, domain: &str, record: &str) -> String {
    let pieces: Vec<String> = record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "{selector}._domainkey.{domain}. IN TXT ( {} )",
        pieces.join(" ")
    )
}

/// Where a domain's keys live.
pub fn key_dir(data_dir: &Path, domain: &str) -> PathBuf {
    data_dir.join("dkim").join(domain)
}

/// A key a domain signs with.
#[derive(Debug)]
pub struct SigningKey {
    pub selector: String,
    pub algorithm: Algorithm,
    der: Vec<u8>,
}

/// The keys in `dir` (none when it does not exist), in a stable order.
pub fn load_keys(dir: &Path) -> Result<Vec<SigningKey>, DkimError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DkimError::KeyFile {
                path: dir.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let (Some(selector), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let algorithm = match ext {
            "ed25519" => Algorithm::Ed25519,
            "rsa" => Algorithm::Rsa,
            _ => continue,
        };
        let der = std::fs::read(&path).map_err(|e| DkimError::KeyFile {
            path: path.clone(),
            why: e.to_string(),
        })?;
        keys.push(SigningKey {
            selector: selector.to_string(),
            algorithm,
            der,
        });
    }
    keys.sort_by(|a, b| (&a.selector, a.algorithm.name()).cmp(&(&b.selector, b.algorithm.name())));
    Ok(keys)
}

/// DKIM-Signature fields (each a whole header field with its CRLF) for `message`, one per
/// key, to be put in front of it.
pub fn sign(message: &[u8], domain: &str, keys: &[SigningKey]) -> Result<Vec<String>, DkimError> {
    let mut out = Vec::new();
    for key in keys {
        let dkim_key: DkimKey = match key.algorithm {
            Algorithm::Ed25519 => Ed25519Key::from_pkcs8_der(&key.der)
                .map_err(|e| DkimError::Sign(e.to_string()))?
                .into(),
            Algorithm::Rsa => RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(
                PrivatePkcs1KeyDer::from(key.der.as_slice()),
            ))
            .map_err(|e| DkimError::Sign(e.to_string()))?
            .into(),
        };
        let signature = DkimSigner::from_key(dkim_key)
            .domain(domain)
            .selector(key.selector.as_str())
            .headers(SIGNED_FIELDS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign(message)
            .map_err(|e| DkimError::Sign(e.to_string()))?;
        out.push(signature.to_header());
    }
    Ok(out)
}
