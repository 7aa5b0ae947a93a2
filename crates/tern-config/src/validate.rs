//! From the file's shape to a [`Config`]: values checked, defaults filled, paths resolved.

use std::net::SocketAddr;
use std::path::Path;

use tern_types::Domain;

use crate::schema::ConfigFile;
use crate::{
    AddressConfig, AuthConfig, Config, ConfigError, PlaintextAuth, Pop3Config, Protocol,
    SmtpConfig, Source, StoreConfig, TlsFiles,
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

    let auth = auth_config(&file.auth, &check)?;
    let smtp = smtp_config(&file.smtp, &check)?;
    let pop3 = pop3_config(&file.pop3, &check)?;

    Ok(Config {
        source,
        hostname,
        data_dir,
        log_level,
        listen,
        tls,
        store: StoreConfig {
            inline_blob_max: inline_blob_max as usize,
        },
        addresses: AddressConfig {
            case_sensitive_local_part: file.addresses.case_sensitive_local_part.unwrap_or(false),
            detail_separator,
        },
        auth,
        smtp,
        pop3,
    })
}

fn auth_config(a: &crate::schema::AuthFile, check: &Checker) -> Result<AuthConfig, ConfigError> {
    let plaintext_without_tls = match a.plaintext_without_tls.as_deref().unwrap_or("loopback") {
        "never" => PlaintextAuth::Never,
        "loopback" => PlaintextAuth::Loopback,
        "always" => PlaintextAuth::Always,
        other => {
            return Err(check.err(
                "auth.plaintext_without_tls",
                format!("{other:?} is not \"never\", \"loopback\" or \"always\""),
            ))
        }
    };
    let auth = AuthConfig {
        argon2_memory_kib: a.argon2_memory_kib.unwrap_or(19 * 1024),
        argon2_iterations: a.argon2_iterations.unwrap_or(2),
        argon2_parallelism: a.argon2_parallelism.unwrap_or(1),
        plaintext_without_tls,
        max_failures_per_ip: a.max_failures_per_ip.unwrap_or(10),
        max_failures_per_account: a.max_failures_per_account.unwrap_or(10),
        failure_window: std::time::Duration::from_secs(a.failure_window.unwrap_or(900)),
        failure_delay: std::time::Duration::from_millis(a.failure_delay_ms.unwrap_or(1000)),
    };
    if auth.argon2_parallelism == 0 || auth.argon2_parallelism > 16 {
        return Err(check.err("auth.argon2_parallelism", "must be between 1 and 16"));
    }
    if auth.argon2_iterations == 0 {
        return Err(check.err("auth.argon2_iterations", "must be at least 1"));
    }
    if auth.argon2_memory_kib < 8 * auth.argon2_parallelism {
        return Err(check.err(
            "auth.argon2_memory_kib",
            format!(
                "must be at least 8 × auth.argon2_parallelism = {}",
                8 * auth.argon2_parallelism
            ),
        ));
    }
    for (key, value) in [
        ("max_failures_per_ip", auth.max_failures_per_ip),
        ("max_failures_per_account", auth.max_failures_per_account),
    ] {
        if value == 0 {
            return Err(check.err(format!("auth.{key}"), "must be at least 1"));
        }
    }
    if auth.failure_window.is_zero() {
        return Err(check.err("auth.failure_window", "must be at least 1 second"));
    }
    Ok(auth)
}

fn pop3_config(file: &crate::Pop3File, check: &Checker) -> Result<Pop3Config, ConfigError> {
    let idle_timeout = file.idle_timeout.unwrap_or(600);
    // RFC 1939 §3: an autologout timer of at least 10 minutes.
    if idle_timeout < 600 {
        return Err(check.err(
            "pop3.idle_timeout",
            format!("{idle_timeout} is below the 600 seconds RFC 1939 §3 requires"),
        ));
    }
    let max_command_line = file.max_command_line.unwrap_or(255);
    if max_command_line < 255 {
        return Err(check.err(
            "pop3.max_command_line",
            format!("{max_command_line} is below the 255 octets RFC 2449 §4 allows clients"),
        ));
    }
    let max_connections = file.max_connections.unwrap_or(1000);
    let max_connections_per_ip = file.max_connections_per_ip.unwrap_or(20);
    for (key, value) in [
        ("max_connections", max_connections),
        ("max_connections_per_ip", max_connections_per_ip),
    ] {
        if value == 0 {
            return Err(check.err(format!("pop3.{key}"), "must be at least 1"));
        }
    }
    Ok(Pop3Config {
        idle_timeout: std::time::Duration::from_secs(idle_timeout),
        max_command_line,
        max_connections,
        max_connections_per_ip,
    })
}

fn smtp_config(file: &crate::SmtpFile, check: &Checker) -> Result<SmtpConfig, ConfigError> {
    let at_least = |key: &str, value: u64, min: u64| -> Result<u64, ConfigError> {
        if value < min {
            return Err(check.err(
                format!("smtp.{key}"),
                format!("{value} is too small; at least {min}"),
            ));
        }
        Ok(value)
    };
    let max_message_size = at_least(
        "max_message_size",
        file.max_message_size.unwrap_or(50 * 1024 * 1024),
        1024,
    )?;
    let max_recipients = at_least(
        "max_recipients",
        file.max_recipients.unwrap_or(100).into(),
        1,
    )? as u32;
    // RFC 5321 §4.5.3.1.4: 512 octets is the minimum a server must accept.
    let max_command_line = at_least(
        "max_command_line",
        file.max_command_line.unwrap_or(512).into(),
        512,
    )? as u32;
    // RFC 5321 §4.5.3.1.6: 1000 octets including CRLF is the minimum for text lines.
    let max_text_line = at_least(
        "max_text_line",
        file.max_text_line.unwrap_or(65536).into(),
        998,
    )? as u32;
    let max_bad_commands = at_least(
        "max_bad_commands",
        file.max_bad_commands.unwrap_or(10).into(),
        1,
    )? as u32;
    let idle_timeout = at_least("idle_timeout", file.idle_timeout.unwrap_or(300), 1)?;
    let max_connections = at_least(
        "max_connections",
        file.max_connections.unwrap_or(1000).into(),
        1,
    )? as u32;
    let max_connections_per_ip = at_least(
        "max_connections_per_ip",
        file.max_connections_per_ip.unwrap_or(20).into(),
        1,
    )? as u32;
    let over_quota_permanent = match file.over_quota.as_deref().unwrap_or("temporary") {
        "temporary" => false,
        "permanent" => true,
        other => {
            return Err(check.err(
                "smtp.over_quota",
                format!("{other:?} is not \"temporary\" (452 4.2.2) or \"permanent\" (552 5.2.2)"),
            ))
        }
    };
    Ok(SmtpConfig {
        max_message_size,
        max_recipients,
        max_command_line,
        max_text_line,
        max_bad_commands,
        idle_timeout: std::time::Duration::from_secs(idle_timeout),
        max_connections,
        max_connections_per_ip,
        greeting_delay: std::time::Duration::from_millis(file.greeting_delay_ms.unwrap_or(0)),
        over_quota_permanent,
    })
}
