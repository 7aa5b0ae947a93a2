//! From the file's shape to a [`Config`]: values checked, defaults filled, paths resolved.

use std::net::SocketAddr;
use std::path::Path;

use tern_types::Domain;

use crate::schema::ConfigFile;
use crate::{
    AddressConfig, AuthConfig, Config, ConfigError, Protocol, Source, StoreConfig, TlsFiles,
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

    let a = &file.auth;
    let auth = AuthConfig {
        argon2_memory_kib: a.argon2_memory_kib.unwrap_or(19 * 1024),
        argon2_iterations: a.argon2_iterations.unwrap_or(2),
        argon2_parallelism: a.argon2_parallelism.unwrap_or(1),
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
    })
}
