//! Delivery to other domains (RFC 5321 §5): one attempt for the recipients of one message at
//! one domain, all in one transaction; the outcome of each recipient goes back to the queue.
//!
//! # Standards
//! - RFC 5321 §5.1 (MX order, implicit MX; try the next host when one cannot be used),
//!   §4.4 (Return-Path belongs to final delivery: a relay sends the message without it),
//!   §4.5.4.1 (retries), §6.1 (a message is ours once accepted: retried or bounced, never
//!   dropped)
//! - RFC 7505 (null MX), RFC 6376 (DKIM signature added as the message leaves)
//!
//! # Delivered once
//! The recipient is marked delivered right after the remote server's 250. A crash between that
//! 250 and our commit, or a connection lost while waiting for the reply to the final dot,
//! sends the message again later (RFC 5321 §6.1 prefers a duplicate to a loss; RFC 1047).
//! Within one attempt, a failure after MAIL defers rather than trying the next host, and a
//! lease that ran out is never used to send (see `scheduler.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_store::{QueueEntry, QueuedRecipient, Stores};
use tern_types::unix_now as now;
use tokio::sync::Semaphore;

use crate::bounce::{DsnAction, Failed, Original, Reporter, Succeeded};
use crate::outbound::client::{self, AttemptError, ClientSettings, Envelope, OutRecipient};
use crate::outbound::dns::{Host, MxResolver};
use crate::scheduler::LEASE_SECS;
use crate::{dkim, RetryPolicy};

/// How remote delivery behaves: `[outbound]`.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// The port remote servers listen on (25; tests use their own).
    pub port: u16,
    /// The data directory, where `tern dkim generate` keeps keys.
    pub data_dir: PathBuf,
    pub retry: RetryPolicy,
    /// Deliveries in flight, in all and to one domain.
    pub max_connections: usize,
    pub max_per_domain: usize,
    /// How late a recipient is when its sender is warned; zero: never.
    pub delay_warning: Duration,
}

/// Everything remote delivery needs, shared by all its tasks.
#[derive(Debug)]
pub struct Outbound {
    resolver: MxResolver,
    client: ClientSettings,
    reporter: Reporter,
    policy: OutboundPolicy,
    connections: Arc<Semaphore>,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// The longest one attempt may take, all hosts included (well within the lease).
pub(crate) const ATTEMPT_BUDGET: Duration = Duration::from_secs(30 * 60);

/// Addresses tried per attempt, over all of a domain's hosts.
const MAX_ADDRESSES: usize = 5;

/// What happened to one recipient in an attempt.
enum Outcome {
    /// Taken by `host`; `dsn`: that server offered DSN and carries the sender's NOTIFY on.
    Delivered {
        host: String,
        dsn: bool,
    },
    Deferred(String),
    Failed {
        status: String,
        diagnostic: String,
        remote_mta: Option<String>,
    },
}

/// The domain of an address (after the last '@'), lower-cased: what MX lookups and the
/// per-domain limit are keyed by.
pub(crate) fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .to_ascii_lowercase()
}

/// The RFC 3463 code at the start of a deferral's reason ("4.4.1 ..."), or 4.0.0.
fn status_of(why: &str) -> String {
    why.split_whitespace()
        .find(|w| {
            w.starts_with("4.")
                && w.len() <= 9
                && w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
        .unwrap_or("4.0.0")
        .to_string()
}

/// RFC 5321 §4.4: the Return-Path field the accepting commit put first is for final delivery
/// only; a relay leaves it out.
fn without_return_path(message: &[u8]) -> &[u8] {
    if message.len() >= 12 && message[..12].eq_ignore_ascii_case(b"Return-Path:") {
        if let Some(end) = memchr_crlf(message) {
            return &message[end..];
        }
    }
    message
}

fn memchr_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n").map(|i| i + 2)
}

/// The domain of the first From address: DKIM signs with the keys of the domain the recipient
/// sees (so that DMARC finds the signature aligned).
fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?.to_string();
    // The name becomes a directory name: only a valid domain may.
    tern_types::Domain::parse(&domain_of(&address))
        .ok()
        .map(|d| d.to_string())
}

impl Outbound {
    pub fn new(
        resolver: MxResolver,
        client: ClientSettings,
        reporter: Reporter,
        policy: OutboundPolicy,
    ) -> Self {
        Self {
            resolver,
            client,
            reporter,
            connections: Arc::new(Semaphore::new(policy.max_connections.max(1))),
            policy,
            per_domain: Mutex::new(HashMap::new()),
        }
    }

    fn domain_slots(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self.per_domain.lock().unwrap_or_else(|e| e.into_inner());
        // Forget domains nobody is delivering to, so the map stays as small as the traffic.
        if map.len() > 10_000 {
            map.retain(|_, s| s.available_permits() < self.policy.max_per_domain.max(1));
        }
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.policy.max_per_domain.max(1))))
            .clone()
    }

    /// One attempt for `rcpts` (recipients of one message at `domain`), within the limits,
    /// then the outcome of each recorded.
    pub async fn deliver(&self, stores: &Stores, domain: String, rcpts: Vec<QueuedRecipient>) {
        let Some(first) = rcpts.first() else { return };
        let message = first.message;
        let slots = self.domain_slots(&domain);
        let (Ok(_domain_permit), Ok(_permit)) = (
            slots.acquire().await,
            self.connections.clone().acquire_owned().await,
        ) else {
            return;
        };
        // The lease may have run out while this task waited for its slots, and the recipients
        // gone to another worker: only those still ours are sent.
        let leases: Vec<_> = rcpts.iter().map(|r| (r.id, r.lease_until)).collect();
        let mine = match stores.queue.renew_leases(&leases, now() + LEASE_SECS).await {
            Ok(mine) => mine,
            Err(e) => {
                tracing::warn!(queue_id = %message, "cannot renew the leases: {e}");
                return;
            }
        };
        let rcpts: Vec<QueuedRecipient> =
            rcpts.into_iter().filter(|r| mine.contains(&r.id)).collect();
        if rcpts.is_empty() {
            return;
        }
        let (entry, bytes) =
            match tokio::try_join!(stores.queue.entry(message), stores.queue.read(message)) {
                Ok(found) => found,
                Err(e) => {
                    // Deferred like any failure, so that it expires like one too.
                    tracing::warn!(queue_id = %message, "cannot read a queued message: {e}");
                    for rcpt in &rcpts {
                        let delay = self
                            .policy
                            .retry
                            .delay(rcpt.attempts, &mut rand::thread_rng());
                        let error = format!("4.3.0 the queued message cannot be read: {e}");
                        let _ = stores
                            .queue
                            .defer(rcpt.id, now() + delay.as_secs() as i64, &error)
                            .await;
                    }
                    return;
                }
            };
        let outcomes = match tokio::time::timeout(
            ATTEMPT_BUDGET,
            self.attempt(&entry, &domain, &rcpts, &bytes),
        )
        .await
        {
            Ok(outcomes) => outcomes,
            Err(_) => rcpts
                .iter()
                .map(|_| Outcome::Deferred(format!("4.4.2 {domain}: the attempt took too long")))
                .collect(),
        };
        self.record(stores, &entry, &bytes, rcpts, outcomes).await;
    }

    async fn attempt(
        &self,
        entry: &QueueEntry,
        domain: &str,
        rcpts: &[QueuedRecipient],
        queued: &[u8],
    ) -> Vec<Outcome> {
        let all = |outcome: &dyn Fn() -> Outcome| rcpts.iter().map(|_| outcome()).collect();
        let hosts = match self.resolver.route(domain).await {
            Ok(hosts) => hosts,
            Err(e) if e.is_permanent() => {
                let status = e.status().to_string();
                return all(&|| Outcome::Failed {
                    status: status.clone(),
                    diagnostic: format!("{domain}: {e}"),
                    remote_mta: None,
                });
            }
            Err(e) => return all(&|| Outcome::Deferred(format!("{} {domain}: {e}", e.status()))),
        };
        let message = self.signed(queued);
        let recipients: Vec<OutRecipient> = rcpts
            .iter()
            .map(|r| OutRecipient {
                address: r.address.clone(),
                notify: r.notify.clone(),
                orcpt: r.orcpt.clone(),
            })
            .collect();
        let envelope = Envelope {
            sender: &entry.sender,
            recipients: &recipients,
            envid: entry.params.envid.as_deref(),
            ret: entry.params.ret.as_deref(),
            smtputf8: entry.params.smtputf8,
            eight_bit: matches!(
                entry.params.body.as_deref(),
                Some("8BITMIME" | "BINARYMIME")
            ) || !message.is_ascii(),
        };
        let mut last_error = format!("4.4.1 {domain}: no host could be reached");
        // Postfix's smtp_mx_address_limit: a domain with many hosts and addresses cannot keep
        // a delivery slot for hours.
        let mut addresses: Vec<(&Host, IpAddr)> = Vec::new();
        for host in &hosts {
            for ip in &host.addrs {
                addresses.push((host, *ip));
            }
        }
        addresses.truncate(MAX_ADDRESSES);
        for (host, ip) in addresses {
            {
                let addr = SocketAddr::new(ip, self.policy.port);
                match client::send(addr, &host.name, &self.client, &envelope, &message).await {
                    Ok(delivery) => {
                        let dsn = delivery.dsn;
                        return delivery
                            .replies
                            .into_iter()
                            .map(|reply| match reply {
                                r if r.is_positive() => Outcome::Delivered {
                                    host: host.name.clone(),
                                    dsn,
                                },
                                r if r.is_permanent() => Outcome::Failed {
                                    status: r
                                        .status
                                        .map_or_else(|| "5.0.0".to_string(), |s| s.to_string()),
                                    diagnostic: r.to_string(),
                                    remote_mta: Some(host.name.clone()),
                                },
                                r => Outcome::Deferred(format!("{} said: {r}", host.name)),
                            })
                            .collect();
                    }
                    Err(AttemptError::Session {
                        failure,
                        permanent: true,
                    }) => {
                        let text = failure.to_string();
                        let status = failure
                            .status()
                            .map_or_else(|| "5.0.0".to_string(), |s| s.to_string());
                        return all(&|| Outcome::Failed {
                            status: status.clone(),
                            diagnostic: text.clone(),
                            remote_mta: Some(host.name.clone()),
                        });
                    }
                    // Inside the transaction: the host may have the message already (a lost
                    // reply to the final dot); another host would deliver it twice (RFC 1047).
                    Err(AttemptError::Session { failure, .. }) => {
                        tracing::info!(host = %host.name, %addr, "delivery deferred: {failure}");
                        let why = format!("{} ({addr}) said: {failure}", host.name);
                        return all(&|| Outcome::Deferred(why.clone()));
                    }
                    // RFC 5321 §5.1: a host that could not be used sends us on to the next one.
                    Err(e @ AttemptError::Connect(_)) => {
                        tracing::info!(host = %host.name, %addr, "delivery attempt failed: {e}");
                        last_error = format!("{} ({addr}): {e}", host.name);
                    }
                }
            }
        }
        all(&|| Outcome::Deferred(last_error.clone()))
    }

    /// The message as it leaves: without Return-Path, with a DKIM signature when the From
    /// domain has keys. A key that cannot be used is logged and the message goes unsigned
    /// (better than not at all; the log says what to fix).
    fn signed(&self, queued: &[u8]) -> Vec<u8> {
        let message = without_return_path(queued);
        let Some(domain) = from_domain(message) else {
            return message.to_vec();
        };
        let keys = match dkim::load_keys(&dkim::key_dir(&self.policy.data_dir, &domain)) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(%domain, "DKIM keys cannot be read, sending unsigned: {e}");
                return message.to_vec();
            }
        };
        if keys.is_empty() {
            return message.to_vec();
        }
        match dkim::sign(message, &domain, &keys) {
            Ok(fields) => {
                let mut out: Vec<u8> = fields.concat().into_bytes();
                out.extend_from_slice(message);
                out
            }
            Err(e) => {
                tracing::warn!(%domain, "DKIM signing failed, sending unsigned: {e}");
                message.to_vec()
            }
        }
    }

    /// Writes each recipient's outcome: delivered, deferred (or given up past the maximum
    /// age), or failed and reported to the sender.
    async fn record(
        &self,
        stores: &Stores,
        entry: &QueueEntry,
        queued: &[u8],
        rcpts: Vec<QueuedRecipient>,
        outcomes: Vec<Outcome>,
    ) {
        let mut failed = Vec::new();
        let mut late = Vec::new();
        let mut relayed = Vec::new();
        for (rcpt, outcome) in rcpts.into_iter().zip(outcomes) {
            let result = match outcome {
                Outcome::Delivered { host, dsn } => {
                    tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, %host, "delivered");
                    let marked = stores.queue.mark_delivered(rcpt.id).await;
                    if marked.is_ok() && !dsn {
                        relayed.push(Succeeded {
                            address: rcpt.address,
                            notify: rcpt.notify,
                            orcpt: rcpt.orcpt,
                            action: DsnAction::Relayed,
                            remote_mta: Some(host),
                        });
                    }
                    marked
                }
                Outcome::Deferred(why) if self.policy.retry.expired(rcpt.received_at, now()) => {
                    tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, "giving up: {why}");
                    failed.push(Failed {
                        recipient: rcpt,
                        status: "4.4.7".into(),
                        diagnostic: format!(
                            "gave up after the maximum queue time; last error: {why}"
                        ),
                        remote_mta: None,
                    });
                    continue;
                }
                Outcome::Deferred(why) => {
                    let warning = self.policy.delay_warning;
                    if !warning.is_zero()
                        && !rcpt.warned
                        && now().saturating_sub(rcpt.received_at) >= warning.as_secs() as i64
                    {
                        late.push(Failed {
                            recipient: rcpt.clone(),
                            status: status_of(&why),
                            diagnostic: why.clone(),
                            remote_mta: None,
                        });
                    }
                    let delay = self
                        .policy
                        .retry
                        .delay(rcpt.attempts, &mut rand::thread_rng());
                    tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, retry_in = delay.as_secs(), "deferred: {why}");
                    stores
                        .queue
                        .defer(rcpt.id, now() + delay.as_secs() as i64, &why)
                        .await
                }
                Outcome::Failed {
                    status,
                    diagnostic,
                    remote_mta,
                } => {
                    tracing::info!(queue_id = %rcpt.message, rcpt = %rcpt.address, "failed: {diagnostic}");
                    failed.push(Failed {
                        recipient: rcpt,
                        status,
                        diagnostic,
                        remote_mta,
                    });
                    continue;
                }
            };
            if let Err(e) = result {
                tracing::warn!(queue_id = %entry.id, "cannot record the delivery outcome: {e}");
            }
        }
        if let Err(e) = self.reporter.report(stores, entry, queued, &failed).await {
            tracing::warn!(queue_id = %entry.id, "cannot record the failures: {e}");
        }
        if let Err(e) = self
            .reporter
            .report_delay(stores, entry, queued, &late)
            .await
        {
            tracing::warn!(queue_id = %entry.id, "cannot send the delay warning: {e}");
        }
        let original = Original::of(entry, queued);
        if let Err(e) = self
            .reporter
            .report_success(stores, &original, &relayed)
            .await
        {
            tracing::warn!(queue_id = %entry.id, "cannot send the success report: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_is_left_out_and_nothing_else() {
        assert_eq!(
            without_return_path(b"Return-Path: <a@x.test>\r\nReceived: x\r\n\r\nbody"),
            b"Received: x\r\n\r\nbody"
        );
        assert_eq!(
            without_return_path(b"Received: x\r\n\r\n"),
            b"Received: x\r\n\r\n"
        );
    }

    #[test]
    fn signing_domain_is_the_from_domain() {
        let m = b"Received: x\r\nFrom: Alice <alice@A.Test>\r\nTo: b@b.test\r\n\r\nhi\r\n";
        assert_eq!(from_domain(m).as_deref(), Some("a.test"));
        assert_eq!(domain_of("bob@B.test"), "b.test");
    }
}
