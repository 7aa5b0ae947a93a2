//! Domains, accounts and aliases in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tern_store::{
    AccountAuth, AccountInfo, AliasInfo, AliasSource, Directory, RecipientPolicy, Resolution,
    StoreError, StoreResult, DEFAULT_MAILBOXES,
};
use tern_types::{AccountId, Address, Domain, LocalPart};

use crate::convert::{is_duplicate, now, sql_err, Cached};
use crate::mailbox::create_mailbox_in;
use crate::SqliteStore;

const ACCOUNT_COLUMNS: &str = "a.id, a.local, d.name, a.quota_bytes, a.used_bytes, a.password_hash";

struct AccountRow {
    info: AccountInfo,
    password_hash: String,
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    let local: String = r.get(1)?;
    let domain: String = r.get(2)?;
    let address = LocalPart::parse(&local)
        .and_then(|l| Ok(Address::new(l, Domain::parse(&domain)?)))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok(AccountRow {
        info: AccountInfo {
            id: AccountId(r.get(0)?),
            address,
            quota_bytes: r.get::<_, i64>(3)? as u64,
            used_bytes: r.get::<_, i64>(4)?.max(0) as u64,
        },
        password_hash: r.get(5)?,
    })
}

fn domain_id(conn: &Connection, domain: &Domain) -> StoreResult<Option<i64>> {
    conn.row(
        "SELECT id FROM domains WHERE name = ?1",
        [domain.as_str()],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err)
}

fn require_domain(conn: &Connection, domain: &Domain) -> StoreResult<i64> {
    domain_id(conn, domain)?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "domain {domain} (add it with `tern domain add {domain}`)"
        ))
    })
}

/// The account whose local part matches under `policy`.
fn find_account(
    conn: &Connection,
    domain_id: i64,
    local: &str,
    policy: RecipientPolicy,
) -> StoreResult<Option<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN domains d ON d.id = a.domain_id
          WHERE a.domain_id = ?1 AND a.local_key = ?2"
    );
    let row = conn
        .row(&sql, params![domain_id, local.to_lowercase()], account_row)
        .optional()
        .map_err(sql_err)?;
    Ok(row.filter(|r| !policy.case_sensitive || r.info.address.local().as_str() == local))
}

fn require_account(conn: &Connection, address: &Address) -> StoreResult<AccountRow> {
    let domain = require_domain(conn, address.domain())?;
    find_account(
        conn,
        domain,
        address.local().as_str(),
        RecipientPolicy::default(),
    )?
    .ok_or_else(|| StoreError::NotFound(format!("account {address}")))
}

/// The accounts an alias (or, with `local_key` empty, the catch-all) points at.
fn find_alias(
    conn: &Connection,
    domain_id: i64,
    local: &str,
    policy: RecipientPolicy,
) -> StoreResult<Option<Vec<AccountInfo>>> {
    let alias: Option<(i64, String)> = conn
        .row(
            "SELECT id, local FROM aliases WHERE domain_id = ?1 AND local_key = ?2",
            params![domain_id, local.to_lowercase()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_err)?;
    let Some((alias_id, spelling)) = alias else {
        return Ok(None);
    };
    if policy.case_sensitive && spelling != local {
        return Ok(None);
    }
    Ok(Some(alias_targets(conn, alias_id)?))
}

fn alias_targets(conn: &Connection, alias_id: i64) -> StoreResult<Vec<AccountInfo>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM alias_targets t
           JOIN accounts a ON a.id = t.account_id JOIN domains d ON d.id = a.domain_id
          WHERE t.alias_id = ?1 ORDER BY a.id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let rows = stmt
        .query_map([alias_id], account_row)
        .map_err(sql_err)?
        .map(|r| r.map(|row| row.info))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?;
    Ok(rows)
}

/// Account or alias for one local part; `None` when neither matches (or an alias has lost
/// all its targets).
fn resolve_local(
    conn: &Connection,
    domain_id: i64,
    local: &str,
    policy: RecipientPolicy,
) -> StoreResult<Option<Vec<AccountInfo>>> {
    if let Some(row) = find_account(conn, domain_id, local, policy)? {
        return Ok(Some(vec![row.info]));
    }
    Ok(find_alias(conn, domain_id, local, policy)?.filter(|t| !t.is_empty()))
}

fn resolve(
    conn: &Connection,
    address: &Address,
    policy: RecipientPolicy,
) -> StoreResult<Resolution> {
    let Some(domain_id) = domain_id(conn, address.domain())? else {
        return Ok(Resolution::NotLocal);
    };
    let local = address.local().as_str();
    if let Some(accounts) = resolve_local(conn, domain_id, local, policy)? {
        return Ok(Resolution::Accounts(accounts));
    }
    // Plus-addressing: `alice+news` is `alice` with the detail `news`.
    if let Some(sep) = policy.detail_separator {
        if let Some((base, _detail)) = local.split_once(sep) {
            if !base.is_empty() {
                if let Some(accounts) = resolve_local(conn, domain_id, base, policy)? {
                    return Ok(Resolution::Accounts(accounts));
                }
            }
        }
    }
    let catch_all = RecipientPolicy {
        case_sensitive: false,
        ..policy
    };
    match find_alias(conn, domain_id, "", catch_all)?.filter(|t| !t.is_empty()) {
        Some(accounts) => Ok(Resolution::Accounts(accounts)),
        None => Ok(Resolution::UnknownUser),
    }
}

#[async_trait]
impl Directory for SqliteStore {
    async fn add_domain(&self, domain: &Domain) -> StoreResult<()> {
        let domain = domain.clone();
        self.inner
            .writer
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO domains (name, created) VALUES (?1, ?2)",
                    params![domain.as_str(), now()],
                )
                .map_err(|e| match is_duplicate(&e) {
                    true => StoreError::AlreadyExists(format!("domain {domain}")),
                    false => sql_err(e),
                })?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn remove_domain(&self, domain: &Domain) -> StoreResult<()> {
        let domain = domain.clone();
        self.inner
            .writer
            .write(move |conn| {
                let id = require_domain(conn, &domain)?;
                let accounts: i64 = conn
                    .row(
                        "SELECT count(*) FROM accounts WHERE domain_id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                if accounts > 0 {
                    return Err(StoreError::Invalid(format!(
                        "domain {domain} still has {accounts} account(s); remove them first \
                         (`tern user list {domain}`, `tern user remove ADDRESS`)"
                    )));
                }
                conn.exec("DELETE FROM domains WHERE id = ?1", [id])
                    .map_err(sql_err)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn list_domains(&self) -> StoreResult<Vec<Domain>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn
                    .prepare("SELECT name FROM domains ORDER BY name")
                    .map_err(sql_err)?;
                let names = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                names
                    .iter()
                    .map(|n| {
                        Domain::parse(n)
                            .map_err(|e| StoreError::Internal(format!("stored domain {n:?}: {e}")))
                    })
                    .collect()
            })
            .await
    }

    async fn is_local_domain(&self, domain: &Domain) -> StoreResult<bool> {
        // A look-up by key: on this thread (see `ReadPool::read_now`).
        self.inner
            .readers
            .read_now(|conn| Ok(domain_id(conn, domain)?.is_some()))
    }

    async fn add_account(
        &self,
        address: &Address,
        password_hash: &str,
        quota_bytes: u64,
    ) -> StoreResult<AccountId> {
        let address = address.clone();
        let hash = password_hash.to_string();
        self.inner
            .writer
            .write(move |conn| {
                let domain_id = require_domain(conn, address.domain())?;
                let local = address.local();
                let alias_clash: Option<i64> = conn
                    .row(
                        "SELECT id FROM aliases WHERE domain_id = ?1 AND local_key = ?2",
                        params![domain_id, local.key()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                if alias_clash.is_some() {
                    return Err(StoreError::AlreadyExists(format!(
                        "an alias {address} (remove it first with `tern alias remove {address}`)"
                    )));
                }
                conn.exec(
                    "INSERT INTO accounts (domain_id, local, local_key, password_hash, quota_bytes, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![domain_id, local.as_str(), local.key(), hash, quota_bytes as i64, now()],
                )
                .map_err(|e| match is_duplicate(&e) {
                    true => StoreError::AlreadyExists(format!("account {address}")),
                    false => sql_err(e),
                })?;
                let id = AccountId(conn.last_insert_rowid());
                // The mailboxes every account starts with, subscribed (clients that show only
                // subscribed folders show these); later ones are subscribed by the client.
                for (name, special_use) in DEFAULT_MAILBOXES {
                    // The folders every account starts with are never refused.
                    create_mailbox_in(conn, id, name, special_use, u32::MAX)?;
                    conn.exec(
                        "INSERT INTO subscriptions (account_id, name) VALUES (?1, ?2)",
                        params![id.0, name],
                    )
                    .map_err(sql_err)?;
                }
                Ok((id, Vec::new()))
            })
            .await
    }

    async fn set_password(&self, address: &Address, password_hash: &str) -> StoreResult<()> {
        let address = address.clone();
        let hash = password_hash.to_string();
        self.inner
            .writer
            .write(move |conn| {
                let row = require_account(conn, &address)?;
                conn.exec(
                    "UPDATE accounts SET password_hash = ?1 WHERE id = ?2",
                    params![hash, row.info.id.0],
                )
                .map_err(sql_err)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn set_quota(&self, address: &Address, quota_bytes: u64) -> StoreResult<()> {
        let address = address.clone();
        self.inner
            .writer
            .write(move |conn| {
                let row = require_account(conn, &address)?;
                conn.exec(
                    "UPDATE accounts SET quota_bytes = ?1 WHERE id = ?2",
                    params![quota_bytes as i64, row.info.id.0],
                )
                .map_err(sql_err)?;
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn remove_account(&self, address: &Address) -> StoreResult<()> {
        let address = address.clone();
        self.inner
            .writer
            .write(move |conn| {
                let row = require_account(conn, &address)?;
                // Mailboxes, messages and alias targets go by cascade; the blobs their messages
                // used are dropped here if nothing else references them.
                let blob_ids = crate::mailbox::blob_ids_of_account(conn, row.info.id)?;
                conn.exec("DELETE FROM accounts WHERE id = ?1", [row.info.id.0])
                    .map_err(sql_err)?;
                crate::blobs::drop_unreferenced(conn, &blob_ids)?;
                let failed = crate::queue::fail_pending_of_account(
                    conn,
                    row.info.id,
                    "5.1.1 the recipient's account was removed before delivery",
                )?;
                if failed > 0 {
                    tracing::warn!(account = %address, recipients = failed, "queued mail for a removed account kept as failed");
                }
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn list_accounts(&self, domain: Option<&Domain>) -> StoreResult<Vec<AccountInfo>> {
        let domain = domain.map(|d| d.as_str().to_string());
        self.inner
            .readers
            .read(move |conn| {
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN domains d ON d.id = a.domain_id
                      WHERE ?1 IS NULL OR d.name = ?1 ORDER BY d.name, a.local_key"
                );
                let mut stmt = conn.prepare(&sql).map_err(sql_err)?;
                let rows = stmt
                    .query_map([domain], account_row)
                    .map_err(sql_err)?
                    .map(|r| r.map(|row| row.info))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await
    }

    async fn account(&self, id: AccountId) -> StoreResult<AccountInfo> {
        self.inner
            .readers
            .read(move |conn| {
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN domains d ON d.id = a.domain_id
                      WHERE a.id = ?1"
                );
                conn.row(&sql, [id.0], account_row)
                    .optional()
                    .map_err(sql_err)?
                    .map(|r| r.info)
                    .ok_or_else(|| StoreError::NotFound(format!("account #{id}")))
            })
            .await
    }

    async fn account_auth(
        &self,
        address: &Address,
        policy: RecipientPolicy,
    ) -> StoreResult<Option<AccountAuth>> {
        let address = address.clone();
        self.inner
            .readers
            .read(move |conn| {
                let Some(domain_id) = domain_id(conn, address.domain())? else {
                    return Ok(None);
                };
                Ok(
                    find_account(conn, domain_id, address.local().as_str(), policy)?.map(|row| {
                        AccountAuth {
                            id: row.info.id,
                            address: row.info.address,
                            password_hash: row.password_hash,
                        }
                    }),
                )
            })
            .await
    }

    async fn add_alias(&self, source: &AliasSource, targets: &[Address]) -> StoreResult<()> {
        if targets.is_empty() {
            return Err(StoreError::Invalid(
                "an alias needs at least one target account".into(),
            ));
        }
        let source = source.clone();
        let targets = targets.to_vec();
        self.inner
            .writer
            .write(move |conn| {
                let domain_id = require_domain(conn, source.domain())?;
                let (local, key) = match &source {
                    AliasSource::Address(a) => (a.local().as_str().to_string(), a.local().key()),
                    AliasSource::CatchAll(_) => (String::new(), String::new()),
                };
                if !key.is_empty() && find_account(conn, domain_id, &local, RecipientPolicy::default())?.is_some() {
                    return Err(StoreError::AlreadyExists(format!(
                        "an account {source}; an alias cannot shadow an account"
                    )));
                }
                conn.exec(
                    "INSERT OR IGNORE INTO aliases (domain_id, local, local_key) VALUES (?1, ?2, ?3)",
                    params![domain_id, local, key],
                )
                .map_err(sql_err)?;
                let alias_id: i64 = conn
                    .row(
                        "SELECT id FROM aliases WHERE domain_id = ?1 AND local_key = ?2",
                        params![domain_id, key],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                for target in &targets {
                    let account = require_account(conn, target).map_err(|e| match e {
                        StoreError::NotFound(_) => StoreError::Invalid(format!(
                            "alias target {target} is not an account (create it with `tern user add {target}`)"
                        )),
                        other => other,
                    })?;
                    conn.exec(
                        "INSERT OR IGNORE INTO alias_targets (alias_id, account_id) VALUES (?1, ?2)",
                        params![alias_id, account.info.id.0],
                    )
                    .map_err(sql_err)?;
                }
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn remove_alias(&self, source: &AliasSource) -> StoreResult<()> {
        let source = source.clone();
        self.inner
            .writer
            .write(move |conn| {
                let domain_id = require_domain(conn, source.domain())?;
                let key = match &source {
                    AliasSource::Address(a) => a.local().key(),
                    AliasSource::CatchAll(_) => String::new(),
                };
                let n = conn
                    .exec(
                        "DELETE FROM aliases WHERE domain_id = ?1 AND local_key = ?2",
                        params![domain_id, key],
                    )
                    .map_err(sql_err)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("alias {source}")));
                }
                Ok(((), Vec::new()))
            })
            .await
    }

    async fn list_aliases(&self, domain: Option<&Domain>) -> StoreResult<Vec<AliasInfo>> {
        let domain = domain.map(|d| d.as_str().to_string());
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT al.id, al.local, d.name FROM aliases al JOIN domains d ON d.id = al.domain_id
                          WHERE ?1 IS NULL OR d.name = ?1 ORDER BY d.name, al.local_key",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map([domain], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                    .map_err(sql_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for (id, local, domain) in rows {
                    let text = if local.is_empty() { format!("@{domain}") } else { format!("{local}@{domain}") };
                    let source: AliasSource = text
                        .parse()
                        .map_err(|e| StoreError::Internal(format!("stored alias {text:?}: {e}")))?;
                    let targets = alias_targets(conn, id)?.into_iter().map(|a| a.address).collect();
                    out.push(AliasInfo { source, targets });
                }
                Ok(out)
            })
            .await
    }

    async fn resolve_recipient(
        &self,
        address: &Address,
        policy: RecipientPolicy,
    ) -> StoreResult<Resolution> {
        // Look-ups by key, once per RCPT: on this thread (see `ReadPool::read_now`).
        self.inner
            .readers
            .read_now(|conn| resolve(conn, address, policy))
    }
}
