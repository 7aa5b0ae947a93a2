//! Where mail for `<Postmaster>` goes. RFC 5321 §4.5.1: every SMTP server must accept mail
//! for `Postmaster` (no domain, any case) and deliver it to whoever answers for the system.

use tern_store::{AccountInfo, Directory, RecipientPolicy, Resolution, StoreError};
use tern_types::{Address, LocalPart};

/// Why mail for `<Postmaster>` cannot be delivered now. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PostmasterError {
    #[error(
        "mail for <Postmaster> has nowhere to go: there is no local domain and no `postmaster` \
         key in the configuration (add a domain with `tern domain add`, or set `postmaster`)"
    )]
    NoLocalDomain,
    #[error(
        "mail for <Postmaster> goes to {0}, which is neither an account nor an alias (create it \
         with `tern user add {0}` or `tern alias add {0} ACCOUNT`, or set the `postmaster` key \
         of the configuration)"
    )]
    Unresolved(Address),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The postmaster address, `configured` or else `postmaster@` the first local domain (the
/// first of `tern domain list`), and the accounts it resolves to like any recipient.
pub async fn resolve_postmaster(
    configured: Option<&Address>,
    directory: &dyn Directory,
    policy: RecipientPolicy,
) -> Result<(Address, Vec<AccountInfo>), PostmasterError> {
    let address = match configured {
        Some(address) => address.clone(),
        None => {
            let domain = directory
                .list_domains()
                .await?
                .into_iter()
                .next()
                .ok_or(PostmasterError::NoLocalDomain)?;
            let local = LocalPart::parse("postmaster")
                .map_err(|e| StoreError::Internal(format!("the local part postmaster: {e}")))?;
            Address::new(local, domain)
        }
    };
    match directory.resolve_recipient(&address, policy).await? {
        Resolution::Accounts(accounts) => Ok((address, accounts)),
        Resolution::UnknownUser | Resolution::NotLocal => Err(PostmasterError::Unresolved(address)),
    }
}
