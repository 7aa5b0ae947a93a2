//! An in-process server.

use std::net::SocketAddr;
use std::path::PathBuf;

use tern_auth::{hash_password, HashCost, Secret};
use tern_config::{Config, Protocol};
use tern_server::serve::RunningServer;
use tern_store::Stores;
use tern_types::{AccountId, Address, Domain};

use crate::write_test_config;

/// The password [`TestServer::add_user`] gives every account.
pub const TEST_PASSWORD: &str = "test password 1";

/// A running in-process server with its own temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub config: Config,
    pub server: RunningServer,
}

impl TestServer {
    /// Starts a server with the local domain `example.test`.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Starts a server whose configuration file has `extra` added at the top level.
    pub async fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = write_test_config(dir.path(), extra);
        let config = tern_config::load(&config_path).expect("test config is valid");
        let domain = Domain::parse("example.test").expect("domain");
        let server = tern_server::serve::start(&config, Some(domain))
            .await
            .expect("server starts");
        Self {
            dir,
            config_path,
            config,
            server,
        }
    }

    pub fn addr(&self, protocol: Protocol) -> SocketAddr {
        self.server.addr(protocol).expect("protocol is listening")
    }

    /// A TLS client that trusts exactly the certificate this server generated for itself
    /// (for the name `mx.test`).
    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        crate::tls_connector(&self.config.data_dir.join("tls/cert.pem"))
    }

    pub fn stores(&self) -> Stores {
        self.server.stores()
    }

    /// Creates an account with [`TEST_PASSWORD`].
    pub async fn add_user(&self, address: &str) -> AccountId {
        let address = Address::parse(address).expect("address");
        let cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let hash = hash_password(&Secret::new(TEST_PASSWORD), cost).expect("hash");
        self.stores()
            .directory
            .add_account(&address, &hash, 0)
            .await
            .expect("add account")
    }

    /// The messages in an account's INBOX (trace headers included), in UID order, once there
    /// are at least `n` of them. Local delivery runs right after the SMTP reply; this waits up
    /// to 10 s for it.
    pub async fn inbox(&self, address: &str, n: usize) -> Vec<Vec<u8>> {
        let stores = self.stores();
        let inbox = crate::inbox_of(&stores, address).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let records = stores
                .mailboxes
                .messages(inbox.id, tern_types::Uid(1))
                .await
                .expect("messages");
            if records.len() >= n || std::time::Instant::now() > deadline {
                let mut out = Vec::new();
                for r in records {
                    out.push(
                        stores
                            .mailboxes
                            .read_message(inbox.id, r.uid)
                            .await
                            .expect("read"),
                    );
                }
                return out;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// How many messages wait in the queue (none, once everything is delivered).
    pub async fn queued(&self) -> usize {
        self.stores().queue.list().await.expect("queue").len()
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}
