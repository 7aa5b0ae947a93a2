//! The admin subcommands: domains, users, aliases, and `config check`.
//!
//! They open the store directly, so they work with or without a running server; the server
//! reads the directory from the store on every lookup and sees their effect at once.

use std::io::{BufRead, ErrorKind, IsTerminal};
use std::path::Path;

use anyhow::{bail, Context};
use tern_auth::{hash_password, HashCost, Secret};
use tern_config::{Config, Protocol};
use tern_store::{StoreError, Stores};
use tern_store_sqlite::{AccountLimits, SqliteOptions, SqliteStore, DB_FILE};
use tern_types::Domain;

use crate::cli::{AliasCommand, Command, DkimCommand, DomainCommand, QueueCommand, UserCommand};

/// Opens the store the configuration names, creating it if there is none (`tern serve`).
pub fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    open_store_for(config, false)
}

/// Opens (or creates) the store; `serving`: this is `tern serve`, which alone keeps the
/// full-text index (an admin command beside it must not run a second indexer).
pub fn open_store_for(config: &Config, serving: bool) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(
        &config.data_dir,
        SqliteOptions {
            inline_blob_max: config.store.inline_blob_max,
            mime_limits: config.store.mime_limits,
            expunge_log_kept: config.store.expunge_log_max,
            index_text: serving,
            account_limits: AccountLimits {
                mailboxes: config.store.max_mailboxes_per_account,
                subscriptions: config.store.max_subscriptions_per_account,
            },
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

/// Opens the store for an admin command: it must exist already and be writable by this
/// user. An admin command run in the wrong directory, or with the wrong `--config`, must not
/// create an empty store there and then report it empty: the store comes from `tern serve`
/// (or `tern domain add --create` on a new installation).
pub fn open_existing_store(config: &Config) -> anyhow::Result<SqliteStore> {
    let dir = &config.data_dir;
    let db = dir.join(DB_FILE);
    match std::fs::metadata(&db) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => bail!(
            "there is no Tern store in {} (data_dir from {}): {} does not exist. Run the \
             command where the store is, or give the server's configuration with --config \
             FILE; on a new installation start `tern serve` once, or use `tern domain add \
             --create DOMAIN`",
            dir.display(),
            config.source,
            db.display()
        ),
        Err(e) => return Err(access_error(&db, e)),
    }
    // SQLite needs to write the database and to create its `-wal` and `-shm` files beside
    // it; without this check the failure would be "unable to open database file".
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db)
        .map_err(|e| access_error(&db, e))?;
    probe_directory(dir).map_err(|e| access_error(dir, e))?;
    open_store(config)
}

/// Creates and removes a file in `dir`: the one sure test that this user may write there.
fn probe_directory(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".tern-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// An error reaching the store that names the path and, for a permission problem, the fix.
fn access_error(path: &Path, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot write the store: {}: permission denied. Run the command as the user the \
             server runs as (the owner of the data directory), or give this user write \
             access to the directory and its files",
            path.display()
        ),
        _ => anyhow::anyhow!("cannot open the store: {}: {e}", path.display()),
    }
}

pub fn hash_cost(config: &Config) -> HashCost {
    HashCost {
        memory_kib: config.auth.argon2_memory_kib,
        iterations: config.auth.argon2_iterations,
        parallelism: config.auth.argon2_parallelism,
    }
}

pub async fn run(config: &Config, command: Command) -> anyhow::Result<()> {
    let store = match &command {
        Command::Domain(DomainCommand::Add { create: true, .. }) => open_store(config)?,
        _ => open_existing_store(config)?,
    };
    let stores = store.stores();
    match command {
        Command::Domain(c) => domain(&stores, c).await,
        Command::User(c) => user(config, &stores, c).await,
        Command::Alias(c) => alias(&stores, c).await,
        Command::Queue(c) => queue(config, &stores, c).await,
        Command::Dkim(c) => dkim(config, &stores, c).await,
        Command::Serve(_) | Command::Config(_) => bail!("not an admin command"),
    }
}

async fn domain(stores: &Stores, command: DomainCommand) -> anyhow::Result<()> {
    let d = &stores.directory;
    match command {
        DomainCommand::Add { domain, .. } => {
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

async fn queue(config: &Config, stores: &Stores, command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::List => {
            let entries = stores.queue.list().await?;
            for entry in &entries {
                print_queue_entry(entry);
            }
            println!("{} message(s) in the queue", entries.len());
        }
        QueueCommand::Show { id } => {
            let entries = stores.queue.list().await?;
            let Some(entry) = entries.iter().find(|e| e.id.0 == id) else {
                bail!("no message {id} in the queue; `tern queue list` shows the ids");
            };
            print_queue_entry(entry);
            let message = stores.queue.read(entry.id).await?;
            let end = tern_message::header_block_len(&message);
            println!();
            // Header text comes from the network: control characters are shown escaped, so
            // they cannot drive the terminal.
            let text: String = String::from_utf8_lossy(&message[..end])
                .chars()
                .map(|c| match c {
                    '\t' | '\n' => c.to_string(),
                    '\r' => String::new(),
                    c if c.is_control() => c.escape_default().to_string(),
                    c => c.to_string(),
                })
                .collect();
            print!("{text}");
        }
        QueueCommand::Retry { id } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let due = stores.queue.retry(tern_types::QueueId(id), now).await?;
            println!("message {id}: {due} recipient(s) due now");
        }
        QueueCommand::Bounce { id } => {
            let id = tern_types::QueueId(id);
            let entry = stores.queue.entry(id).await.map_err(|e| match e {
                tern_store::StoreError::NotFound(_) => {
                    anyhow::anyhow!("no message {id} in the queue; `tern queue list` shows the ids")
                }
                e => e.into(),
            })?;
            let original = stores.queue.read(id).await?;
            let failed: Vec<tern_queue::Failed> = entry
                .recipients
                .iter()
                .filter(|r| r.state.is_pending() || r.state == tern_store::RecipientState::Failed)
                .map(|r| tern_queue::Failed {
                    recipient: r.clone(),
                    status: "5.0.0".into(),
                    diagnostic: "returned to the sender by the mail administrator".into(),
                    remote_mta: None,
                })
                .collect();
            let reporter = tern_queue::Reporter {
                hostname: config.hostname.to_string(),
                recipients: crate::serve::recipient_policy(config),
            };
            reporter.report(stores, &entry, &original, &failed).await?;
            println!(
                "message {id}: {} recipient(s) bounced{}",
                failed.len(),
                if entry.sender.is_empty() {
                    " (null sender: no report sent)"
                } else {
                    "; the sender gets a delivery status notification"
                }
            );
        }
        QueueCommand::Remove { id } => {
            let undelivered = stores.queue.remove(tern_types::QueueId(id)).await?;
            println!(
                "removed message {id} from the queue ({undelivered} recipient(s) not delivered)"
            );
        }
    }
    Ok(())
}

/// One queued message and its recipients, as `tern queue list` and `show` print them.
fn print_queue_entry(entry: &tern_store::QueueEntry) {
    let sender = if entry.sender.is_empty() {
        "<>"
    } else {
        entry.sender.as_str()
    };
    println!(
        "{}\tfrom={sender}\tsize={}\treceived={}",
        entry.id,
        entry.size,
        tern_message::rfc5322_date(entry.received_at)
    );
    for r in &entry.recipients {
        println!(
            "  {}\t{}\tattempts={}\tnext={}\terror={}",
            r.address,
            r.state.as_str(),
            r.attempts,
            tern_message::rfc5322_date(r.next_attempt),
            r.last_error.as_deref().unwrap_or("-")
        );
    }
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

async fn dkim(config: &Config, stores: &Stores, command: DkimCommand) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use tern_queue::dkim::{generate, key_dir, zone_line, Algorithm};

    let DkimCommand::Generate {
        domain,
        selector,
        algorithm,
    } = command;
    if !stores.directory.list_domains().await?.contains(&domain) {
        bail!("{domain} is not a local domain; add it first with `tern domain add {domain}`");
    }
    let valid_selector = !selector.is_empty()
        && selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_selector {
        bail!("selector {selector:?}: use letters, digits, '-' and '_' only (RFC 6376 §3.1)");
    }
    let algorithms: Vec<(Algorithm, String)> = match algorithm.as_deref() {
        Some("ed25519") => vec![(Algorithm::Ed25519, selector.clone())],
        Some(_) => vec![(Algorithm::Rsa, selector.clone())],
        None => vec![
            (Algorithm::Ed25519, format!("{selector}-ed25519")),
            (Algorithm::Rsa, format!("{selector}-rsa")),
        ],
    };
    let dir = key_dir(&config.data_dir, domain.as_str());
    // One selector names one key: a selector that has a key of either kind is taken.
    for (_, name) in &algorithms {
        for kind in [Algorithm::Ed25519, Algorithm::Rsa] {
            let existing = dir.join(format!("{name}.{}", kind.name()));
            if existing.exists() {
                bail!(
                    "selector {name:?} of {domain} has a key already ({}); choose another \
                     --selector, or remove the file to replace the key",
                    existing.display()
                );
            }
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut lines = Vec::new();
    for (algorithm, name) in algorithms {
        let path = dir.join(format!("{name}.{}", algorithm.name()));
        let key = generate(algorithm)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot create {} (a key with this selector exists? choose another \
                     --selector, or remove the file to replace the key)",
                    path.display()
                )
            })?;
        file.write_all(&key.private_der)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        lines.push(zone_line(&name, domain.as_str(), &key.record));
    }
    println!(
        "Publish in the DNS zone of {domain}. Mail {domain} sends will be signed with these \
         keys (sending is not built yet: see docs/rfc-index.md):"
    );
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
