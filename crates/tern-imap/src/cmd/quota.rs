//! QUOTA (RFC 9208): one quota root per account, named "", holding its storage limit (what
//! `tern user add --quota` sets); every mailbox of the account is under it.

use tern_store::Resolution;

use crate::respond::{string, tagged};
use crate::session::{store_failure, Session};

/// The account's storage use and limit in KiB (RFC 9208 §5.1: STORAGE counts 1024 octets),
/// `None` when it has no limit.
type Storage = Option<(u64, u64)>;

impl Session {
    async fn storage(&self) -> Result<Storage, tern_store::StoreError> {
        let Some(user) = self.account() else {
            return Ok(None);
        };
        let resolution = self
            .shared
            .stores
            .directory
            .resolve_recipient(&user.address, self.shared.settings.recipients)
            .await?;
        let Resolution::Accounts(accounts) = resolution else {
            return Ok(None);
        };
        Ok(accounts
            .iter()
            .find(|a| a.id == user.id)
            .filter(|a| a.quota_bytes > 0)
            .map(|a| (a.used_bytes.div_ceil(1024), a.quota_bytes / 1024)))
    }

    fn quota_line(out: &mut Vec<u8>, (used, limit): (u64, u64)) {
        out.extend_from_slice(format!("* QUOTA \"\" (STORAGE {used} {limit})\r\n").as_bytes());
    }

    pub(crate) async fn get_quota_root(&mut self, out: &mut Vec<u8>, tag: &str, name: &str) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        let mailbox = match self.find_mailbox(name).await {
            Ok(mailbox) => mailbox,
            Err(why) => return tagged(out, tag, "NO", &why),
        };
        let storage = match self.storage().await {
            Ok(storage) => storage,
            Err(e) => return store_failure(out, tag, &e),
        };
        let mut line = b"* QUOTAROOT ".to_vec();
        string(&mut line, &self.encode_name(&mailbox.name), self.utf8);
        // RFC 9208 §4.3.2: a mailbox without a quota root has none listed.
        if storage.is_some() {
            line.extend_from_slice(b" \"\"");
        }
        line.extend_from_slice(b"\r\n");
        out.extend_from_slice(&line);
        if let Some(storage) = storage {
            Self::quota_line(out, storage);
        }
        tagged(out, tag, "OK", "GETQUOTAROOT completed");
    }

    pub(crate) async fn get_quota(&mut self, out: &mut Vec<u8>, tag: &str, root: &str) {
        if self.account().is_none() {
            return tagged(out, tag, "BAD", "Log in first");
        }
        match (root, self.storage().await) {
            ("", Ok(Some(storage))) => {
                Self::quota_line(out, storage);
                tagged(out, tag, "OK", "GETQUOTA completed");
            }
            (_, Err(e)) => store_failure(out, tag, &e),
            _ => tagged(out, tag, "NO", "[NONEXISTENT] No such quota root"),
        }
    }
}
