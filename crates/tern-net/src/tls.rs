//! The rustls server configuration: from the configured PEM files, or a self-signed
//! certificate generated once for the host name and kept in the data directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM certificate chain and private key given by the administrator.
    Files { cert: PathBuf, key: PathBuf },
    /// Generate `cert.pem` and `key.pem` in `dir` for `hostname` unless they exist already.
    SelfSigned { dir: PathBuf, hostname: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {}: {message}", path.display())]
    Cert { path: PathBuf, message: String },
    #[error("cannot read the TLS private key {}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("the TLS certificate and key do not fit together: {0}")]
    Mismatch(String),
    #[error("cannot generate a self-signed certificate in {}: {message}", dir.display())]
    Generate { dir: PathBuf, message: String },
}

/// Builds the server TLS configuration.
pub fn load_tls(source: &TlsSource) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_path, key_path) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, hostname } => ensure_self_signed(dir, hostname)?,
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert_path.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert_path,
            message: "no CERTIFICATE block found (expected PEM)".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| TlsError::Key {
        path: key_path.clone(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    // No TLS 1.3 session tickets. With rustls' default two tickets after each handshake,
    // offlineimap (imaplib2, Debian 12) stalled after STARTTLS in 5 of 12 syncs: its
    // CAPABILITY never reached the server, which logged the session out after
    // `imap.prelogin_timeout`; without tickets 12 of 12 went through. Mail clients keep
    // their connections, so a full handshake on reconnecting costs little; the root cause
    // (client or server side) is not known yet.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let fail = |message: String| TlsError::Generate {
        dir: dir.to_path_buf(),
        message,
    };
    private_dir(dir).map_err(|e| fail(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()])
        .map_err(|e| fail(e.to_string()))?;
    // Clients that still look at the subject (fetchmail, older mail clients) find the name there too.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;
    write_private(&key_path, key.serialize_pem().as_bytes()).map_err(|e| fail(e.to_string()))?;
    write_private(&cert_path, cert.pem().as_bytes()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(cert = %cert_path.display(), %hostname, "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

/// Creates a directory (and missing parents) only its owner can open: it is in the data
/// directory, where everything is private.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a file only its owner can read: the key must be, and the certificate (public as it
/// is) follows the data directory's one rule, every file 0600.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
