//! Where a domain's mail goes: its MX hosts in order, each with its addresses (RFC 5321 §5.1).
//!
//! # Standards
//! - RFC 5321 §5.1 (MX order, implicit MX), §4.1.3 (address literals)
//! - RFC 7505 (null MX), RFC 3463 (the status codes of the failures)
//!
//! # Security
//! Answers come from the DNS, untrusted: at most [`MAX_EXCHANGES`] hosts are looked up.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use hickory_resolver::{
    config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::{runtime::TokioRuntimeProvider, DnsError, NetError, NoRecords},
    proto::{
        op::ResponseCode,
        rr::{Name, RData},
    },
    Resolver, TokioResolver,
};
use rand::{seq::SliceRandom, Rng};

use super::client::EnhancedStatus;

/// MX hosts looked up per domain, best first. Postfix tries 5 addresses; a domain with more
/// hosts than this gains nothing but our queries.
pub const MAX_EXCHANGES: usize = 10;

/// One host to try, with its addresses (IPv4 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The MX host's name without the final dot (for SNI and Remote-MTA), or the address of a
    /// domain literal.
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

/// Why a domain has no host to deliver to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    /// RFC 7505 §3: the domain says it accepts no mail.
    #[error("the domain accepts no mail (null MX)")]
    NullMx,
    /// NXDOMAIN, or a name that cannot exist.
    #[error("the domain does not exist")]
    NoSuchDomain,
    /// The domain exists, but neither it (without MX) nor any MX host has an address.
    #[error("{0}")]
    NoAddresses(String),
    /// SERVFAIL, a timeout, no answer: ask again later.
    #[error("DNS lookup failed: {0}")]
    Temporary(String),
}

impl DnsFailure {
    /// Bounce (true) or retry later (false).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, DnsFailure::Temporary(_))
    }

    /// The RFC 3463 status a DSN reports.
    pub fn status(&self) -> EnhancedStatus {
        EnhancedStatus(match self {
            // RFC 7505 §4.2 (registered by RFC 7504).
            DnsFailure::NullMx => [5, 1, 10],
            // X.1.2: bad destination system address.
            DnsFailure::NoSuchDomain => [5, 1, 2],
            // X.4.4: unable to route.
            DnsFailure::NoAddresses(_) => [5, 4, 4],
            // X.4.3: directory server failure.
            DnsFailure::Temporary(_) => [4, 4, 3],
        })
    }
}

/// MX and address lookups.
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxResolver").finish_non_exhaustive()
    }
}

impl MxResolver {
    /// Asks exactly these servers, over UDP and TCP on each one's port.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, String> {
        if servers.is_empty() {
            return Err("no DNS server given".into());
        }
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        tune(builder.options_mut());
        Self::build(builder)
    }

    /// Asks the servers of /etc/resolv.conf.
    pub fn system() -> Result<Self, String> {
        let mut builder = TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
        tune(builder.options_mut());
        Self::build(builder)
    }

    fn build(
        builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
    ) -> Result<Self, String> {
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?;
        Ok(Self { resolver })
    }

    /// The hosts to try for `domain`, in order (RFC 5321 §5.1).
    pub async fn route(&self, domain: &str) -> Result<Vec<Host>, DnsFailure> {
        if let Some(literal) = domain.strip_prefix('[') {
            return address_literal(literal).map(|ip| {
                vec![Host {
                    name: ip.to_string(),
                    addrs: vec![ip],
                }]
            });
        }
        let name = fqdn(domain)?;
        let answers = match self.resolver.mx_lookup(name.clone()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                    _ => None,
                })
                .collect(),
            Err(e) => match no_records(&e) {
                Some(ResponseCode::NXDomain) => return Err(DnsFailure::NoSuchDomain),
                Some(_) => Vec::new(),
                None => return Err(DnsFailure::Temporary(format!("MX {name}: {e}"))),
            },
        };
        if answers.is_empty() {
            // RFC 5321 §5.1: no MX records: the domain itself is the one host, preference 0.
            return match self.addresses(&name).await {
                Ok(addrs) if !addrs.is_empty() => Ok(vec![Host {
                    name: display_name(&name),
                    addrs,
                }]),
                Ok(_) => Err(DnsFailure::NoAddresses(format!(
                    "{domain} has no MX and no address records"
                ))),
                Err(e) => Err(DnsFailure::Temporary(e)),
            };
        }
        let exchanges = order_exchanges(answers, &mut rand::thread_rng())?;
        let mut hosts = Vec::new();
        let mut temporary = None;
        for exchange in exchanges.iter().take(MAX_EXCHANGES) {
            // A host whose lookup fails is skipped; the others may do.
            match self.addresses(exchange).await {
                Ok(addrs) if !addrs.is_empty() => hosts.push(Host {
                    name: display_name(exchange),
                    addrs,
                }),
                Ok(_) => tracing::debug!(%domain, %exchange, "MX host has no address"),
                Err(e) => temporary = Some(e),
            }
        }
        match (hosts.is_empty(), temporary) {
            (false, _) => Ok(hosts),
            (true, Some(e)) => Err(DnsFailure::Temporary(e)),
            (true, None) => Err(DnsFailure::NoAddresses(format!(
                "no MX host of {domain} has an address"
            ))),
        }
    }

    /// A host's IPv4 then IPv6 addresses. Empty when it has none; an error only when a lookup
    /// failed and the other found nothing.
    async fn addresses(&self, name: &Name) -> Result<Vec<IpAddr>, String> {
        let (v4, v6) = tokio::join!(
            self.resolver.ipv4_lookup(name.clone()),
            self.resolver.ipv6_lookup(name.clone())
        );
        let mut addrs = Vec::new();
        let mut failure = None;
        for (kind, result) in [("A", v4), ("AAAA", v6)] {
            match result {
                Ok(lookup) => addrs.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })),
                Err(e) if no_records(&e).is_some() => {}
                Err(e) => failure = Some(format!("{kind} {name}: {e}")),
            }
        }
        match failure {
            Some(e) if addrs.is_empty() => Err(e),
            _ => Ok(addrs),
        }
    }
}

/// Options for both constructors.
fn tune(options: &mut ResolverOpts) {
    // Postfix's default too (smtp_host_lookup = dns): mail routing comes from the DNS only.
    options.use_hosts_file = ResolveHosts::Never;
    // The queue retries minutes apart, so caching a negative answer saves nothing, while a
    // stale NXDOMAIN would bounce mail for a domain just created.
    options.negative_max_ttl = Some(Duration::ZERO);
}

/// The response code of an answer without records (NXDOMAIN or NODATA); None for failures.
fn no_records(e: &NetError) -> Option<ResponseCode> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            Some(*response_code)
        }
        _ => None,
    }
}

/// The domain as an absolute name, so that no search domain of resolv.conf applies.
fn fqdn(domain: &str) -> Result<Name, DnsFailure> {
    let mut name = Name::from_utf8(domain).map_err(|_| DnsFailure::NoSuchDomain)?;
    name.set_fqdn(true);
    Ok(name)
}

fn display_name(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// RFC 5321 §4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]` (the "[" already removed). Any other
/// literal names no host we can reach.
fn address_literal(literal: &str) -> Result<IpAddr, DnsFailure> {
    let inner = literal.strip_suffix(']').ok_or(DnsFailure::NoSuchDomain)?;
    let ip = match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => {
            inner[5..].parse::<Ipv6Addr>().map(IpAddr::V6)
        }
        _ => inner.parse::<Ipv4Addr>().map(IpAddr::V4),
    };
    ip.map_err(|_| DnsFailure::NoSuchDomain)
}

/// RFC 5321 §5.1: lowest preference first, and hosts of equal preference in random order, to
/// spread the load. RFC 7505 §3: a single MX of preference 0 and exchange "." is a null MX.
/// A "." mixed in with other records is not one (§3 forbids the mix); it is skipped.
fn order_exchanges(
    mut records: Vec<(u16, Name)>,
    rng: &mut impl Rng,
) -> Result<Vec<Name>, DnsFailure> {
    if let [(0, exchange)] = records.as_slice() {
        if exchange.is_root() {
            return Err(DnsFailure::NullMx);
        }
    }
    records.retain(|(_, exchange)| !exchange.is_root());
    records.shuffle(rng);
    // A stable sort keeps the shuffled order within each preference.
    records.sort_by_key(|(preference, _)| *preference);
    Ok(records.into_iter().map(|(_, exchange)| exchange).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn null_mx_is_one_record_of_preference_0_to_the_root() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            order_exchanges(vec![(0, Name::root())], &mut rng),
            Err(DnsFailure::NullMx)
        );
        // Mixed in with others: skipped, the others used.
        let mixed = vec![(0, Name::root()), (10, name("mx.b.test."))];
        assert_eq!(
            order_exchanges(mixed, &mut rng),
            Ok(vec![name("mx.b.test.")])
        );
    }

    #[test]
    fn lower_preference_first_and_equal_preferences_shuffled() {
        let records = vec![
            (20, name("c.test.")),
            (10, name("a.test.")),
            (10, name("b.test.")),
            (5, name("first.test.")),
        ];
        let mut orders = std::collections::HashSet::new();
        for seed in 0..32 {
            let order = order_exchanges(records.clone(), &mut StdRng::seed_from_u64(seed)).unwrap();
            assert_eq!(order[0], name("first.test."));
            assert_eq!(order[3], name("c.test."));
            orders.insert(order);
        }
        assert_eq!(
            orders.len(),
            2,
            "both orders of the two preference-10 hosts occur"
        );
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            address_literal("127.0.0.1]"),
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(
            address_literal("IPv6:::1]"),
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            address_literal("ipv6:::1]"),
            Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(address_literal("::1]"), Err(DnsFailure::NoSuchDomain));
        assert_eq!(address_literal("127.0.0.1"), Err(DnsFailure::NoSuchDomain));
    }

    #[tokio::test]
    async fn a_lookup_can_run_in_a_spawned_task() {
        fn assert_send<T: Send>(_: &T) {}
        let resolver = MxResolver::new(&["127.0.0.1:9".parse().unwrap()]).unwrap();
        assert_send(&resolver.route("b.test"));
    }

    #[tokio::test]
    async fn a_domain_literal_needs_no_dns() {
        // A server nobody listens on: the literal must not reach it.
        let resolver = MxResolver::new(&["127.0.0.1:9".parse().unwrap()]).unwrap();
        let hosts = resolver.route("[127.0.0.1]").await.unwrap();
        assert_eq!(
            hosts,
            vec![Host {
                name: "127.0.0.1".into(),
                addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
            }]
        );
    }
}
