//! The configuration file as written: serde structs, one doc comment per key.
//! `tern.example.toml` at the repository root documents the same keys for administrators.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// This server's name: SMTP greeting, Received headers, the generated certificate.
    /// Default `localhost`.
    pub hostname: Option<String>,
    /// Where the database, blobs and the generated certificate live. Default `./tern-data`
    /// (relative paths are taken from the configuration file's directory).
    pub data_dir: Option<PathBuf>,
    /// `error`, `warn`, `info` (default), `debug` or `trace`; `RUST_LOG` overrides it.
    pub log_level: Option<String>,
    /// Where mail for `<Postmaster>` (no domain, any case; RFC 5321 §4.5.1) goes: an address
    /// resolved like any recipient (an account or an alias). Default: `postmaster@` the first
    /// domain `tern domain list` shows.
    pub postmaster: Option<String>,
    /// Seconds that work in flight (a message being received or committed, a RETR being
    /// sent, the reply to either) may take once the server has been told to stop; then its
    /// connections are closed. Default 10.
    pub shutdown_grace: Option<u64>,
    #[serde(default)]
    pub listen: ListenFile,
    pub tls: Option<TlsFile>,
    #[serde(default)]
    pub store: StoreFile,
    #[serde(default)]
    pub addresses: AddressesFile,
    #[serde(default)]
    pub auth: AuthFile,
    #[serde(default)]
    pub clients: ClientsFile,
    #[serde(default)]
    pub smtp: SmtpFile,
    #[serde(default)]
    pub pop3: Pop3File,
    #[serde(default)]
    pub mime: MimeFile,
    #[serde(default)]
    pub imap: ImapFile,
    #[serde(default)]
    pub submission: SubmissionFile,
    #[serde(default)]
    pub outbound: OutboundFile,
}

/// The submission listeners (`submission`, `submissions`): mail clients that log in and send.
/// Message size, recipients, line and time limits are those of `[smtp]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionFile {
    /// Accounts (login addresses) that may send with any envelope sender and From (a web
    /// form, a mailing-list manager). Everyone else sends only as their own addresses and
    /// aliases (553 5.7.1 otherwise). Default none.
    pub send_as_any: Option<Vec<String>>,
    /// Concurrent submission connections in all (both listeners). Default 500.
    pub max_connections: Option<u32>,
    /// Concurrent submission connections from one client (see `[clients]`). Default 20.
    pub max_connections_per_ip: Option<u32>,
}

/// Delivery to other servers (RFC 5321 §5): DNS, retries, concurrency. Durations are a number
/// with a unit: `30s`, `5m`, `2h`, `5d`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundFile {
    /// DNS servers for MX and address lookups, as "ip:port". Default: the system's
    /// /etc/resolv.conf.
    pub dns_servers: Option<Vec<String>>,
    /// The port remote mail servers are reached on. Default 25.
    pub remote_port: Option<u16>,
    /// Waits between delivery attempts; the last one repeats. Default
    /// ["5m", "10m", "30m", "1h", "2h", "4h"].
    pub retry_intervals: Option<Vec<String>>,
    /// How long a message is retried before it bounces (RFC 5321 §4.5.4.1: 4–5 days).
    /// Default "5d".
    pub max_age: Option<String>,
    /// Concurrent outbound deliveries in all. Default 100.
    pub max_connections: Option<u32>,
    /// Concurrent outbound deliveries to one domain. Default 10.
    pub max_connections_per_domain: Option<u32>,
    /// Seconds to wait for a remote server to accept the TCP connection. Default 30.
    pub connect_timeout: Option<u64>,
    /// How long a recipient may wait before its sender gets one "delayed" notice (RFC 3464;
    /// only when NOTIFY is absent or includes DELAY). "0s" (the default, as Postfix's
    /// `delay_warning_time`) sends none.
    pub delay_warning: Option<String>,
}

/// Limits of the MIME analysis each stored message gets (against hostile MIME). A message
/// beyond one is still stored whole; its recorded structure stops at the limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MimeFile {
    /// Nesting of multipart and message/rfc822 parts. Default 32, at most 256.
    pub max_depth: Option<usize>,
    /// Parts in one message, nested messages included. Default 1000.
    pub max_parts: Option<usize>,
    /// Header fields in one header block. Default 1000.
    pub max_header_fields: Option<usize>,
    /// Octets of one header block. Default 262144 (256 KiB).
    pub max_header_bytes: Option<usize>,
    /// Octets of one header field, folded lines included. Default 65536.
    pub max_header_line: Option<usize>,
    /// RFC 2231 sections of one parameter. Default 64.
    pub max_rfc2231_segments: Option<usize>,
    /// Octets of decoded text indexed for search, per message. Default 8388608 (8 MiB).
    pub max_decoded_size: Option<usize>,
}

/// Each protocol listens on the `host:port` addresses given; a protocol left out is off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenFile {
    /// SMTP from other servers (MX role), standard port 25.
    #[serde(default)]
    pub smtp: Vec<String>,
    /// Message submission with STARTTLS (RFC 6409), standard port 587.
    #[serde(default)]
    pub submission: Vec<String>,
    /// Message submission over implicit TLS (RFC 8314), standard port 465.
    #[serde(default)]
    pub submissions: Vec<String>,
    /// IMAP with STARTTLS, standard port 143.
    #[serde(default)]
    pub imap: Vec<String>,
    /// IMAP over implicit TLS, standard port 993.
    #[serde(default)]
    pub imaps: Vec<String>,
    /// POP3 with STLS, standard port 110.
    #[serde(default)]
    pub pop3: Vec<String>,
    /// POP3 over implicit TLS, standard port 995.
    #[serde(default)]
    pub pop3s: Vec<String>,
}

/// A certificate chain and its private key, both PEM. Left out: a self-signed certificate for
/// `hostname` is generated once into `data_dir`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// The certificate chain, leaf first (such as Let's Encrypt's `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// `sqlite` (the embedded store, the default and for now the only one).
    pub backend: Option<String>,
    /// Message bodies up to this many bytes are kept inside the database, larger ones as
    /// files. Default 131072 (128 KiB).
    pub inline_blob_max: Option<u64>,
    /// Expunges remembered per mailbox for IMAP QRESYNC (RFC 7162); a client that has missed
    /// more is told of a superset. Default 10000.
    pub expunge_log_max: Option<u64>,
    /// Mailboxes one account may have (its INBOX and special-use folders included); IMAP
    /// CREATE past it gets `NO [LIMIT]`. Default 1000.
    pub max_mailboxes_per_account: Option<u32>,
    /// Names one account may be subscribed to; IMAP SUBSCRIBE past it gets `NO [LIMIT]`.
    /// Default 1000.
    pub max_subscriptions_per_account: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressesFile {
    /// Whether `Alice@` and `alice@` are different mailboxes. Default `false`.
    pub case_sensitive_local_part: Option<bool>,
    /// The character that starts a sub-address (`alice+news@` reaches `alice@`); `""` turns
    /// sub-addressing off. Default `"+"`.
    pub detail_separator: Option<String>,
}

/// The cost of new argon2id password hashes (existing hashes keep their own).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Memory per hash in KiB. Default 19456 (OWASP's recommendation).
    pub argon2_memory_kib: Option<u32>,
    /// Passes over the memory. Default 2.
    pub argon2_iterations: Option<u32>,
    /// Lanes. Default 1.
    pub argon2_parallelism: Option<u32>,
    /// When a password may be sent without TLS: `"never"`, `"loopback"` (default: only from
    /// 127.0.0.0/8 and ::1) or `"always"`.
    pub plaintext_without_tls: Option<String>,
    /// Failed logins from one client (an address cut to the `[clients]` prefixes) within
    /// `failure_window` past which that client is refused without its password being checked.
    /// Default 10.
    pub max_failures_per_ip: Option<u32>,
    /// Failed logins from one network (`network_ipv4_prefix`, `network_ipv6_prefix`) within
    /// `failure_window` past which that network is refused, except a client logging in to an
    /// account it logged in to within the window. Default 30.
    pub max_failures_per_network: Option<u32>,
    /// Prefix length of an IPv4 network for `max_failures_per_network`. Default 24.
    pub network_ipv4_prefix: Option<u8>,
    /// Prefix length of an IPv6 network for `max_failures_per_network`. Default 48.
    pub network_ipv6_prefix: Option<u8>,
    /// Failed logins to one account within `failure_window` past which an attempt for it
    /// waits `account_delay_ms`, unless its client logged in to it within the window. An
    /// account is never refused: strangers must not be able to lock its owner out. Default 10.
    pub max_failures_per_account: Option<u32>,
    /// Milliseconds an attempt for an account past `max_failures_per_account` waits; at most
    /// 1000. Default 250.
    pub account_delay_ms: Option<u64>,
    /// Seconds over which failed logins are counted, and for which a successful login exempts
    /// its client as above. Default 900.
    pub failure_window: Option<u64>,
    /// Milliseconds a client's first failed login waits before it is answered; each further
    /// failure within the window waits twice as long. Default 1000.
    pub failure_delay_ms: Option<u64>,
    /// The longest such wait, in milliseconds. Default 15000.
    pub failure_delay_max_ms: Option<u64>,
}

/// Which addresses are one client, for connection limits (`max_connections_per_ip`) and for
/// failed logins (`auth.max_failures_per_ip`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    /// Leading bits of an IPv4 address that name one client. Default 32 (each address).
    pub ipv4_prefix: Option<u8>,
    /// Leading bits of an IPv6 address that name one client. Default 64 (one host usually
    /// holds a whole /64).
    pub ipv6_prefix: Option<u8>,
}

/// Limits of the IMAP listeners (imap and imaps together).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapFile {
    /// Seconds without a command after login before the session is closed (RFC 9051 §5.4
    /// asks for at least 1800). Default 1800.
    pub idle_timeout: Option<u64>,
    /// Seconds without a command before login. Default 60.
    pub prelogin_timeout: Option<u64>,
    /// Largest literal before login, in octets (a user name or password needs little).
    /// Default 8192.
    pub max_prelogin_literal: Option<u64>,
    /// Largest command after login, literals included, in octets (an APPEND's messages are
    /// bounded by `append_limit` instead); larger get `NO [TOOBIG]`. Default 65536.
    pub max_command_size: Option<u32>,
    /// Largest message APPEND stores, in octets; advertised as APPENDLIMIT (RFC 7889). Larger
    /// get `NO [TOOBIG]` before they are sent. Default 52428800 (50 MiB, as smtp).
    pub append_limit: Option<u32>,
    /// Logged-in IMAP sessions of one account at once; more logins get `NO [LIMIT]`.
    /// Default 50.
    pub max_sessions_per_user: Option<u32>,
    /// IDLE commands of one account at once (a client idles on each folder it watches); more
    /// get `NO [LIMIT]` and the client polls. Default 20.
    pub max_idle_per_user: Option<u32>,
    /// How deep parentheses may nest in one command (SEARCH's groups, lists); deeper gets BAD
    /// before it is parsed. Default 8.
    pub max_nesting: Option<u32>,
    /// Keywords (user flags such as `$Forwarded`) a mailbox may hold, and one message at most:
    /// a STORE that would bring the mailbox past it with a new keyword, or an APPEND of a
    /// message with more, gets `NO [LIMIT]` (APPEND and COPY do not count the mailbox's).
    /// Default 128.
    pub max_keywords: Option<u32>,
    /// Concurrent IMAP connections in all (both listeners). Default 1000.
    pub max_connections: Option<u32>,
    /// Concurrent IMAP connections from one client (see `[clients]`). Default 20.
    pub max_connections_per_ip: Option<u32>,
}

/// Limits of the POP3 listeners.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3File {
    /// Seconds of client silence before the session is closed (RFC 1939 §3 asks for at least
    /// 600). Default 600.
    pub idle_timeout: Option<u64>,
    /// Longest command line in bytes, CRLF included (RFC 2449 §4: 255). Default 255.
    pub max_command_line: Option<u32>,
    /// Seconds a command line (or SASL response) may take from its first byte to its end,
    /// however steadily it trickles in. Default 60.
    pub command_timeout: Option<u64>,
    /// Concurrent POP3 connections in all (both listeners). Default 1000.
    pub max_connections: Option<u32>,
    /// Concurrent POP3 connections from one client (see `[clients]`). Default 20.
    pub max_connections_per_ip: Option<u32>,
}

/// Limits of the SMTP listener (MX role). Every limit is enforced and answered with the
/// reply the RFCs give for it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    /// Largest message in bytes, advertised with SIZE (RFC 1870). Default 52428800 (50 MiB).
    pub max_message_size: Option<u64>,
    /// Recipients per message; more get 452 4.5.3 (RFC 5321 §4.5.3.1.8). Default 100.
    pub max_recipients: Option<u32>,
    /// Longest command line in bytes, CRLF included (RFC 5321 §4.5.3.1.4). Default 512.
    pub max_command_line: Option<u32>,
    /// Longest line of message text in bytes. RFC 5322 allows 998; longer lines are accepted
    /// up to this hard limit, beyond it the message is refused. Default 65536.
    pub max_text_line: Option<u32>,
    /// Unknown or malformed commands, and permanently refused recipients, a session may send
    /// before 421 and disconnect. Default 10.
    pub max_bad_commands: Option<u32>,
    /// Seconds of silence from the client before 421 and disconnect (RFC 5321 §4.5.3.2.7 asks
    /// for at least 300). Default 300.
    pub idle_timeout: Option<u64>,
    /// Seconds a whole message transfer may take, from the 354 after DATA (or the first BDAT)
    /// to the end of its data (RFC 5321 §4.5.3.2.6 gives 10 minutes for the data); past it
    /// 421 4.4.2 and disconnect, nothing stored. Default 600.
    pub data_timeout: Option<u64>,
    /// Concurrent SMTP connections in all. Default 1000.
    pub max_connections: Option<u32>,
    /// Concurrent SMTP connections from one client (see `[clients]`). Default 20.
    pub max_connections_per_ip: Option<u32>,
    /// Milliseconds to wait before the greeting; a client that talks before it is refused with
    /// 554. Default 0 (only input already waiting when the greeting is sent is caught).
    pub greeting_delay_ms: Option<u64>,
    /// `"temporary"` (452 4.2.2, the sender retries) or `"permanent"` (552 5.2.2) for mail to a
    /// full mailbox. Default "temporary".
    pub over_quota: Option<String>,
}

pub(crate) fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    let source_name = path.display().to_string();
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.span().map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        });
        let message = inner.message().trim().to_string();
        match unknown_field(&message) {
            // serde_path_to_error's path already ends with the unknown key.
            Some(field) => ConfigError::Key {
                source_name,
                key: if key.is_empty() || key == "." {
                    field.to_string()
                } else {
                    key
                },
                message: format!(
                    "unknown key{}",
                    message
                        .split_once(", expected")
                        .map(|(_, rest)| format!("; valid keys here:{rest}"))
                        .unwrap_or_default()
                ),
            },
            None if key != "." && !key.is_empty() => ConfigError::Key {
                source_name,
                key,
                message: match location {
                    Some(l) => format!("{message} ({l})"),
                    None => message,
                },
            },
            None => ConfigError::Syntax {
                source_name,
                location,
                message,
            },
        }
    })
}

/// serde reports an unknown key as "unknown field `name`, expected ...".
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}
