//! Failed logins, counted per client address and per account over a sliding window.
//!
//! Each failure is answered only after a delay, and once either count reaches its threshold
//! further attempts are refused without looking at the password, until the window has passed.
//! Counting per address slows one client guessing many accounts; counting per account slows
//! many clients guessing one.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    pub max_failures_per_ip: u32,
    pub max_failures_per_account: u32,
    pub window: Duration,
    /// How long each failed attempt waits before it is answered.
    pub failure_delay: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures_per_ip: 10,
            max_failures_per_account: 10,
            window: Duration::from_secs(15 * 60),
            failure_delay: Duration::from_secs(1),
        }
    }
}

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Address,
    Account,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Account(String),
}

/// Counts per client: an IPv6 client usually holds a whole /64, so that is what is counted.
fn client_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            Key::Ip(IpAddr::V6(bits.into()))
        }
        other => Key::Ip(other),
    }
}

#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    failures: Mutex<Failures>,
}

/// The failures, and the size of the map after its last pruning.
#[derive(Debug, Default)]
struct Failures {
    by_key: HashMap<Key, VecDeque<Instant>>,
    pruned_size: usize,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            failures: Mutex::new(Failures::default()),
        }
    }

    pub fn failure_delay(&self) -> Duration {
        self.config.failure_delay
    }

    /// Whether an attempt may go ahead. Account names are compared case-insensitively.
    pub fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Throttled> {
        let mut guard = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let failures = &mut guard.by_key;
        if self.recent(failures, client_key(ip), now) >= self.config.max_failures_per_ip {
            return Err(Throttled::Address);
        }
        if self.recent(failures, Key::Account(account.to_lowercase()), now)
            >= self.config.max_failures_per_account
        {
            return Err(Throttled::Account);
        }
        Ok(())
    }

    pub fn record_failure(&self, ip: IpAddr, account: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget stale entries whenever the map has doubled since the last time: amortised
        // constant work per failure, and the map holds at most about twice the live entries.
        if failures.by_key.len() >= (2 * failures.pruned_size).max(1024) {
            let window = self.config.window;
            failures.by_key.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
            failures.pruned_size = failures.by_key.len();
        }
        for key in [client_key(ip), Key::Account(account.to_lowercase())] {
            failures.by_key.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears its account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .by_key
            .remove(&Key::Account(account.to_lowercase()));
    }

    fn recent(
        &self,
        failures: &mut HashMap<Key, VecDeque<Instant>>,
        key: Key,
        now: Instant,
    ) -> u32 {
        let Some(times) = failures.get_mut(&key) else {
            return 0;
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.config.window)
        {
            times.pop_front();
        }
        let n = times.len() as u32;
        if n == 0 {
            failures.remove(&key);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            max_failures_per_ip: 3,
            max_failures_per_account: 2,
            window: Duration::from_secs(60),
            failure_delay: Duration::ZERO,
        })
    }

    #[test]
    fn blocks_an_account_after_its_threshold_until_the_window_passes() {
        let t = throttle();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let now = Instant::now();
        t.record_failure(a, "Alice@x", now);
        assert_eq!(t.check(b, "alice@x", now), Ok(()));
        t.record_failure(b, "alice@x", now);
        assert_eq!(t.check(b, "ALICE@x", now), Err(Throttled::Account));
        assert_eq!(t.check(b, "bob@x", now), Ok(()));
        assert_eq!(t.check(b, "alice@x", now + Duration::from_secs(61)), Ok(()));
    }

    #[test]
    fn blocks_an_address_guessing_many_accounts() {
        let t = throttle();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for user in ["u1", "u2", "u3"] {
            t.record_failure(a, user, now);
        }
        assert_eq!(t.check(a, "u4", now), Err(Throttled::Address));
        assert_eq!(t.check("192.0.2.9".parse().unwrap(), "u4", now), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let t = throttle();
        let now = Instant::now();
        for (i, user) in ["u1", "u2", "u3"].into_iter().enumerate() {
            t.record_failure(format!("2001:db8::{}", i + 1).parse().unwrap(), user, now);
        }
        assert_eq!(
            t.check("2001:db8::ffff".parse().unwrap(), "u4", now),
            Err(Throttled::Address)
        );
        assert_eq!(
            t.check("2001:db8:0:1::1".parse().unwrap(), "u4", now),
            Ok(())
        );
    }

    #[test]
    fn success_clears_the_account() {
        let t = throttle();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        t.record_failure(a, "alice", now);
        t.record_success("alice");
        t.record_failure(a, "alice", now);
        assert_eq!(t.check(a, "alice", now), Ok(()));
    }
}
