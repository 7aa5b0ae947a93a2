//! From the file's shape to a [`Config`]: values checked, defaults filled, paths resolved.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tern_message::mime::MimeLimits;

use tern_types::{Address, Domain, PrefixLengths};

use crate::schema::ConfigFile;
use crate::{
    AddressConfig, AuthConfig, Config, ConfigError, ImapConfig, OutboundConfig, PlaintextAuth,
    Pop3Config, Protocol, SmtpConfig, Source, StoreConfig, SubmissionConfig, TlsFiles,
};

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

struct Checker {
    source_name: String,
}

impl Checker {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            source_name: self.source_name.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A number key: its value or `default`, refused below `min` (`why` says whose minimum).
    fn at_least<T>(
        &self,
        key: &str,
        value: Option<T>,
        default: T,
        min: T,
        why: &str,
    ) -> Result<T, ConfigError>
    where
        T: Copy + PartialOrd + std::fmt::Display,
    {
        let value = value.unwrap_or(default);
        if value < min {
            return Err(self.err(key, format!("{value} is too small; at least {min}{why}")));
        }
        Ok(value)
    }

    /// A key with a fixed set of words: the value the word stands for.
    fn choice<V: Copy>(
        &self,
        key: &str,
        value: Option<&str>,
        default: &str,
        words: &[(&str, V)],
    ) -> Result<V, ConfigError> {
        let word = value.unwrap_or(default);
        words
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let valid: Vec<String> = words.iter().map(|(w, _)| format!("{w:?}")).collect();
                self.err(key, format!("{word:?} is not one of {}", valid.join(", ")))
            })
    }
}

pub(crate) fn validate(
    file: ConfigFile,
    source: Source,
    base: &Path,
) -> Result<Config, ConfigError> {
    let check = Checker {
        source_name: source.to_string(),
    };
    let hostname_text = file.hostname.as_deref().unwrap_or("localhost");
    let hostname = Domain::parse(hostname_text).map_err(|e| {
        check.err(
            "hostname",
            format!("{hostname_text:?} is not a host name: {e} (such as \"mail.example.org\")"),
        )
    })?;

    let postmaster = match file.postmaster.as_deref() {
        None => None,
        Some(text) => Some(Address::parse(text).map_err(|e| {
            check.err(
                "postmaster",
                format!("{text:?} is not an address: {e} (such as \"postmaster@example.org\")"),
            )
        })?),
    };

    let data_dir = base.join(file.data_dir.unwrap_or_else(|| "tern-data".into()));

    let log_level = file.log_level.unwrap_or_else(|| "info".into());
    if !LOG_LEVELS.contains(&log_level.as_str()) {
        return Err(check.err(
            "log_level",
            format!("{log_level:?} is not one of {}", LOG_LEVELS.join(", ")),
        ));
    }

    let l = &file.listen;
    let by_protocol = [
        (Protocol::Smtp, &l.smtp),
        (Protocol::Submission, &l.submission),
        (Protocol::Submissions, &l.submissions),
        (Protocol::Imap, &l.imap),
        (Protocol::Imaps, &l.imaps),
        (Protocol::Pop3, &l.pop3),
        (Protocol::Pop3s, &l.pop3s),
    ];
    let mut listen = Vec::new();
    for (protocol, addrs) in by_protocol {
        for (i, text) in addrs.iter().enumerate() {
            let addr: SocketAddr = text.parse().map_err(|_| {
                check.err(
                    format!("listen.{protocol}[{i}]"),
                    format!(
                        "{text:?} is not an IP address and port, such as \"0.0.0.0:{port}\" or \"[::]:{port}\"",
                        port = protocol.standard_port()
                    ),
                )
            })?;
            // Port 0 (any free port, used by tests) can repeat; a real port cannot.
            if let Some((other, _)) = listen.iter().find(|(_, a)| *a == addr && addr.port() != 0) {
                return Err(check.err(
                    format!("listen.{protocol}[{i}]"),
                    format!("{addr} is already used by listen.{other}; each address can serve one protocol"),
                ));
            }
            listen.push((protocol, addr));
        }
    }

    let tls = file.tls.map(|t| TlsFiles {
        cert: base.join(t.cert),
        key: base.join(t.key),
    });

    let backend = file.store.backend.as_deref().unwrap_or("sqlite");
    if backend != "sqlite" {
        return Err(check.err(
            "store.backend",
            format!("{backend:?} is not a store backend; valid: \"sqlite\""),
        ));
    }
    let inline_blob_max = file.store.inline_blob_max.unwrap_or(128 * 1024);
    if inline_blob_max > 64 * 1024 * 1024 {
        return Err(check.err(
            "store.inline_blob_max",
            format!("{inline_blob_max} is too large; bodies this big belong in files (at most 67108864)"),
        ));
    }

    let separator = file
        .addresses
        .detail_separator
        .unwrap_or_else(|| "+".into());
    let mut chars = separator.chars();
    let detail_separator = match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some(c), None) if "+-_.=".contains(c) => Some(c),
        _ => {
            return Err(check.err(
                "addresses.detail_separator",
                format!(
                    "{separator:?} is not one of \"+\", \"-\", \"_\", \".\", \"=\" or \"\" (off)"
                ),
            ))
        }
    };

    let shutdown_grace = Duration::from_secs(check.at_least(
        "shutdown_grace",
        file.shutdown_grace,
        10,
        1,
        " second",
    )?);

    let clients = client_prefixes(&file.clients, &check)?;
    let auth = auth_config(&file.auth, clients, &check)?;
    let smtp = smtp_config(&file.smtp, &check)?;
    let pop3 = pop3_config(&file.pop3, &check)?;
    let imap = imap_config(&file.imap, &check)?;
    let submission = submission_config(&file.submission, &check)?;
    let outbound = outbound_config(&file.outbound, &check)?;

    Ok(Config {
        source,
        hostname,
        data_dir,
        log_level,
        postmaster,
        shutdown_grace,
        listen,
        tls,
        store: StoreConfig {
            inline_blob_max: inline_blob_max as usize,
            expunge_log_max: u32::try_from(check.at_least(
                "store.expunge_log_max",
                file.store.expunge_log_max,
                10_000,
                1,
                " expunge",
            )?)
            .unwrap_or(u32::MAX),
            // Room for the folders an account starts with (INBOX and the special uses).
            max_mailboxes_per_account: check.at_least(
                "store.max_mailboxes_per_account",
                file.store.max_mailboxes_per_account,
                1000,
                10,
                " (an account starts with six mailboxes)",
            )?,
            max_subscriptions_per_account: check.at_least(
                "store.max_subscriptions_per_account",
                file.store.max_subscriptions_per_account,
                1000,
                1,
                "",
            )?,
            mime_limits: mime_limits(&file.mime, &check)?,
        },
        addresses: AddressConfig {
            case_sensitive_local_part: file.addresses.case_sensitive_local_part.unwrap_or(false),
            detail_separator,
        },
        auth,
        clients,
        smtp,
        pop3,
        imap,
        submission,
        outbound,
    })
}

fn imap_config(file: &crate::schema::ImapFile, check: &Checker) -> Result<ImapConfig, ConfigError> {
    Ok(ImapConfig {
        // RFC 9051 §5.4: the autologout timer is at least 30 minutes.
        idle_timeout: Duration::from_secs(check.at_least(
            "imap.idle_timeout",
            file.idle_timeout,
            1800,
            1800,
            " seconds (RFC 9051 §5.4)",
        )?),
        prelogin_timeout: Duration::from_secs(check.at_least(
            "imap.prelogin_timeout",
            file.prelogin_timeout,
            60,
            1,
            " second",
        )?),
        max_prelogin_literal: check.at_least(
            "imap.max_prelogin_literal",
            file.max_prelogin_literal,
            8192,
            1024,
            " octets (room for a user name and password)",
        )?,
        max_command_size: check.at_least(
            "imap.max_command_size",
            file.max_command_size,
            65536,
            8192,
            " octets (RFC 9051 §4: commands of 8000 octets must fit)",
        )?,
        append_limit: check.at_least(
            "imap.append_limit",
            file.append_limit,
            50 * 1024 * 1024,
            1024,
            " octets",
        )?,
        max_sessions_per_user: check.at_least(
            "imap.max_sessions_per_user",
            file.max_sessions_per_user,
            50,
            1,
            "",
        )?,
        max_idle_per_user: check.at_least(
            "imap.max_idle_per_user",
            file.max_idle_per_user,
            20,
            1,
            "",
        )?,
        // imap-codec's SEARCH parser stops at 9 levels by itself; ours must be lower.
        max_nesting: match file.max_nesting.unwrap_or(8) {
            n @ 1..=8 => n,
            n => {
                return Err(check.err(
                    "imap.max_nesting",
                    format!("{n} is not between 1 and 8 (the IMAP parser's own limit is 9)"),
                ))
            }
        },
        max_keywords: check.at_least(
            "imap.max_keywords",
            file.max_keywords,
            128,
            1,
            " (RFC 9051 §2.3.2: clients use a handful, such as $Forwarded and $Junk)",
        )?,
        max_connections: check.at_least(
            "imap.max_connections",
            file.max_connections,
            1000,
            1,
            "",
        )?,
        max_connections_per_ip: check.at_least(
            "imap.max_connections_per_ip",
            file.max_connections_per_ip,
            20,
            1,
            "",
        )?,
    })
}

fn submission_config(
    file: &crate::schema::SubmissionFile,
    check: &Checker,
) -> Result<SubmissionConfig, ConfigError> {
    let send_as_any = file
        .send_as_any
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, text)| {
            Address::parse(text).map_err(|e| {
                check.err(
                    format!("submission.send_as_any[{i}]"),
                    format!("{text:?} is not an address: {e} (such as \"app@example.org\")"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SubmissionConfig {
        send_as_any,
        max_connections: check.at_least(
            "submission.max_connections",
            file.max_connections,
            500,
            1,
            "",
        )?,
        max_connections_per_ip: check.at_least(
            "submission.max_connections_per_ip",
            file.max_connections_per_ip,
            20,
            1,
            "",
        )?,
    })
}

/// "90s", "5m", "2h", "5d": the durations of `[outbound]`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit; write it as 30s, 5m, 2h or 5d"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} does not start with a number; write it as 30s, 5m, 2h or 5d")
    })?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} has an unknown unit; use s, m, h or d")),
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

fn outbound_config(
    file: &crate::schema::OutboundFile,
    check: &Checker,
) -> Result<OutboundConfig, ConfigError> {
    let dns_servers = file
        .dns_servers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, text)| {
            text.parse::<SocketAddr>().map_err(|_| {
                check.err(
                    format!("outbound.dns_servers[{i}]"),
                    format!("{text:?} is not \"ip:port\" (such as \"127.0.0.1:53\")"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let default_intervals = ["5m", "10m", "30m", "1h", "2h", "4h"]
        .map(String::from)
        .to_vec();
    let retry_intervals = file
        .retry_intervals
        .as_ref()
        .unwrap_or(&default_intervals)
        .iter()
        .enumerate()
        .map(|(i, text)| match parse_duration(text) {
            Ok(d) if d.is_zero() => Err(check.err(
                format!("outbound.retry_intervals[{i}]"),
                "a wait of 0 would retry without pause; give at least 1s",
            )),
            Ok(d) => Ok(d),
            Err(e) => Err(check.err(format!("outbound.retry_intervals[{i}]"), e)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if retry_intervals.is_empty() {
        return Err(check.err(
            "outbound.retry_intervals",
            "needs at least one wait, such as [\"5m\"]",
        ));
    }
    let max_age = parse_duration(file.max_age.as_deref().unwrap_or("5d"))
        .map_err(|e| check.err("outbound.max_age", e))?;
    if max_age.is_zero() {
        return Err(check.err("outbound.max_age", "must be at least 1s"));
    }
    let delay_warning = parse_duration(file.delay_warning.as_deref().unwrap_or("0s"))
        .map_err(|e| check.err("outbound.delay_warning", e))?;
    Ok(OutboundConfig {
        delay_warning,
        dns_servers,
        remote_port: check.at_least("outbound.remote_port", file.remote_port, 25, 1, "")?,
        retry_intervals,
        max_age,
        max_connections: check.at_least(
            "outbound.max_connections",
            file.max_connections,
            100,
            1,
            "",
        )?,
        max_connections_per_domain: check.at_least(
            "outbound.max_connections_per_domain",
            file.max_connections_per_domain,
            10,
            1,
            "",
        )?,
        connect_timeout: Duration::from_secs(check.at_least(
            "outbound.connect_timeout",
            file.connect_timeout,
            30,
            1,
            " second",
        )?),
    })
}

fn auth_config(
    a: &crate::schema::AuthFile,
    clients: PrefixLengths,
    check: &Checker,
) -> Result<AuthConfig, ConfigError> {
    let plaintext_without_tls = check.choice(
        "auth.plaintext_without_tls",
        a.plaintext_without_tls.as_deref(),
        "loopback",
        &[
            ("never", PlaintextAuth::Never),
            ("loopback", PlaintextAuth::Loopback),
            ("always", PlaintextAuth::Always),
        ],
    )?;
    let argon2_parallelism =
        check.at_least("auth.argon2_parallelism", a.argon2_parallelism, 1, 1, "")?;
    if argon2_parallelism > 16 {
        return Err(check.err("auth.argon2_parallelism", "must be between 1 and 16"));
    }
    let account_delay_ms = a.account_delay_ms.unwrap_or(250);
    // The owner of an attacked account waits this long too, whatever strangers do.
    if account_delay_ms > 1000 {
        return Err(check.err(
            "auth.account_delay_ms",
            format!(
                "{account_delay_ms} is too large; at most 1000, so that strangers cannot \
                 delay an account's owner by more than a moment"
            ),
        ));
    }
    let failure_delay_ms = a.failure_delay_ms.unwrap_or(1000);
    let auth = AuthConfig {
        argon2_memory_kib: check.at_least(
            "auth.argon2_memory_kib",
            a.argon2_memory_kib,
            19 * 1024,
            8 * argon2_parallelism,
            " (8 × auth.argon2_parallelism)",
        )?,
        argon2_iterations: check.at_least(
            "auth.argon2_iterations",
            a.argon2_iterations,
            2,
            1,
            "",
        )?,
        argon2_parallelism,
        plaintext_without_tls,
        max_failures_per_ip: check.at_least(
            "auth.max_failures_per_ip",
            a.max_failures_per_ip,
            10,
            1,
            "",
        )?,
        max_failures_per_network: check.at_least(
            "auth.max_failures_per_network",
            a.max_failures_per_network,
            30,
            1,
            "",
        )?,
        network: network_prefixes(a, clients, check)?,
        max_failures_per_account: check.at_least(
            "auth.max_failures_per_account",
            a.max_failures_per_account,
            10,
            1,
            "",
        )?,
        account_delay: Duration::from_millis(account_delay_ms),
        failure_window: Duration::from_secs(check.at_least(
            "auth.failure_window",
            a.failure_window,
            900,
            1,
            " second",
        )?),
        failure_delay: Duration::from_millis(failure_delay_ms),
        failure_delay_max: Duration::from_millis(check.at_least(
            "auth.failure_delay_max_ms",
            a.failure_delay_max_ms,
            15_000.max(failure_delay_ms),
            failure_delay_ms,
            " (auth.failure_delay_ms)",
        )?),
    };
    Ok(auth)
}

/// `[clients]`: which addresses are one client.
fn client_prefixes(
    file: &crate::schema::ClientsFile,
    check: &Checker,
) -> Result<PrefixLengths, ConfigError> {
    let (v4, v6) = (
        file.ipv4_prefix.unwrap_or(32),
        file.ipv6_prefix.unwrap_or(64),
    );
    PrefixLengths::new(v4, v6).map_err(|e| match e {
        tern_types::PrefixError::Ipv4(_) => check.err("clients.ipv4_prefix", e.to_string()),
        tern_types::PrefixError::Ipv6(_) => check.err("clients.ipv6_prefix", e.to_string()),
    })
}

/// `auth.network_ipv4_prefix` and `auth.network_ipv6_prefix`: a network holds whole clients,
/// so its prefix is no longer than the client's.
fn network_prefixes(
    a: &crate::schema::AuthFile,
    clients: PrefixLengths,
    check: &Checker,
) -> Result<PrefixLengths, ConfigError> {
    let v4 = a.network_ipv4_prefix.unwrap_or(24).min(clients.ipv4());
    let v6 = a.network_ipv6_prefix.unwrap_or(48).min(clients.ipv6());
    for (key, set, client, client_key) in [
        (
            "auth.network_ipv4_prefix",
            a.network_ipv4_prefix,
            clients.ipv4(),
            "clients.ipv4_prefix",
        ),
        (
            "auth.network_ipv6_prefix",
            a.network_ipv6_prefix,
            clients.ipv6(),
            "clients.ipv6_prefix",
        ),
    ] {
        if let Some(n) = set.filter(|n| *n > client) {
            return Err(check.err(
                key,
                format!(
                    "{n} is longer than {client_key} ({client}); a network holds whole clients"
                ),
            ));
        }
    }
    PrefixLengths::new(v4, v6).map_err(|e| check.err("auth.network_ipv4_prefix", e.to_string()))
}

fn pop3_config(file: &crate::Pop3File, check: &Checker) -> Result<Pop3Config, ConfigError> {
    Ok(Pop3Config {
        // RFC 1939 §3: an autologout timer of at least 10 minutes.
        idle_timeout: Duration::from_secs(check.at_least(
            "pop3.idle_timeout",
            file.idle_timeout,
            600,
            600,
            " seconds (RFC 1939 §3)",
        )?),
        max_command_line: check.at_least(
            "pop3.max_command_line",
            file.max_command_line,
            255,
            255,
            " octets (RFC 2449 §4)",
        )?,
        command_timeout: Duration::from_secs(check.at_least(
            "pop3.command_timeout",
            file.command_timeout,
            60,
            1,
            " second",
        )?),
        max_connections: check.at_least(
            "pop3.max_connections",
            file.max_connections,
            1000,
            1,
            "",
        )?,
        max_connections_per_ip: check.at_least(
            "pop3.max_connections_per_ip",
            file.max_connections_per_ip,
            20,
            1,
            "",
        )?,
    })
}

fn smtp_config(file: &crate::SmtpFile, check: &Checker) -> Result<SmtpConfig, ConfigError> {
    Ok(SmtpConfig {
        max_message_size: check.at_least(
            "smtp.max_message_size",
            file.max_message_size,
            50 * 1024 * 1024,
            1024,
            "",
        )?,
        max_recipients: check.at_least("smtp.max_recipients", file.max_recipients, 100, 1, "")?,
        // RFC 5321 §4.5.3.1.4: 512 octets is the minimum a server must accept.
        max_command_line: check.at_least(
            "smtp.max_command_line",
            file.max_command_line,
            512,
            512,
            " (RFC 5321 §4.5.3.1.4)",
        )?,
        // RFC 5321 §4.5.3.1.6: 1000 octets including CRLF is the minimum for text lines.
        max_text_line: check.at_least(
            "smtp.max_text_line",
            file.max_text_line,
            65536,
            998,
            " (RFC 5321 §4.5.3.1.6)",
        )?,
        max_bad_commands: check.at_least(
            "smtp.max_bad_commands",
            file.max_bad_commands,
            10,
            1,
            "",
        )?,
        idle_timeout: Duration::from_secs(check.at_least(
            "smtp.idle_timeout",
            file.idle_timeout,
            300,
            1,
            "",
        )?),
        // RFC 5321 §4.5.3.2.6: the data, as a whole, gets 10 minutes by default.
        data_timeout: Duration::from_secs(check.at_least(
            "smtp.data_timeout",
            file.data_timeout,
            600,
            1,
            " second",
        )?),
        max_connections: check.at_least(
            "smtp.max_connections",
            file.max_connections,
            1000,
            1,
            "",
        )?,
        max_connections_per_ip: check.at_least(
            "smtp.max_connections_per_ip",
            file.max_connections_per_ip,
            20,
            1,
            "",
        )?,
        greeting_delay: Duration::from_millis(file.greeting_delay_ms.unwrap_or(0)),
        over_quota_permanent: check.choice(
            "smtp.over_quota",
            file.over_quota.as_deref(),
            "temporary",
            &[("temporary", false), ("permanent", true)],
        )?,
    })
}

/// The `[mime]` keys; every limit must let at least something through.
fn mime_limits(file: &crate::schema::MimeFile, check: &Checker) -> Result<MimeLimits, ConfigError> {
    let d = MimeLimits::default();
    let limits = MimeLimits {
        max_depth: check.at_least("mime.max_depth", file.max_depth, d.max_depth, 1, "")?,
        max_parts: check.at_least("mime.max_parts", file.max_parts, d.max_parts, 1, "")?,
        max_header_fields: check.at_least(
            "mime.max_header_fields",
            file.max_header_fields,
            d.max_header_fields,
            1,
            "",
        )?,
        max_header_bytes: check.at_least(
            "mime.max_header_bytes",
            file.max_header_bytes,
            d.max_header_bytes,
            1024,
            " octets",
        )?,
        max_header_line: check.at_least(
            "mime.max_header_line",
            file.max_header_line,
            d.max_header_line,
            1000,
            " octets (RFC 5322 §2.1.1 allows 998 per line)",
        )?,
        max_rfc2231_segments: check.at_least(
            "mime.max_rfc2231_segments",
            file.max_rfc2231_segments,
            d.max_rfc2231_segments,
            1,
            "",
        )?,
        max_decoded_size: check.at_least(
            "mime.max_decoded_size",
            file.max_decoded_size,
            d.max_decoded_size,
            0,
            " octets",
        )?,
    };
    // The part tree is walked recursively: keep its depth well inside a thread's stack.
    if limits.max_depth > 256 {
        return Err(check.err(
            "mime.max_depth",
            format!("{} is too large; at most 256", limits.max_depth),
        ));
    }
    Ok(limits)
}
