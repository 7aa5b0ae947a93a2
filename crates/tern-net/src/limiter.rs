//! Concurrent connection limits: in all, and per client.
//!
//! A client is an address cut to its prefix ([`PrefixLengths`], by default each IPv4 address
//! and each IPv6 /64): one IPv6 host holds a whole /64, and counting it by address would let
//! it take every slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tern_types::PrefixLengths;

/// Counts open connections; a [`Permit`] gives its place back when dropped.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_client: usize,
    client: PrefixLengths,
    /// Open connections in all, and per client network (see `client`).
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyConnections,
    TooManyFromAddress,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooManyConnections => "too many connections",
            Refusal::TooManyFromAddress => "too many connections from this client",
        })
    }
}

/// A place among the open connections; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<ConnectionLimiter>,
    /// The client network this place is counted against.
    client: IpAddr,
}

impl ConnectionLimiter {
    /// `client` says which addresses count as one client for `max_per_client`.
    pub fn new(max_total: usize, max_per_client: usize, client: PrefixLengths) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_client,
            client,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.0 >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        let client = self.client.network_of(ip);
        let from_client = open.1.entry(client).or_insert(0);
        if *from_client >= self.max_per_client {
            return Err(Refusal::TooManyFromAddress);
        }
        *from_client += 1;
        open.0 += 1;
        Ok(Permit {
            limiter: self.clone(),
            client,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_all_and_per_address_and_gives_places_back() {
        let limiter = ConnectionLimiter::new(3, 2, PrefixLengths::CLIENT);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = limiter.try_acquire(a).unwrap();
        let _p2 = limiter.try_acquire(a).unwrap();
        assert_eq!(
            limiter.try_acquire(a).err(),
            Some(Refusal::TooManyFromAddress)
        );
        let _p3 = limiter.try_acquire(b).unwrap();
        assert_eq!(
            limiter.try_acquire(b).err(),
            Some(Refusal::TooManyConnections)
        );
        drop(p1);
        assert!(limiter.try_acquire(a).is_ok());
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let limiter = ConnectionLimiter::new(100, 2, PrefixLengths::CLIENT);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let _p1 = limiter.try_acquire(ip("2001:db8::1")).unwrap();
        let _p2 = limiter.try_acquire(ip("2001:db8::2:3")).unwrap();
        assert_eq!(
            limiter
                .try_acquire(ip("2001:db8::ffff:ffff:ffff:ffff"))
                .err(),
            Some(Refusal::TooManyFromAddress)
        );
        // The next /64 is another client; IPv4 addresses are still counted one by one.
        assert!(limiter.try_acquire(ip("2001:db8:0:1::1")).is_ok());
        let _v4 = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        let _v4b = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        assert!(limiter.try_acquire(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn ipv4_can_be_counted_by_network() {
        let limiter = ConnectionLimiter::new(100, 2, PrefixLengths::new(24, 64).unwrap());
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let _p1 = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        let p2 = limiter.try_acquire(ip("192.0.2.2")).unwrap();
        assert_eq!(
            limiter.try_acquire(ip("192.0.2.3")).err(),
            Some(Refusal::TooManyFromAddress)
        );
        assert!(limiter.try_acquire(ip("192.0.3.1")).is_ok());
        drop(p2);
        assert!(limiter.try_acquire(ip("192.0.2.3")).is_ok());
    }
}
