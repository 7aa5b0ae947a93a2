//! Configuration errors: each names the file, the key, and what would be valid.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}: {message} (give another file with --config, or leave --config out to run on the built-in default)", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{source_name}{}: {message}", location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default())]
    Syntax {
        source_name: String,
        location: Option<String>,
        message: String,
    },
    #[error("{source_name}: key `{key}`: {message}")]
    Key {
        source_name: String,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}
