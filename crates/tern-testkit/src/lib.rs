//! Test-only helpers: a whole Tern server on ephemeral ports with a temporary data directory,
//! in-process ([`TestServer`]) or as a child process ([`ChildServer`]), and the store load
//! tool used by the crash test and the benchmark; a private Postfix instance for interop
//! tests ([`postfix::PostfixInstance`]).
//!
//! # Standards
//! None.
//!
//! # Security
//! Test code: binds only 127.0.0.1, port 0, except the Postfix instance, which listens on
//! the 127.0.0.0/8 address and port its test names.

mod child;
mod corpus;
pub mod dns;
pub mod fake_mx;
pub mod mime_corpus;
pub mod postfix;
pub mod process;
mod server;
pub mod smtp_client;

pub use child::{tern_binary, ChildServer};
pub use corpus::corpus;
pub use server::{TestServer, TEST_PASSWORD};

use std::path::{Path, PathBuf};

/// A configuration for tests: every protocol on 127.0.0.1 port 0, cheap password hashing,
/// data in `data/` next to the file. `extra` is TOML merged over these defaults (tables are
/// merged key by key). Returns the file's path.
pub fn write_test_config(dir: &Path, extra: &str) -> PathBuf {
    let listen: String = tern_config::Protocol::ALL
        .iter()
        .map(|p| format!("{} = [\"127.0.0.1:0\"]\n", p.key()))
        .collect();
    let defaults = format!(
        "hostname = \"mx.test\"\ndata_dir = \"data\"\nlog_level = \"info\"\n[listen]\n{listen}\n\
         [auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\nargon2_parallelism = 1\nfailure_delay_ms = 50\n"
    );
    let mut table: toml::Table = defaults.parse().expect("defaults parse");
    let extra: toml::Table = extra.parse().expect("extra test configuration is TOML");
    merge(&mut table, extra);
    let path = dir.join("tern.toml");
    std::fs::write(&path, table.to_string()).expect("write test config");
    path
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The INBOX of the account `address` names (no alias expansion), as the store has it now.
pub async fn inbox_of(stores: &tern_store::Stores, address: &str) -> tern_store::MailboxInfo {
    let address = tern_types::Address::parse(address).expect("address");
    let account = stores
        .directory
        .account_auth(&address, Default::default())
        .await
        .expect("directory")
        .unwrap_or_else(|| panic!("{address} is an account"))
        .id;
    stores
        .mailboxes
        .mailbox(account, "INBOX")
        .await
        .expect("INBOX")
}

/// The committed seed corpus of a fuzz target (`fuzz/corpus/<target>`): each file's path and
/// bytes. Tests replay them through the target's entry point, so CI checks the fuzz inputs and
/// invariants without the nightly toolchain cargo-fuzz needs.
pub fn fuzz_seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "the seed corpus {} is in the repository: {e}",
                dir.display()
            )
        })
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("seed file");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    seeds
}

/// A TLS client that trusts exactly the certificates in `cert_pem`.
pub fn tls_connector(cert_pem: &Path) -> tokio_rustls::TlsConnector {
    tls_connector_offering(cert_pem, &[])
}

/// A TLS client that trusts exactly the certificates in `cert_pem` and offers the ALPN
/// identifiers `alpn` (none: no ALPN extension at all).
pub fn tls_connector_offering(cert_pem: &Path, alpn: &[&str]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(cert_pem).expect("certificate file")
    {
        roots
            .add(cert.expect("PEM certificate"))
            .expect("usable certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|id| id.as_bytes().to_vec()).collect();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Runs an external client (Python, swaks, fetchmail) to completion off the async runtime.
/// Panics, showing its output, unless it exits successfully: `what` names it in that message.
/// A client that is not installed fails the test with the line that installs it: a test
/// that skipped would pass on a machine where it proved nothing.
pub async fn run_client(mut command: std::process::Command, what: &str) -> std::process::Output {
    let what = what.to_string();
    let program = command.get_program().to_string_lossy().into_owned();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("client task")
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "cannot run {what}: `{program}` is not installed. `./scripts/test` installs \
                 every program the tests need; on Debian: apt-get install {}",
                debian_packages(&program)
            ),
            _ => panic!("cannot run {what}: {e}"),
        });
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The Debian packages that bring an external test client (the list `scripts/test` installs).
fn debian_packages(program: &str) -> &'static str {
    match program {
        "swaks" => "swaks libnet-ssleay-perl libio-socket-ssl-perl ca-certificates",
        "fetchmail" => "fetchmail ca-certificates",
        "mbsync" => "isync",
        "offlineimap" => "offlineimap3",
        "python3" => "python3",
        _ => "swaks libnet-ssleay-perl libio-socket-ssl-perl python3 fetchmail ca-certificates",
    }
}
