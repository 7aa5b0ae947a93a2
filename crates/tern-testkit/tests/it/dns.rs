//! `TestDns` answering the queue's `MxResolver`: MX order, null MX, NXDOMAIN, implicit MX,
//! SERVFAIL on and off, records changed while the resolver runs.

use std::net::{IpAddr, Ipv4Addr};

use tern_queue::outbound::dns::{DnsFailure, Host, MxResolver};
use tern_testkit::dns::TestDns;

async fn start() -> (TestDns, MxResolver) {
    let dns = TestDns::start().await;
    let resolver = MxResolver::new(&[dns.addr()]).expect("resolver");
    (dns, resolver)
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

fn host(name: &str, last: u8) -> Host {
    Host {
        name: name.into(),
        addrs: vec![IpAddr::V4(ip(last))],
    }
}

#[tokio::test]
async fn mx_hosts_come_in_preference_order_with_their_addresses() {
    let (dns, resolver) = start().await;
    dns.add_mx("b.test", 20, "backup.b.test").await;
    dns.add_mx("b.test", 10, "mx.b.test").await;
    dns.add_a("mx.b.test", ip(2)).await;
    dns.add_a("backup.b.test", ip(3)).await;
    assert_eq!(
        resolver.route("b.test").await,
        Ok(vec![host("mx.b.test", 2), host("backup.b.test", 3)])
    );
    // A trailing dot and upper case change nothing.
    assert_eq!(resolver.route("B.TEST.").await.map(|h| h.len()), Ok(2));
}

#[tokio::test]
async fn null_mx_and_nxdomain_are_permanent() {
    let (dns, resolver) = start().await;
    dns.add_mx("nullmx.test", 0, ".").await;
    let null = resolver.route("nullmx.test").await.unwrap_err();
    assert_eq!(null, DnsFailure::NullMx);
    assert_eq!(null.status().to_string(), "5.1.10");
    let missing = resolver.route("nowhere.test").await.unwrap_err();
    assert_eq!(missing, DnsFailure::NoSuchDomain);
    assert!(missing.is_permanent());
}

#[tokio::test]
async fn a_domain_without_mx_is_its_own_host() {
    let (dns, resolver) = start().await;
    dns.add_a("a.test", ip(4)).await;
    assert_eq!(resolver.route("a.test").await, Ok(vec![host("a.test", 4)]));
}

#[tokio::test]
async fn mx_hosts_without_addresses_leave_nothing_to_try() {
    let (dns, resolver) = start().await;
    dns.add_mx("c.test", 10, "gone.c.test").await;
    let failure = resolver.route("c.test").await.unwrap_err();
    assert!(matches!(failure, DnsFailure::NoAddresses(_)), "{failure:?}");
    assert_eq!(failure.status().to_string(), "5.4.4");
}

#[tokio::test]
async fn records_added_after_nxdomain_and_removed_after_use_are_seen() {
    let (dns, resolver) = start().await;
    assert_eq!(
        resolver.route("new.test").await,
        Err(DnsFailure::NoSuchDomain)
    );
    dns.add_mx("new.test", 10, "mx.new.test").await;
    dns.add_a("mx.new.test", ip(5)).await;
    assert_eq!(
        resolver.route("new.test").await,
        Ok(vec![host("mx.new.test", 5)])
    );
    // With mx.new.test still there, new.test exists without records (NODATA): no MX, and no
    // address for the implicit MX either.
    dns.remove("new.test").await;
    let failure = resolver.route("new.test").await.unwrap_err();
    assert!(matches!(failure, DnsFailure::NoAddresses(_)), "{failure:?}");
    dns.remove("mx.new.test").await;
    assert_eq!(
        resolver.route("new.test").await,
        Err(DnsFailure::NoSuchDomain)
    );
}

#[tokio::test]
async fn servfail_is_temporary_until_it_stops() {
    let (dns, resolver) = start().await;
    dns.add_mx("d.test", 10, "mx.d.test").await;
    dns.add_a("mx.d.test", ip(6)).await;
    dns.set_servfail("d.test", true).await;
    let failure = resolver.route("d.test").await.unwrap_err();
    assert!(matches!(failure, DnsFailure::Temporary(_)), "{failure:?}");
    assert!(!failure.is_permanent());
    dns.set_servfail("d.test", false).await;
    assert_eq!(
        resolver.route("d.test").await,
        Ok(vec![host("mx.d.test", 6)])
    );
}

#[tokio::test]
async fn an_mx_host_whose_lookup_fails_is_skipped() {
    let (dns, resolver) = start().await;
    dns.add_mx("e.test", 10, "broken.e.test").await;
    dns.add_mx("e.test", 20, "mx.e.test").await;
    dns.add_a("broken.e.test", ip(7)).await;
    dns.add_a("mx.e.test", ip(8)).await;
    dns.set_servfail("broken.e.test", true).await;
    assert_eq!(
        resolver.route("e.test").await,
        Ok(vec![host("mx.e.test", 8)])
    );
    // Every host failing temporarily: the whole lookup is temporary, not "no address".
    dns.set_servfail("mx.e.test", true).await;
    let failure = resolver.route("e.test").await.unwrap_err();
    assert!(matches!(failure, DnsFailure::Temporary(_)), "{failure:?}");
}

#[tokio::test]
async fn names_outside_the_test_zone_are_refused_so_temporary() {
    let (_dns, resolver) = start().await;
    let failure = resolver.route("example.org").await.unwrap_err();
    assert!(matches!(failure, DnsFailure::Temporary(_)), "{failure:?}");
}

#[tokio::test]
async fn address_literals_skip_the_dns() {
    let (_dns, resolver) = start().await;
    assert_eq!(
        resolver.route("[127.0.0.9]").await,
        Ok(vec![host("127.0.0.9", 9)])
    );
    assert_eq!(
        resolver.route("[IPv6:::1]").await,
        Ok(vec![Host {
            name: "::1".into(),
            addrs: vec!["::1".parse().unwrap()],
        }])
    );
}
