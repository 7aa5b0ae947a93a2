//! Which addresses count as one client or one network: an IP address cut to a prefix length.
//!
//! One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.4: interface identifiers are 64
//! bits, and SLAAC lets a host pick any of them), so counting IPv6 by address would give it
//! 2^64 tries; an IPv4 address is usually one host or one NAT. Connection limits and the
//! login throttle both count by [`PrefixLengths::network_of`], so they agree on what a
//! client is.

use std::net::IpAddr;

/// A prefix length that does not fit its address family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("an IPv4 prefix is 0 to 32 bits, not {0}")]
    Ipv4(u8),
    #[error("an IPv6 prefix is 0 to 128 bits, not {0}")]
    Ipv6(u8),
}

/// How many leading bits of an IPv4 and of an IPv6 address name one client (or network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixLengths {
    ipv4: u8,
    ipv6: u8,
}

impl PrefixLengths {
    /// Each IPv4 address on its own, IPv6 by /64: the usual size of one client.
    pub const CLIENT: PrefixLengths = PrefixLengths { ipv4: 32, ipv6: 64 };
    /// An IPv4 /24 and an IPv6 /48: the usual size of one site or one provider's customer.
    pub const NETWORK: PrefixLengths = PrefixLengths { ipv4: 24, ipv6: 48 };

    pub fn new(ipv4: u8, ipv6: u8) -> Result<Self, PrefixError> {
        if ipv4 > 32 {
            return Err(PrefixError::Ipv4(ipv4));
        }
        if ipv6 > 128 {
            return Err(PrefixError::Ipv6(ipv6));
        }
        Ok(Self { ipv4, ipv6 })
    }

    pub fn ipv4(self) -> u8 {
        self.ipv4
    }

    pub fn ipv6(self) -> u8 {
        self.ipv6
    }

    /// The first address of the network `ip` belongs to. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`, RFC 4291 §2.5.5.2) is an IPv4 client and is cut as one.
    pub fn network_of(self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & mask32(self.ipv4)).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & mask128(self.ipv6)).into()),
        }
    }
}

/// The top `bits` bits set (`bits` ≤ 32, checked in `new`).
fn mask32(bits: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0)
}

/// The top `bits` bits set (`bits` ≤ 128, checked in `new`).
fn mask128(bits: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cuts_each_family_to_its_own_length() {
        let p = PrefixLengths::new(24, 48).unwrap();
        assert_eq!(p.network_of(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(p.network_of(ip("2001:db8:1:2:3::4")), ip("2001:db8:1::"));
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        let c = PrefixLengths::CLIENT;
        assert_eq!(c.network_of(ip("192.0.2.77")), ip("192.0.2.77"));
        assert_eq!(
            c.network_of(ip("2001:db8::1")),
            c.network_of(ip("2001:db8::ffff:1"))
        );
        assert_ne!(
            c.network_of(ip("2001:db8::1")),
            c.network_of(ip("2001:db8:0:1::1"))
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4_clients() {
        let p = PrefixLengths::new(24, 64).unwrap();
        assert_eq!(p.network_of(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
    }

    #[test]
    fn zero_and_full_lengths_and_out_of_range() {
        let p = PrefixLengths::new(0, 128).unwrap();
        assert_eq!(p.network_of(ip("192.0.2.77")), ip("0.0.0.0"));
        assert_eq!(p.network_of(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(PrefixLengths::new(33, 64), Err(PrefixError::Ipv4(33)));
        assert_eq!(PrefixLengths::new(32, 129), Err(PrefixError::Ipv6(129)));
    }
}
