//! Domains, accounts and aliases: who is local, and where mail for an address goes.

use async_trait::async_trait;
use tern_types::{AccountId, Address, Domain};

use crate::StoreResult;

/// An account as listings and recipient checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: AccountId,
    pub address: Address,
    /// Bytes allowed; 0 means no limit.
    pub quota_bytes: u64,
    /// Bytes of stored messages, kept in the same transaction as every append and expunge.
    pub used_bytes: u64,
}

impl AccountInfo {
    /// Whether `extra` more bytes would exceed the quota.
    pub fn would_exceed_quota(&self, extra: u64) -> bool {
        self.quota_bytes != 0 && self.used_bytes.saturating_add(extra) > self.quota_bytes
    }
}

/// What a login needs: the account and its argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountAuth {
    pub id: AccountId,
    pub address: Address,
    pub password_hash: String,
}

impl std::fmt::Debug for AccountAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountAuth")
            .field("id", &self.id)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The address side of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AliasSource {
    /// One address, such as `postmaster@example.org`.
    Address(Address),
    /// Everything at a domain that matches nothing else (`@example.org`).
    CatchAll(Domain),
}

impl AliasSource {
    pub fn domain(&self) -> &Domain {
        match self {
            AliasSource::Address(a) => a.domain(),
            AliasSource::CatchAll(d) => d,
        }
    }
}

impl std::fmt::Display for AliasSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AliasSource::Address(a) => a.fmt(f),
            AliasSource::CatchAll(d) => write!(f, "@{d}"),
        }
    }
}

impl std::str::FromStr for AliasSource {
    type Err = tern_types::AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix('@') {
            Some(domain) => Ok(AliasSource::CatchAll(Domain::parse(domain)?)),
            None => Ok(AliasSource::Address(Address::parse(s)?)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    pub source: AliasSource,
    pub targets: Vec<Address>,
}

/// How local parts are matched; from the `[addresses]` section of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientPolicy {
    /// RFC 5321 §2.4 lets the local part be case-sensitive; users expect it not to be.
    pub case_sensitive: bool,
    /// `alice+news@` reaches `alice@` when this is `Some('+')`.
    pub detail_separator: Option<char>,
}

impl Default for RecipientPolicy {
    fn default() -> Self {
        Self {
            case_sensitive: false,
            detail_separator: Some('+'),
        }
    }
}

/// Where mail for one address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// One or more local accounts (an alias may fan out). Never empty.
    Accounts(Vec<AccountInfo>),
    /// The domain is ours but nothing matches the address.
    UnknownUser,
    /// The domain is not one of ours.
    NotLocal,
}

#[async_trait]
pub trait Directory: Send + Sync {
    async fn add_domain(&self, domain: &Domain) -> StoreResult<()>;
    /// Refused while the domain still has accounts; its aliases go with it.
    async fn remove_domain(&self, domain: &Domain) -> StoreResult<()>;
    async fn list_domains(&self) -> StoreResult<Vec<Domain>>;
    async fn is_local_domain(&self, domain: &Domain) -> StoreResult<bool>;

    /// Creates the account and its default mailboxes ([`crate::DEFAULT_MAILBOXES`]).
    async fn add_account(
        &self,
        address: &Address,
        password_hash: &str,
        quota_bytes: u64,
    ) -> StoreResult<AccountId>;
    async fn set_password(&self, address: &Address, password_hash: &str) -> StoreResult<()>;
    async fn set_quota(&self, address: &Address, quota_bytes: u64) -> StoreResult<()>;
    /// Removes the account, its mailboxes and messages, and its place in aliases. Mail still
    /// waiting in the queue for it becomes a failure ("account removed") in the same
    /// transaction: kept in the queue and reported, never silently dropped.
    async fn remove_account(&self, address: &Address) -> StoreResult<()>;
    async fn list_accounts(&self, domain: Option<&Domain>) -> StoreResult<Vec<AccountInfo>>;
    async fn account(&self, id: AccountId) -> StoreResult<AccountInfo>;
    /// The account a login name refers to (no alias or plus-address expansion).
    async fn account_auth(
        &self,
        address: &Address,
        policy: RecipientPolicy,
    ) -> StoreResult<Option<AccountAuth>>;

    /// The account a login name (an address) stands for and its stored hash, for
    /// `tern_auth::Authenticator::login`: `None` for a name that is no address or no account.
    async fn login_account(
        &self,
        login: &str,
        policy: RecipientPolicy,
    ) -> StoreResult<Option<(AccountAuth, String)>> {
        let Ok(address) = Address::parse(login) else {
            return Ok(None);
        };
        let account = self.account_auth(&address, policy).await?;
        Ok(account.map(|a| {
            let hash = a.password_hash.clone();
            (a, hash)
        }))
    }

    /// Adds targets to the alias, creating it if needed. Every target must be an account.
    async fn add_alias(&self, source: &AliasSource, targets: &[Address]) -> StoreResult<()>;
    async fn remove_alias(&self, source: &AliasSource) -> StoreResult<()>;
    async fn list_aliases(&self, domain: Option<&Domain>) -> StoreResult<Vec<AliasInfo>>;

    /// Account, then alias, then the same without the `+detail`, then the domain's catch-all.
    async fn resolve_recipient(
        &self,
        address: &Address,
        policy: RecipientPolicy,
    ) -> StoreResult<Resolution>;
}
