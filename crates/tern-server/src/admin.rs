//! The admin subcommands: domains, users, aliases, and `config check`.
//!
//! They open the store directly, so they work with or without a running server; the server
//! reads the directory from the store on every lookup and sees their effect at once.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use tern_auth::{hash_password, HashCost, Secret};
use tern_config::{Config, Protocol};
use tern_store::{StoreError, Stores};
use tern_store_sqlite::{SqliteOptions, SqliteStore};
use tern_types::Domain;

use crate::cli::{AliasCommand, Command, DomainCommand, UserCommand};

/// Opens the store the configuration names.
pub fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(
        &config.data_dir,
        SqliteOptions {
            inline_blob_max: config.store.inline_blob_max,
        },
    )
    .with_context(|| {
        format!(
            "cannot open the store in {} (data_dir in {})",
            config.data_dir.display(),
            config.source
        )
    })
}

pub fn hash_cost(config: &Config) -> HashCost {
    HashCost {
        memory_kib: config.auth.argon2_memory_kib,
        iterations: config.auth.argon2_iterations,
        parallelism: config.auth.argon2_parallelism,
    }
}

pub async fn run(config: &Config, command: Command) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let stores = store.stores();
    match command {
        Command::Domain(c) => domain(&stores, c).await,
        Command::User(c) => user(config, &stores, c).await,
        Command::Alias(c) => alias(&stores, c).await,
        Command::Serve(_) | Command::Config(_) => bail!("not an admin command"),
    }
}

async fn domain(stores: &Stores, command: DomainCommand) -> anyhow::Result<()> {
    let d = &stores.directory;
    match command {
        DomainCommand::Add { domain } => {
            d.add_domain(&domain).await?;
            println!("added domain {}", with_unicode(&domain, " "));
        }
        DomainCommand::List => {
            for domain in d.list_domains().await? {
                println!("{}", with_unicode(&domain, "\t"));
            }
        }
        DomainCommand::Remove { domain } => {
            d.remove_domain(&domain).await?;
            println!("removed domain {domain}");
        }
    }
    Ok(())
}

/// The stored (A-label) form, then the Unicode form when they differ: `xn--bcher-kva.example
/// bücher.example`. The first field is what scripts pass back to `tern`.
fn with_unicode(domain: &Domain, separator: &str) -> String {
    match domain.is_internationalized() {
        true => format!("{domain}{separator}{}", domain.to_unicode()),
        false => domain.to_string(),
    }
}

async fn user(config: &Config, stores: &Stores, command: UserCommand) -> anyhow::Result<()> {
    let d = &stores.directory;
    match command {
        UserCommand::Add { address, quota } => {
            if !d.is_local_domain(address.domain()).await? {
                bail!(
                    "{} is not a local domain; add it first with `tern domain add {}`",
                    address.domain(),
                    address.domain()
                );
            }
            let password = read_new_password(&format!("Password for {address}: "))?;
            let hash = hash_password(&password, hash_cost(config))?;
            d.add_account(&address, &hash, quota.unwrap_or(0)).await?;
            println!("added user {address}");
        }
        UserCommand::List { domain } => {
            for account in d.list_accounts(domain.as_ref()).await? {
                let quota = match account.quota_bytes {
                    0 => "unlimited".to_string(),
                    q => q.to_string(),
                };
                println!(
                    "{}\tused={}\tquota={quota}",
                    account.address, account.used_bytes
                );
            }
        }
        UserCommand::Passwd { address } => {
            if d.account_auth(&address, Default::default())
                .await?
                .is_none()
            {
                return Err(StoreError::NotFound(format!("account {address}")).into());
            }
            let password = read_new_password(&format!("New password for {address}: "))?;
            let hash = hash_password(&password, hash_cost(config))?;
            d.set_password(&address, &hash).await?;
            println!("changed the password of {address}");
        }
        UserCommand::Quota { address, size } => {
            d.set_quota(&address, size).await?;
            println!(
                "set the quota of {address} to {}",
                if size == 0 {
                    "unlimited".into()
                } else {
                    size.to_string()
                }
            );
        }
        UserCommand::Remove { address } => {
            d.remove_account(&address).await?;
            println!("removed user {address} and all its mail");
        }
    }
    Ok(())
}

async fn alias(stores: &Stores, command: AliasCommand) -> anyhow::Result<()> {
    let d = &stores.directory;
    match command {
        AliasCommand::Add { source, targets } => {
            d.add_alias(&source, &targets).await?;
            let list: Vec<String> = targets.iter().map(ToString::to_string).collect();
            println!("{source} -> {}", list.join(", "));
        }
        AliasCommand::List { domain } => {
            for alias in d.list_aliases(domain.as_ref()).await? {
                let list: Vec<String> = alias.targets.iter().map(ToString::to_string).collect();
                println!("{} -> {}", alias.source, list.join(", "));
            }
        }
        AliasCommand::Remove { source } => {
            d.remove_alias(&source).await?;
            println!("removed alias {source}");
        }
    }
    Ok(())
}

/// A new password: one line from standard input when it is not a terminal (scripts,
/// `echo pw | tern user add ...`), else prompted twice without echo. Never from argv, where
/// every user of the machine could read it.
fn read_new_password(prompt: &str) -> anyhow::Result<Secret> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!("the password is empty; nothing was changed");
    }
    Ok(Secret::new(password))
}

/// What `tern config check` prints: the configuration as Tern understood it. Fails on TLS
/// files that cannot be used.
pub fn check_config(config: &Config) -> anyhow::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}: OK", config.source);
    let _ = writeln!(out, "hostname  {}", config.hostname);
    let _ = writeln!(out, "data_dir  {}", config.data_dir.display());
    for protocol in Protocol::ALL {
        let addrs: Vec<String> = config.listeners(protocol).map(|a| a.to_string()).collect();
        let shown = if addrs.is_empty() {
            "off".to_string()
        } else {
            addrs.join(", ")
        };
        let _ = writeln!(out, "{:<12}{shown}", protocol.key());
    }
    match &config.tls {
        Some(files) => {
            tern_net::load_tls(&tern_net::TlsSource::Files {
                cert: files.cert.clone(),
                key: files.key.clone(),
            })
            .with_context(|| format!("{}: key `tls`", config.source))?;
            let _ = writeln!(out, "tls       {} (usable)", files.cert.display());
        }
        None => {
            let _ = writeln!(
                out,
                "tls       self-signed for {}, kept in {}",
                config.hostname,
                config.data_dir.join("tls").display()
            );
        }
    }
    Ok(out)
}
