//! When to try a deferred recipient again, and when to give up.

use std::time::Duration;

/// Exponential backoff with jitter. RFC 5321 §4.5.4.1: retries of at least 30 minutes are
/// advised for remote delivery and giving up after 4–5 days; local deliveries only fail
/// temporarily when the store does, so they start sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5 * 60),
            max: Duration::from_secs(4 * 3600),
            give_up_after: Duration::from_secs(5 * 86_400),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt number `attempts + 1`, without jitter.
    pub fn base_delay(&self, attempts: u32) -> Duration {
        let factor = 1u64.checked_shl(attempts.min(30)).unwrap_or(u64::MAX);
        let secs = self.first.as_secs().saturating_mul(factor);
        Duration::from_secs(secs).min(self.max)
    }

    /// The delay with ±10 % jitter, so that recipients deferred together do not retry together.
    pub fn delay(&self, attempts: u32, rng: &mut impl rand::Rng) -> Duration {
        let base = self.base_delay(attempts).as_secs_f64();
        Duration::from_secs_f64(base * rng.gen_range(0.9..1.1))
    }

    /// Whether a message received at `received_at` has been tried long enough at `now`.
    pub fn expired(&self, received_at: i64, now: i64) -> bool {
        now.saturating_sub(received_at) >= self.give_up_after.as_secs() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_five_minutes_up_to_four_hours() {
        let p = RetryPolicy::default();
        let mins: Vec<u64> = (0..8).map(|a| p.base_delay(a).as_secs() / 60).collect();
        assert_eq!(mins, [5, 10, 20, 40, 80, 160, 240, 240]);
        assert_eq!(p.base_delay(u32::MAX), p.max);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let p = RetryPolicy::default();
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let d = p.delay(1, &mut rng).as_secs_f64();
            assert!((540.0..=660.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn gives_up_after_five_days() {
        let p = RetryPolicy::default();
        assert!(!p.expired(0, 5 * 86_400 - 1));
        assert!(p.expired(0, 5 * 86_400));
    }
}
