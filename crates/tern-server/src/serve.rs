//! `tern serve`: bind every listener, lock the data directory, open the store, serve until
//! told to stop.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tern_auth::{Authenticator, LoginThrottle, Secret, ThrottleConfig, Verifier};
use tern_config::{Config, Protocol, Source};
use tern_imap::{ImapService, ImapSettings, ImapShared};
use tern_net::ConnectionLimiter;
use tern_net::{
    AppProtocol, BoundListener, CancellationToken, Service, Shutdown, TaskTracker, TlsAcceptor,
    TlsSource,
};
use tern_pop3::{MaildropLocks, Pop3Service, Pop3Settings, Pop3Shared};
use tern_queue::outbound::client::{insecure_tls_config, ClientSettings, Timeouts};
use tern_queue::outbound::dns::MxResolver;
use tern_queue::{Outbound, OutboundPolicy, Reporter, RetryPolicy, Scheduler};
use tern_smtp::{SmtpService, SmtpSettings, SubmissionPolicy};
use tern_store::{RecipientPolicy, StoreError, Stores};
use tern_store_sqlite::SqliteStore;
use tern_types::Domain;

use crate::admin::open_store_for;
use crate::data_dir::create_private_file;

/// How often unreferenced blobs are collected while serving, and how old an unreferenced
/// blob file must be before it goes (a delivery may be about to commit a reference to it).
const GC_INTERVAL: Duration = Duration::from_secs(3600);

/// The file in the data directory that lists what the server listens on, one
/// `protocol address` per line. Written after every listener is bound.
pub const LISTENERS_FILE: &str = "listeners";

/// How long past `shutdown_grace` the server waits for its sessions before it exits anyway.
/// Every wait on a peer ends with the grace period; this covers a store commit under way.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// A server that is running: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct RunningServer {
    pub addrs: Vec<(Protocol, SocketAddr)>,
    pub store: SqliteStore,
    shutdown: Shutdown,
    tracker: TaskTracker,
    _lock: File,
}

impl RunningServer {
    pub fn stores(&self) -> Stores {
        self.store.stores()
    }

    /// The first address a protocol is bound to.
    pub fn addr(&self, protocol: Protocol) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, a)| *a)
    }

    /// Stops accepting, tells every session to finish what it is doing, and waits for them:
    /// at most the grace period, plus a little for sessions to write their goodbyes and for
    /// store operations already under way to commit.
    pub async fn shutdown(self) {
        self.shutdown.begin();
        self.tracker.close();
        let limit = self.shutdown.grace() + SHUTDOWN_MARGIN;
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "sessions still running {} s after the shutdown began; leaving them",
                limit.as_secs()
            );
        }
    }
}

/// The file in the data directory a running server holds locked.
const LOCK_FILE: &str = "tern.lock";

/// Whether another server holds the data directory's lock. Creates nothing: it is asked
/// before this server may touch the directory.
fn held_by_another_server(config: &Config) -> bool {
    File::open(config.data_dir.join(LOCK_FILE))
        .is_ok_and(|file| matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// The message for a second `tern serve` on the same data directory.
fn already_running(config: &Config) -> anyhow::Error {
    anyhow::anyhow!(
        "another `tern serve` is already running on {}; stop it first, or give this one \
         another data_dir",
        config.data_dir.display()
    )
}

/// Takes the data directory's lock: one server per store. The directory is created private,
/// or refused when others can open it (see `data_dir.rs`).
fn lock_data_dir(config: &Config) -> anyhow::Result<File> {
    crate::data_dir::make_private(config)?;
    let path = config.data_dir.join(LOCK_FILE);
    let file =
        create_private_file(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(already_running(config)),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Starts a server: everything is bound and ready when this returns.
pub async fn start(config: &Config, domain: Option<Domain>) -> anyhow::Result<RunningServer> {
    // Every listener first: a server that cannot listen must not create or lock a data
    // directory (a mistyped address would otherwise leave an empty store behind).
    // A second `tern serve` on the same store usually fails here, on the first server's
    // ports: say that rather than "address in use".
    let bound = bind_listeners(config).map_err(|e| match held_by_another_server(config) {
        true => already_running(config),
        false => e,
    })?;
    let lock = lock_data_dir(config)?;
    let store = open_store_for(config, true)?;
    store
        .collect_garbage(Duration::ZERO)
        .await
        .context("cannot clean up the store at start")?;
    let stores = store.stores();
    // We hold the data directory's lock: any lease in the queue belongs to a process that is
    // gone.
    let released = stores
        .queue
        .release_leases()
        .await
        .context("cannot release queue leases")?;
    if released > 0 {
        tracing::info!(
            recipients = released,
            "released the queue leases of a previous run"
        );
    }

    let default_domain = match (&domain, &config.source) {
        (Some(d), _) => Some(d.clone()),
        (None, Source::Embedded) => Some(config.hostname.clone()),
        (None, Source::File(_)) => None,
    };
    if let Some(domain) = default_domain {
        match stores.directory.add_domain(&domain).await {
            Ok(()) => tracing::info!(%domain, "added local domain"),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e).context("cannot add the local domain"),
        }
    }

    if config.listeners(Protocol::Smtp).next().is_some() {
        // RFC 5321 §4.5.1: mail for <Postmaster> must be deliverable; say so now, not at the
        // first such message (which is deferred meanwhile).
        let postmaster = tern_smtp::resolve_postmaster(
            config.postmaster.as_ref(),
            &*stores.directory,
            recipient_policy(config),
        )
        .await;
        if let Err(e) = postmaster {
            tracing::warn!("{e}");
        }
    }

    let tls_source = match &config.tls {
        Some(files) => TlsSource::Files {
            cert: files.cert.clone(),
            key: files.key.clone(),
        },
        None => TlsSource::SelfSigned {
            dir: config.data_dir.join("tls"),
            hostname: config.hostname.to_string(),
        },
    };
    let tls =
        tern_net::load_tls(&tls_source).with_context(|| format!("{}: key `tls`", config.source))?;
    let acceptor = |protocol: Protocol| TlsAcceptor::new(&tls, app_protocol(protocol));

    let addrs: Vec<(Protocol, SocketAddr)> = bound.iter().map(|(p, l)| (*p, l.addr)).collect();
    write_listeners_file(config.data_dir.join(LISTENERS_FILE), &addrs)?;

    let shutdown = Shutdown::new(config.shutdown_grace);
    let tracker = TaskTracker::new();
    let queue = tern_queue::spawn(scheduler(config, &stores)?, shutdown.token(), &tracker);
    let smtp: Arc<dyn Service> = Arc::new(SmtpService::new(
        smtp_settings(config),
        stores.clone(),
        queue.clone(),
        Some(acceptor(Protocol::Smtp)),
    ));
    // One limiter per protocol, shared by its listeners (SMTP; pop3 and pop3s together).
    let smtp_limits = ConnectionLimiter::new(
        config.smtp.max_connections as usize,
        config.smtp.max_connections_per_ip as usize,
        config.clients,
    );
    let pop3_limits = ConnectionLimiter::new(
        config.pop3.max_connections as usize,
        config.pop3.max_connections_per_ip as usize,
        config.clients,
    );
    let serves_pop3 = [Protocol::Pop3, Protocol::Pop3s]
        .iter()
        .any(|p| config.listeners(*p).next().is_some());
    let submission_limits = ConnectionLimiter::new(
        config.submission.max_connections as usize,
        config.submission.max_connections_per_ip as usize,
        config.clients,
    );
    let auth = authenticator(config).await?;
    let submission: Arc<dyn Service> = Arc::new(SmtpService::submission(
        smtp_settings(config),
        stores.clone(),
        queue,
        Some(acceptor(Protocol::Submission)),
        Arc::new(SubmissionPolicy {
            auth: auth.clone(),
            plaintext: config.auth.plaintext_without_tls,
            send_as_any: config.submission.send_as_any.clone(),
        }),
    ));
    let pop3 = serves_pop3.then(|| {
        Arc::new(pop3_shared(
            config,
            &stores,
            auth.clone(),
            acceptor(Protocol::Pop3),
        ))
    });
    let imap_limits = ConnectionLimiter::new(
        config.imap.max_connections as usize,
        config.imap.max_connections_per_ip as usize,
        config.clients,
    );
    let imap = Arc::new(ImapShared::new(
        ImapSettings {
            hostname: config.hostname.to_string(),
            idle_timeout: config.imap.idle_timeout,
            prelogin_timeout: config.imap.prelogin_timeout,
            max_prelogin_literal: config.imap.max_prelogin_literal,
            max_command_size: config.imap.max_command_size,
            append_limit: config.imap.append_limit,
            max_sessions_per_user: config.imap.max_sessions_per_user as usize,
            max_idle_per_user: config.imap.max_idle_per_user as usize,
            max_nesting: config.imap.max_nesting as usize,
            max_keywords: config.imap.max_keywords as usize,
            plaintext: config.auth.plaintext_without_tls,
            recipients: recipient_policy(config),
        },
        stores.clone(),
        auth.clone(),
        acceptor(Protocol::Imap),
    ));
    for (protocol, listener) in bound {
        tracing::info!(proto = %protocol.key(), addr = %listener.addr, "listening");
        let service: Arc<dyn Service> = match protocol {
            Protocol::Smtp => smtp.clone(),
            Protocol::Submission | Protocol::Submissions => submission.clone(),
            Protocol::Imap | Protocol::Imaps => {
                Arc::new(ImapService::new(imap.clone(), protocol == Protocol::Imaps))
            }
            Protocol::Pop3 | Protocol::Pop3s => match &pop3 {
                Some(shared) => Arc::new(Pop3Service::new(
                    shared.clone(),
                    protocol == Protocol::Pop3s,
                )),
                None => unreachable!("a POP3 listener is bound, so the POP3 state was built"),
            },
        };
        let tls = protocol.implicit_tls().then(|| acceptor(protocol));
        let limits = match protocol {
            Protocol::Smtp => Some(smtp_limits.clone()),
            Protocol::Submission | Protocol::Submissions => Some(submission_limits.clone()),
            Protocol::Imap | Protocol::Imaps => Some(imap_limits.clone()),
            Protocol::Pop3 | Protocol::Pop3s => Some(pop3_limits.clone()),
        };
        tracker.spawn(tern_net::serve(
            listener,
            service,
            tls,
            limits,
            shutdown.clone(),
            tracker.clone(),
        ));
    }
    tracker.spawn(collect_garbage_periodically(
        store.clone(),
        shutdown.token(),
    ));
    tracker.spawn(analyse_unanalysed(store.clone()));

    Ok(RunningServer {
        addrs,
        store,
        shutdown,
        tracker,
        _lock: lock,
    })
}

/// Binds every configured listener; an error names the `listen.*` key.
fn bind_listeners(config: &Config) -> anyhow::Result<Vec<(Protocol, BoundListener)>> {
    let mut bound = Vec::new();
    for protocol in Protocol::ALL {
        for (i, addr) in config.listeners(protocol).enumerate() {
            let listener = tern_net::bind(addr).with_context(|| {
                format!("{}: key `listen.{}[{i}]`", config.source, protocol.key())
            })?;
            bound.push((protocol, listener));
        }
    }
    Ok(bound)
}

/// Which protocol a listener's TLS handshakes are for, as strict ALPN sees it.
fn app_protocol(protocol: Protocol) -> AppProtocol {
    match protocol {
        Protocol::Smtp => AppProtocol::Smtp,
        Protocol::Submission | Protocol::Submissions => AppProtocol::Submission,
        Protocol::Imap | Protocol::Imaps => AppProtocol::Imap,
        Protocol::Pop3 | Protocol::Pop3s => AppProtocol::Pop3,
    }
}

/// The SMTP listener's settings from the configuration.
pub fn smtp_settings(config: &Config) -> SmtpSettings {
    let smtp = &config.smtp;
    SmtpSettings {
        hostname: config.hostname.clone(),
        max_message_size: smtp.max_message_size,
        max_recipients: smtp.max_recipients as usize,
        max_command_line: smtp.max_command_line as usize,
        max_text_line: smtp.max_text_line as usize,
        max_bad_commands: smtp.max_bad_commands,
        idle_timeout: smtp.idle_timeout,
        data_timeout: smtp.data_timeout,
        greeting_delay: smtp.greeting_delay,
        over_quota_permanent: smtp.over_quota_permanent,
        recipients: recipient_policy(config),
        postmaster: config.postmaster.clone(),
    }
}

/// What both POP3 listeners share: settings, the login throttle, the maildrop locks.
fn pop3_shared(
    config: &Config,
    stores: &Stores,
    auth: Arc<Authenticator>,
    tls: TlsAcceptor,
) -> Pop3Shared {
    Pop3Shared {
        settings: Pop3Settings {
            hostname: config.hostname.to_string(),
            idle_timeout: config.pop3.idle_timeout,
            max_command_line: config.pop3.max_command_line as usize,
            command_timeout: config.pop3.command_timeout,
            plaintext: config.auth.plaintext_without_tls,
            recipients: recipient_policy(config),
        },
        stores: stores.clone(),
        auth,
        locks: MaildropLocks::new(),
        tls,
    }
}

/// The queue scheduler, with remote delivery as `[outbound]` says.
fn scheduler(config: &Config, stores: &Stores) -> anyhow::Result<Scheduler> {
    let out = &config.outbound;
    let retry = RetryPolicy::new(out.retry_intervals.clone(), out.max_age);
    let resolver = match out.dns_servers.is_empty() {
        true => MxResolver::system()
            .map_err(|e| anyhow::anyhow!("{e}; set `outbound.dns_servers` in {}", config.source))?,
        false => MxResolver::new(&out.dns_servers)
            .map_err(|e| anyhow::anyhow!("{}: key `outbound.dns_servers`: {e}", config.source))?,
    };
    let reporter = Reporter {
        hostname: config.hostname.to_string(),
        recipients: recipient_policy(config),
    };
    let client = ClientSettings {
        helo_name: config.hostname.to_string(),
        timeouts: Timeouts {
            connect: out.connect_timeout,
            ..Timeouts::default()
        },
        tls: insecure_tls_config(),
    };
    let outbound = Outbound::new(
        resolver,
        client,
        reporter.clone(),
        OutboundPolicy {
            port: out.remote_port,
            data_dir: config.data_dir.clone(),
            retry: retry.clone(),
            max_connections: out.max_connections as usize,
            max_per_domain: out.max_connections_per_domain as usize,
            delay_warning: out.delay_warning,
        },
    );
    Ok(Scheduler {
        stores: stores.clone(),
        retry,
        reporter,
        outbound: Some(Arc::new(outbound)),
    })
}

/// Password checks and the failed-login throttle, one for all listeners: failures count
/// across POP3, submission and IMAP.
async fn authenticator(config: &Config) -> anyhow::Result<Arc<Authenticator>> {
    // Any password will do: the hash stands in for an account that does not exist, and such
    // a login fails whatever it verifies to. Hashed off the async workers (argon2 is slow).
    let cost = crate::admin::hash_cost(config);
    let no_account_hash = tokio::task::spawn_blocking(move || {
        tern_auth::hash_password(&Secret::new("no such account"), cost)
    })
    .await??;
    Ok(Arc::new(Authenticator::new(
        LoginThrottle::new(throttle_config(config)),
        Verifier::spawn().context("cannot start the password verifier thread")?,
        no_account_hash,
    )))
}

/// The failed-login throttle's thresholds, from `[auth]`.
pub fn throttle_config(config: &Config) -> ThrottleConfig {
    let auth = &config.auth;
    ThrottleConfig {
        window: auth.failure_window,
        client: config.clients,
        max_failures_per_client: auth.max_failures_per_ip,
        network: auth.network,
        max_failures_per_network: auth.max_failures_per_network,
        failure_delay: auth.failure_delay,
        max_failure_delay: auth.failure_delay_max,
        max_failures_per_account: auth.max_failures_per_account,
        account_delay: auth.account_delay,
    }
}

/// How local parts are matched, from `[addresses]`.
pub fn recipient_policy(config: &Config) -> RecipientPolicy {
    RecipientPolicy {
        case_sensitive: config.addresses.case_sensitive_local_part,
        detail_separator: config.addresses.detail_separator,
    }
}

fn write_listeners_file(path: PathBuf, addrs: &[(Protocol, SocketAddr)]) -> anyhow::Result<()> {
    let text: String = addrs
        .iter()
        .map(|(p, a)| format!("{} {a}\n", p.key()))
        .collect();
    let tmp = path.with_extension("tmp");
    create_private_file(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// Messages stored by a Tern from before the message layer get their MIME record once, in
/// the background, while the server serves.
async fn analyse_unanalysed(store: SqliteStore) {
    match store.analyse_unanalysed().await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!("recorded the MIME structure of {n} messages stored before it existed")
        }
        Err(e) => tracing::warn!("analysing messages stored before the message layer failed: {e}"),
    }
}

async fn collect_garbage_periodically(store: SqliteStore, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(GC_INTERVAL) => {}
        }
        if let Err(e) = store.collect_garbage(GC_INTERVAL).await {
            tracing::warn!("blob garbage collection failed: {e}");
        }
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config, domain: Option<Domain>) -> anyhow::Result<()> {
    let server = start(&config, domain).await?;
    tracing::info!(
        config = %config.source,
        data_dir = %config.data_dir.display(),
        "tern {} ready",
        env!("CARGO_PKG_VERSION")
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
