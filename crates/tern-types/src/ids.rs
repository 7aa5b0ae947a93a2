//! Identifiers. Each is its own type so that a UID can never be passed where a MODSEQ belongs.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $inner);

        impl $name {
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account's row id.
    AccountId(i64)
);
id_type!(
    /// A mailbox's row id (not its name: names can be renamed).
    MailboxId(i64)
);
id_type!(
    /// RFC 9051 §2.3.1.1: a message's unique identifier within its mailbox and UIDVALIDITY.
    Uid(u32)
);
id_type!(
    /// RFC 9051 §2.3.1.1: changes when UIDs of a mailbox name can no longer be trusted.
    UidValidity(u32)
);
id_type!(
    /// RFC 7162 §3.1: the modification sequence of a mailbox change; strictly increasing.
    ModSeq(u64)
);
id_type!(
    /// A message the store accepted: its name in logs, in the SMTP reply and in the queue if
    /// it waits there. Never reused within a store.
    QueueId(i64)
);
id_type!(
    /// One recipient of a queued message (each has its own delivery state).
    RecipientId(i64)
);

/// The SHA-256 of a blob's bytes: its name in the blob store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}
