//! Tern's configuration: one TOML file, read into typed structs and validated once.
//!
//! [`load`] reads a file; [`Config::embedded`] is what `tern serve` runs on without one. Every
//! error names the file, the key and what would be valid.
//!
//! # Standards
//! - TOML 1.0
//!
//! # Security
//! Reads a file the administrator controls; unknown keys are refused rather than ignored, so a
//! misspelt limit cannot silently fall back to its default.

mod error;
mod schema;
mod validate;
pub use validate::parse_duration;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use schema::{ConfigFile, Pop3File, SmtpFile};
use tern_types::{Address, Domain, PrefixLengths};

/// Where a configuration came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// `tern serve` without `--config`.
    Embedded,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Embedded => f.write_str("the built-in default configuration"),
        }
    }
}

/// The protocols Tern serves, each on zero or more addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Smtp,
    Submission,
    Submissions,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
}

impl Protocol {
    pub const ALL: [Protocol; 7] = [
        Protocol::Smtp,
        Protocol::Submission,
        Protocol::Submissions,
        Protocol::Imap,
        Protocol::Imaps,
        Protocol::Pop3,
        Protocol::Pop3s,
    ];

    /// The key under `[listen]`.
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Submissions => "submissions",
            Protocol::Imap => "imap",
            Protocol::Imaps => "imaps",
            Protocol::Pop3 => "pop3",
            Protocol::Pop3s => "pop3s",
        }
    }

    /// RFC 8314: these start with a TLS handshake instead of a greeting.
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Protocol::Submissions | Protocol::Imaps | Protocol::Pop3s
        )
    }

    /// The port the standards assign (RFC 5321, 6409, 8314, 9051, 1939).
    pub fn standard_port(self) -> u16 {
        match self {
            Protocol::Smtp => 25,
            Protocol::Submission => 587,
            Protocol::Submissions => 465,
            Protocol::Imap => 143,
            Protocol::Imaps => 993,
            Protocol::Pop3 => 110,
            Protocol::Pop3s => 995,
        }
    }

    /// The port of the embedded default (the standard port, moved above 1024).
    pub fn development_port(self) -> u16 {
        match self {
            Protocol::Smtp => 2525,
            Protocol::Submission => 2587,
            Protocol::Submissions => 2465,
            Protocol::Imap => 2143,
            Protocol::Imaps => 2993,
            Protocol::Pop3 => 2110,
            Protocol::Pop3s => 2995,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: Source,
    /// The name of this server: SMTP greeting, trace headers, the generated certificate.
    pub hostname: Domain,
    pub data_dir: PathBuf,
    /// A tracing filter such as `info` or `tern_smtp=debug,info`; `RUST_LOG` overrides it.
    pub log_level: String,
    /// Where mail for `<Postmaster>` goes; `None`: postmaster@ the first local domain.
    pub postmaster: Option<Address>,
    /// How long work in flight may take once the server is told to stop.
    pub shutdown_grace: std::time::Duration,
    pub listen: Vec<(Protocol, SocketAddr)>,
    pub tls: Option<TlsFiles>,
    pub store: StoreConfig,
    pub addresses: AddressConfig,
    pub auth: AuthConfig,
    /// Which addresses are one client (connection limits, failed logins).
    pub clients: PrefixLengths,
    pub smtp: SmtpConfig,
    pub pop3: Pop3Config,
    pub imap: ImapConfig,
    pub submission: SubmissionConfig,
    pub outbound: OutboundConfig,
}

/// The IMAP listeners' limits; see `ImapFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapConfig {
    pub idle_timeout: std::time::Duration,
    pub prelogin_timeout: std::time::Duration,
    pub max_prelogin_literal: u64,
    pub max_command_size: u32,
    pub append_limit: u32,
    pub max_sessions_per_user: u32,
    pub max_idle_per_user: u32,
    pub max_nesting: u32,
    pub max_keywords: u32,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
}

/// The submission listeners' settings; see `SubmissionFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionConfig {
    pub send_as_any: Vec<Address>,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
}

/// Outbound delivery; see `OutboundFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Empty: the system's resolver configuration.
    pub dns_servers: Vec<SocketAddr>,
    pub remote_port: u16,
    /// Never empty; the last one repeats.
    pub retry_intervals: Vec<std::time::Duration>,
    pub max_age: std::time::Duration,
    pub max_connections: u32,
    pub max_connections_per_domain: u32,
    pub connect_timeout: std::time::Duration,
    /// Zero: no delay warnings.
    pub delay_warning: std::time::Duration,
}

/// The SMTP listener's limits; see `SmtpFile` for what each means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub max_message_size: u64,
    pub max_recipients: u32,
    pub max_command_line: u32,
    pub max_text_line: u32,
    pub max_bad_commands: u32,
    pub idle_timeout: std::time::Duration,
    /// From the 354 (or the first BDAT) to the end of the message data.
    pub data_timeout: std::time::Duration,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    pub greeting_delay: std::time::Duration,
    /// Whether a full mailbox is a permanent failure (552 5.2.2) rather than 452 4.2.2.
    pub over_quota_permanent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub inline_blob_max: usize,
    pub expunge_log_max: u32,
    pub max_mailboxes_per_account: u32,
    pub max_subscriptions_per_account: u32,
    pub mime_limits: tern_message::mime::MimeLimits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressConfig {
    pub case_sensitive_local_part: bool,
    pub detail_separator: Option<char>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub plaintext_without_tls: PlaintextAuth,
    pub max_failures_per_ip: u32,
    pub max_failures_per_network: u32,
    pub network: PrefixLengths,
    pub max_failures_per_account: u32,
    pub account_delay: std::time::Duration,
    pub failure_window: std::time::Duration,
    pub failure_delay: std::time::Duration,
    pub failure_delay_max: std::time::Duration,
}

/// When a password may cross an unencrypted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextAuth {
    Never,
    Loopback,
    Always,
}

impl PlaintextAuth {
    /// Whether a password may be sent on a connection without TLS from this peer.
    pub fn allows(self, peer_is_loopback: bool) -> bool {
        match self {
            PlaintextAuth::Never => false,
            PlaintextAuth::Loopback => peer_is_loopback,
            PlaintextAuth::Always => true,
        }
    }
}

/// The POP3 listeners' limits; see `Pop3File`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Config {
    pub idle_timeout: std::time::Duration,
    pub max_command_line: u32,
    /// From the first byte of a command line to its end.
    pub command_timeout: std::time::Duration,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
}

impl Config {
    /// The configuration of `tern serve` without `--config`: data in `./tern-data`, every
    /// protocol on 127.0.0.1 at its development port, a generated certificate.
    pub fn embedded() -> Self {
        let file = ConfigFile::default();
        let mut config = validate::validate(file, Source::Embedded, Path::new("."))
            .unwrap_or_else(|e| unreachable!("the built-in configuration is valid: {e}"));
        config.listen = Protocol::ALL
            .into_iter()
            .map(|p| (p, SocketAddr::from(([127, 0, 0, 1], p.development_port()))))
            .collect();
        config
    }

    /// The addresses configured for one protocol.
    pub fn listeners(&self, protocol: Protocol) -> impl Iterator<Item = SocketAddr> + '_ {
        self.listen
            .iter()
            .filter(move |(p, _)| *p == protocol)
            .map(|(_, a)| *a)
    }
}

/// Reads and validates a configuration file. Relative paths in it (`data_dir`, `tls.cert`,
/// `tls.key`) are taken relative to the file's directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse(&text, path)
}

/// Validates configuration text as if it had been read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let file = schema::parse(text, path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    validate::validate(file, Source::File(path.to_path_buf()), base)
}
