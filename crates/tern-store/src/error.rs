//! The one error type of every store operation.

/// What went wrong in a store operation. Protocol crates map these to their wire replies:
/// `NotFound`/`AlreadyExists`/`Invalid` are the user's (5xx, NO), `OverQuota`
/// is the recipient's (452/552, NO [OVERQUOTA]), `Temporary` asks to retry
/// (4xx, NO [UNAVAILABLE]), `Internal` is a bug or corruption (logged, no detail to the peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    /// The operation would take an account past its storage quota (RFC 9208 §5.1 OVERQUOTA,
    /// RFC 3463 4.2.2 / 5.2.2): nothing was stored.
    #[error("{0} is over its storage quota")]
    OverQuota(String),
    /// The operation would take an account past a count limit of the store (its mailboxes,
    /// its subscriptions; RFC 9051 §7.1 LIMIT): nothing changed.
    #[error("{0}")]
    Limit(String),
    /// The operation did not happen and may succeed later: a failed fsync, a full disk, a
    /// locked database. Never retried into a success behind the caller's back.
    #[error("temporary store failure: {0}")]
    Temporary(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
