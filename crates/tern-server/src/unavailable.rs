//! What a listener answers while its protocol is not built into this version: the
//! protocol's own "service not available" reply, then the connection is closed. Clients see a
//! clear temporary failure instead of a hang or a reset.

use async_trait::async_trait;
use tern_config::Protocol;
use tern_net::{ConnInfo, Service, Shutdown, Stream};
use tokio::io::AsyncWriteExt;

pub(crate) struct Unavailable {
    protocol: Protocol,
    hostname: String,
}

impl Unavailable {
    pub(crate) fn new(protocol: Protocol, hostname: String) -> Self {
        Self { protocol, hostname }
    }

    fn reply(&self) -> String {
        let what = self.protocol.key();
        match self.protocol {
            // RFC 5321 §3.8 / §4.2.3: 421 closes the transmission channel.
            Protocol::Smtp | Protocol::Submission | Protocol::Submissions => format!(
                "421 4.3.2 {} {what} service not available in this version of Tern\r\n",
                self.hostname
            ),
            // RFC 9051 §7.1.5: BYE as the greeting refuses the connection.
            Protocol::Imap | Protocol::Imaps => {
                format!(
                    "* BYE [UNAVAILABLE] {what} service not available in this version of Tern\r\n"
                )
            }
            // RFC 3206 §4: SYS/TEMP is a temporary system problem.
            Protocol::Pop3 | Protocol::Pop3s => {
                format!("-ERR [SYS/TEMP] {what} service not available in this version of Tern\r\n")
            }
        }
    }
}

#[async_trait]
impl Service for Unavailable {
    fn name(&self) -> &'static str {
        self.protocol.key()
    }

    async fn serve(&self, mut stream: Box<dyn Stream>, _info: ConnInfo, _shutdown: Shutdown) {
        let _ = stream.write_all(self.reply().as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
