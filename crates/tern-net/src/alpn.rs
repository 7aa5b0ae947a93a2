//! The TLS acceptor every listener uses, implicit TLS and STARTTLS alike, with strict ALPN.
//!
//! ALPACA (Brinkmann et al., USENIX Security 2021) redirects a victim's TLS connection meant
//! for one protocol (say HTTPS) to a server of another (say this SMTP or POP3 server) that
//! holds a certificate for the same name, and makes that server reflect or store attacker
//! data the victim's client then trusts. The defence is for every server to refuse, inside
//! the handshake, a client that says it wants some other application protocol.
//!
//! RFC 7301 §3.2: "In the event that the server supports no protocols that the client
//! advertises, then the server SHALL respond with a fatal 'no_application_protocol' alert."
//! A client that sends no ALPN extension says nothing and is served: that is every mail
//! client today.

use std::io;
use std::sync::Arc;

use rustls::server::Acceptor;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

/// The application protocol a TLS listener speaks, as ALPN knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppProtocol {
    /// SMTP relay (port 25, STARTTLS).
    Smtp,
    /// Message submission (587 STARTTLS, 465 implicit TLS).
    Submission,
    /// IMAP4 (143 STARTTLS, 993 implicit TLS).
    Imap,
    /// POP3 (110 STLS, 995 implicit TLS).
    Pop3,
}

impl AppProtocol {
    /// The protocol's identifier in the IANA "TLS Application-Layer Protocol Negotiation
    /// (ALPN) Protocol IDs" registry, if it has one.
    pub fn alpn_id(self) -> Option<&'static [u8]> {
        match self {
            // RFC 2595 is the reference the registry gives for both.
            AppProtocol::Imap => Some(b"imap"),
            AppProtocol::Pop3 => Some(b"pop3"),
            // The registry has no identifier for SMTP or submission: no client that means
            // to speak either can offer one, so any offered identifier names some other
            // protocol and is refused.
            AppProtocol::Smtp | AppProtocol::Submission => None,
        }
    }
}

/// Performs server handshakes for one protocol, refusing clients that ask for another.
///
/// rustls itself refuses with `no_application_protocol` when `ServerConfig::alpn_protocols`
/// is set and shares nothing with the client's list, which covers IMAP and POP3 (their
/// identifier is the configured list). It cannot be told "refuse any identifier at all", and
/// that is what SMTP needs: so the acceptor first reads the ClientHello
/// ([`LazyConfigAcceptor`]) and, when the client offers identifiers the protocol does not
/// have, continues the handshake with a configuration whose only identifier is one the
/// client did not offer. rustls then refuses through its own code path, sending the same
/// alert in the same place as for IMAP and POP3. (Writing the alert bytes ourselves would
/// duplicate rustls' record layer; a fixed placeholder identifier would let a client that
/// offers exactly that placeholder through.) One path serves every protocol, so IMAP and
/// submission get the same behaviour by naming their [`AppProtocol`].
#[derive(Clone)]
pub struct TlsAcceptor {
    protocol: AppProtocol,
    /// The configuration of a served handshake: the protocol's identifier, if it has one.
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// An acceptor for `protocol` with the certificate and settings of `base`.
    pub fn new(base: &ServerConfig, protocol: AppProtocol) -> Self {
        let mut config = base.clone();
        config.alpn_protocols = protocol.alpn_id().map(<[u8]>::to_vec).into_iter().collect();
        TlsAcceptor {
            protocol,
            config: Arc::new(config),
        }
    }

    /// Runs the server side of a handshake on `io`. A client that offers only foreign ALPN
    /// identifiers is sent the `no_application_protocol` alert and this fails. The caller
    /// bounds the time it may take.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        // With an identifier configured, rustls refuses a list without it by itself.
        let offered: Option<Vec<Vec<u8>>> = match self.protocol.alpn_id() {
            Some(_) => None,
            None => start
                .client_hello()
                .alpn()
                .map(|ids| ids.map(<[u8]>::to_vec).collect()),
        };
        let config = match offered {
            Some(offered) => {
                tracing::info!(
                    offered = %describe(&offered),
                    "refusing TLS: the client asks for another application protocol (ALPN)"
                );
                self.refusing(&offered)
            }
            None => self.config.clone(),
        };
        start.into_stream(config).await
    }

    /// The handshake of implicit TLS (`accept.rs`, before the service) and of STARTTLS
    /// (RFC 3207), STLS (RFC 2595) and IMAP's STARTTLS (RFC 9051 §6.2.1), within
    /// [`crate::accept::TLS_HANDSHAKE_TIMEOUT`]. The TLS stream and its description, or `None`
    /// once a failure is logged (naming `command`): the caller then closes the connection.
    pub async fn upgrade(
        &self,
        stream: Box<dyn crate::Stream>,
        command: &str,
    ) -> Option<(Box<dyn crate::Stream>, String)> {
        match tokio::time::timeout(crate::accept::TLS_HANDSHAKE_TIMEOUT, self.accept(stream)).await
        {
            Ok(Ok(tls)) => {
                let description = crate::describe_tls(tls.get_ref().1);
                tracing::info!(tls = %description, "{command} done");
                Some((Box::new(tls), description))
            }
            Ok(Err(e)) => {
                tracing::info!("{command} handshake failed: {e}");
                None
            }
            Err(_) => {
                tracing::info!("{command} handshake timed out");
                None
            }
        }
    }

    /// A configuration that makes rustls refuse a client offering `offered`: its only
    /// identifier is one that is not in the list.
    fn refusing(&self, offered: &[Vec<u8>]) -> Arc<ServerConfig> {
        // Of `offered.len() + 1` distinct candidates one is not offered; the empty fallback
        // is never reached (and no client can offer an empty identifier, RFC 7301 §3.1).
        let unused = (0..=offered.len())
            .map(|n| format!("tern-refuses-alpn-{n}").into_bytes())
            .find(|candidate| !offered.contains(candidate))
            .unwrap_or_default();
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![unused];
        Arc::new(config)
    }
}

/// The first few offered identifiers for a log line, non-ASCII bytes escaped.
fn describe(offered: &[Vec<u8>]) -> String {
    offered
        .iter()
        .take(8)
        .map(|id| id.escape_ascii().to_string())
        .collect::<Vec<_>>()
        .join(",")
}
