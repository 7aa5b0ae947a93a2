//! Failed logins, counted per client, per network and per account over a sliding window, so
//! that guessing is slow and costly for the guesser and never locks the owner out.
//!
//! The design and its reasoning are in `docs/login-throttle.md`. In short:
//! - a **client** (by default an IPv4 address or an IPv6 /64) past `max_failures_per_client`
//!   failures within the window is refused until its oldest failures age out;
//! - a **network** (by default an IPv4 /24 or an IPv6 /48) past `max_failures_per_network` is
//!   refused the same way, except for a client logging in to an account it logged in to
//!   recently;
//! - each failure is answered after a delay that doubles with the client's recent failures,
//!   up to `max_failure_delay`;
//! - an **account** is never refused: past `max_failures_per_account`, an attempt for it from
//!   a client without a recent success for it waits a small fixed `account_delay` first.
//!
//! The throttle knows nothing of protocols: POP3, IMAP and submission ask it the same
//! questions with the peer's address and the login name, and sleep for what it answers.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tern_types::PrefixLengths;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// How long a failure counts, and how long a success exempts its client.
    pub window: Duration,
    /// Which addresses are one client.
    pub client: PrefixLengths,
    pub max_failures_per_client: u32,
    /// Which addresses are one network.
    pub network: PrefixLengths,
    pub max_failures_per_network: u32,
    /// The wait before answering a client's first failure; it doubles with each further one.
    pub failure_delay: Duration,
    pub max_failure_delay: Duration,
    /// Failures for one account past which strangers to it wait `account_delay`.
    pub max_failures_per_account: u32,
    pub account_delay: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            client: PrefixLengths::CLIENT,
            max_failures_per_client: 10,
            network: PrefixLengths::NETWORK,
            max_failures_per_network: 30,
            failure_delay: Duration::from_secs(1),
            max_failure_delay: Duration::from_secs(15),
            max_failures_per_account: 10,
            account_delay: Duration::from_millis(250),
        }
    }
}

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// This client has failed too often.
    Client,
    /// Clients of this network have failed too often.
    Network,
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Throttled::Client => "too many failed logins from this client",
            Throttled::Network => "too many failed logins from this network",
        })
    }
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(IpAddr),
    Network(IpAddr),
    /// A login name, lower-cased.
    Account(String),
}

/// A login attempt let through by [`LoginThrottle::admit`], to be ended with
/// [`LoginThrottle::failed`], [`LoginThrottle::succeeded`] or [`LoginThrottle::withdrawn`].
#[derive(Debug)]
#[must_use = "an attempt is ended with failed(), succeeded() or withdrawn()"]
pub struct Attempt {
    client: IpAddr,
    /// The network its failure is counted against; none for a client that logged in to this
    /// account recently.
    network: Option<IpAddr>,
    /// Lower-cased.
    account: String,
    /// When it was admitted, which is the failure counted against its client and network.
    at: Instant,
    wait: Duration,
}

impl Attempt {
    /// How long to wait before checking the password: non-zero for an account under attack,
    /// when this client has not logged in to it recently.
    pub fn wait(&self) -> Duration {
        self.wait
    }
}

#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The newest failures per key, oldest first, at most the key's threshold of them.
    failures: HashMap<Key, VecDeque<Instant>>,
    /// The last successful login per (client, lower-cased login name).
    successes: HashMap<(IpAddr, String), Instant>,
    /// The size of both maps after their last pruning.
    pruned_size: usize,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// Before the password is checked: refused, or let through as an [`Attempt`] that counts
    /// as a failure of its client and its network until [`LoginThrottle::succeeded`] takes
    /// that back. Counting before the check means parallel connections cannot slip extra
    /// guesses past a threshold while their passwords are being verified; an attempt whose
    /// session ends before it is answered stays counted. Login names are compared
    /// case-insensitively.
    pub fn admit(&self, ip: IpAddr, account: &str, now: Instant) -> Result<Attempt, Throttled> {
        let c = &self.config;
        let client = c.client.network_of(ip);
        let network = c.network.network_of(ip);
        let account = account.to_lowercase();
        let mut state = self.lock();
        state.prune(c.window, now);
        if state.recent(Key::Client(client), c.window, now) >= c.max_failures_per_client {
            return Err(Throttled::Client);
        }
        let trusted = state.succeeded_recently(client, &account, c.window, now);
        if !trusted
            && state.recent(Key::Network(network), c.window, now) >= c.max_failures_per_network
        {
            return Err(Throttled::Network);
        }
        let under_attack = state.recent(Key::Account(account.clone()), c.window, now)
            >= c.max_failures_per_account;
        state.push(Key::Client(client), c.max_failures_per_client, now);
        // A client with a recent success for this account is not refused with its network,
        // so its attempts are not counted against the network either.
        let network = (!trusted).then_some(network);
        if let Some(network) = network {
            state.push(Key::Network(network), c.max_failures_per_network, now);
        }
        Ok(Attempt {
            client,
            network,
            account,
            at: now,
            wait: match under_attack && !trusted {
                true => c.account_delay,
                false => Duration::ZERO,
            },
        })
    }

    /// The attempt's password was wrong (or its account unknown); returns how long to wait
    /// before answering it.
    pub fn failed(&self, attempt: Attempt, now: Instant) -> Duration {
        let c = &self.config;
        let mut state = self.lock();
        state.push(
            Key::Account(attempt.account),
            c.max_failures_per_account,
            now,
        );
        let client_failures = state.recent(Key::Client(attempt.client), c.window, now);
        let doublings = client_failures.saturating_sub(1).min(31);
        c.failure_delay
            .saturating_mul(1u32 << doublings)
            .min(c.max_failure_delay)
    }

    /// The attempt logged in: its failure is taken back, and its client is remembered as
    /// one that logged in to this account, which for a window spares it the account's delay
    /// and its network's refusal. The client's earlier failures stay counted, or a guesser
    /// with an account of its own could wipe them by logging in to it.
    pub fn succeeded(&self, attempt: Attempt, now: Instant) {
        let mut state = self.lock();
        state.take_back_attempt(&attempt);
        state
            .successes
            .insert((attempt.client, attempt.account), now);
    }

    /// The attempt ended without a verdict on its password (a server failure): its failure
    /// is taken back, and nothing is remembered.
    pub fn withdrawn(&self, attempt: Attempt) {
        self.lock().take_back_attempt(&attempt);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// How many failures `key` has within the window (forgetting older ones).
    fn recent(&mut self, key: Key, window: Duration, now: Instant) -> u32 {
        let Some(times) = self.failures.get_mut(&key) else {
            return 0;
        };
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            times.pop_front();
        }
        let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if n == 0 {
            self.failures.remove(&key);
        }
        n
    }

    /// Adds a failure to `key`, keeping at most `cap` of them: a count past its threshold
    /// changes nothing, and memory stays bounded.
    fn push(&mut self, key: Key, cap: u32, now: Instant) {
        let times = self.failures.entry(key).or_default();
        times.push_back(now);
        let cap = usize::try_from(cap).unwrap_or(usize::MAX).max(1);
        while times.len() > cap {
            times.pop_front();
        }
    }

    /// Removes the failure `admit` counted for this attempt, where it is still there.
    fn take_back_attempt(&mut self, attempt: &Attempt) {
        let network = attempt.network.map(Key::Network);
        for key in std::iter::once(Key::Client(attempt.client)).chain(network) {
            if let Some(times) = self.failures.get_mut(&key) {
                if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                    times.remove(i);
                }
                if times.is_empty() {
                    self.failures.remove(&key);
                }
            }
        }
    }

    fn succeeded_recently(
        &self,
        client: IpAddr,
        account: &str,
        window: Duration,
        now: Instant,
    ) -> bool {
        self.successes
            .get(&(client, account.to_string()))
            .is_some_and(|t| now.saturating_duration_since(*t) < window)
    }

    /// Forgets stale entries whenever the maps have doubled since the last time: amortised
    /// constant work per login, and the maps hold at most about twice the live entries.
    fn prune(&mut self, window: Duration, now: Instant) {
        let size = self.failures.len() + self.successes.len();
        if size < self.pruned_size.saturating_mul(2).max(1024) {
            return;
        }
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < window;
        self.failures
            .retain(|_, times| times.back().is_some_and(fresh));
        self.successes.retain(|_, t| fresh(t));
        self.pruned_size = self.failures.len() + self.successes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            window: Duration::from_secs(60),
            max_failures_per_client: 3,
            max_failures_per_network: 5,
            max_failures_per_account: 2,
            failure_delay: Duration::from_millis(100),
            max_failure_delay: Duration::from_millis(350),
            account_delay: Duration::from_millis(50),
            ..ThrottleConfig::default()
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// One wrong password; the wait before its answer.
    fn fail(t: &LoginThrottle, from: &str, user: &str, now: Instant) -> Duration {
        let attempt = t.admit(ip(from), user, now).expect("admitted");
        t.failed(attempt, now)
    }

    fn log_in(t: &LoginThrottle, from: &str, user: &str, now: Instant) {
        let attempt = t.admit(ip(from), user, now).expect("admitted");
        t.succeeded(attempt, now);
    }

    fn wait(
        t: &LoginThrottle,
        from: &str,
        user: &str,
        now: Instant,
    ) -> Result<Duration, Throttled> {
        t.admit(ip(from), user, now).map(|a| a.wait())
    }

    #[test]
    fn a_client_is_refused_past_its_threshold_until_the_window_passes() {
        let t = throttle();
        let now = Instant::now();
        for user in ["u1", "u2", "u3"] {
            fail(&t, "192.0.2.1", user, now);
        }
        assert_eq!(wait(&t, "192.0.2.1", "u4", now), Err(Throttled::Client));
        assert!(wait(&t, "192.0.2.9", "u4", now).is_ok());
        let later = now + Duration::from_secs(61);
        assert!(wait(&t, "192.0.2.1", "u4", later).is_ok());
    }

    #[test]
    fn parallel_attempts_count_before_their_passwords_are_checked() {
        let t = throttle();
        let now = Instant::now();
        let pending: Vec<Attempt> = (0..3)
            .map(|_| t.admit(ip("192.0.2.1"), "u", now).unwrap())
            .collect();
        assert_eq!(wait(&t, "192.0.2.1", "u", now), Err(Throttled::Client));
        // Successes give their places back.
        for attempt in pending {
            t.succeeded(attempt, now);
        }
        for _ in 0..10 {
            log_in(&t, "192.0.2.1", "u", now);
        }
        assert!(wait(&t, "192.0.2.1", "u", now).is_ok());
    }

    #[test]
    fn a_withdrawn_attempt_is_not_a_failure() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..5 {
            let attempt = t.admit(ip("192.0.2.1"), "u", now).unwrap();
            t.withdrawn(attempt);
        }
        assert_eq!(wait(&t, "192.0.2.1", "u", now), Ok(Duration::ZERO));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let t = throttle();
        let now = Instant::now();
        for i in 1..=3 {
            fail(&t, &format!("2001:db8::{i}"), "u", now);
        }
        assert_eq!(wait(&t, "2001:db8::ffff", "v", now), Err(Throttled::Client));
        assert!(wait(&t, "2001:db8:0:1::1", "v", now).is_ok());
    }

    #[test]
    fn a_network_is_refused_past_its_threshold() {
        let t = throttle();
        let now = Instant::now();
        for i in 1..=5 {
            fail(&t, &format!("192.0.2.{i}"), "x", now);
        }
        assert_eq!(wait(&t, "192.0.2.200", "y", now), Err(Throttled::Network));
        assert!(wait(&t, "192.0.3.1", "y", now).is_ok());
    }

    #[test]
    fn a_recent_success_exempts_its_client_from_the_network_refusal_for_that_account() {
        let t = throttle();
        let now = Instant::now();
        log_in(&t, "192.0.2.100", "alice", now);
        for i in 1..=5 {
            fail(&t, &format!("192.0.2.{i}"), "alice", now);
        }
        assert_eq!(wait(&t, "192.0.2.100", "Alice", now), Ok(Duration::ZERO));
        assert_eq!(wait(&t, "192.0.2.100", "bob", now), Err(Throttled::Network));
        // Its own logins do not count against the network, nor take failures off it.
        log_in(&t, "192.0.2.100", "alice", now);
        assert_eq!(wait(&t, "192.0.2.101", "bob", now), Err(Throttled::Network));
    }

    #[test]
    fn an_account_is_never_refused_only_delayed_for_strangers() {
        let t = throttle();
        let now = Instant::now();
        log_in(&t, "198.51.100.7", "alice", now);
        for i in 0..20 {
            fail(&t, &format!("10.{i}.0.1"), "ALICE", now);
        }
        let stranger = Duration::from_millis(50);
        assert_eq!(wait(&t, "203.0.113.1", "alice", now), Ok(stranger));
        assert_eq!(wait(&t, "198.51.100.7", "alice", now), Ok(Duration::ZERO));
        assert_eq!(wait(&t, "203.0.113.2", "bob", now), Ok(Duration::ZERO));
    }

    #[test]
    fn the_failure_delay_doubles_per_client_up_to_its_cap() {
        let t = throttle();
        let now = Instant::now();
        let delays: Vec<Duration> = (0..3).map(|_| fail(&t, "192.0.2.1", "u", now)).collect();
        let ms = Duration::from_millis;
        assert_eq!(delays, [ms(100), ms(200), ms(350)]);
        // Another client starts from the bottom.
        assert_eq!(fail(&t, "192.0.2.2", "u", now), ms(100));
    }

    #[test]
    fn a_success_does_not_clear_the_clients_failures() {
        let t = throttle();
        let now = Instant::now();
        fail(&t, "192.0.2.1", "victim", now);
        fail(&t, "192.0.2.1", "victim", now);
        log_in(&t, "192.0.2.1", "own-account", now);
        fail(&t, "192.0.2.1", "victim", now);
        assert_eq!(wait(&t, "192.0.2.1", "victim", now), Err(Throttled::Client));
    }
}
