//! When to try a deferred recipient again, and when to give up.

use std::time::Duration;

/// A schedule of waits between attempts, the last repeating, with jitter; and the age at
/// which a message is given up. RFC 5321 §4.5.4.1 advises at least 30 minutes between
/// retries once the first ones have failed, and giving up after 4–5 days; the default
/// (5m, 10m, 30m, 1h, 2h, 4h, then every 4h, for 5 days) is what Postfix and most MTAs do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Never empty.
    intervals: Vec<Duration>,
    give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let minutes = [5, 10, 30, 60, 120, 240];
        Self {
            intervals: minutes.map(|m| Duration::from_secs(m * 60)).to_vec(),
            give_up_after: Duration::from_secs(5 * 86_400),
        }
    }
}

impl RetryPolicy {
    /// `intervals` empty means the default schedule.
    pub fn new(intervals: Vec<Duration>, give_up_after: Duration) -> Self {
        match intervals.is_empty() {
            true => Self {
                give_up_after,
                ..Self::default()
            },
            false => Self {
                intervals,
                give_up_after,
            },
        }
    }

    /// The wait after attempt number `attempts + 1` failed, without jitter.
    pub fn base_delay(&self, attempts: u32) -> Duration {
        let last = self.intervals.len() - 1;
        self.intervals[(attempts as usize).min(last)]
    }

    /// The wait with ±10 % jitter, so that recipients deferred together do not retry together.
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
    fn follows_the_schedule_and_repeats_the_last_wait() {
        let p = RetryPolicy::default();
        let mins: Vec<u64> = (0..8).map(|a| p.base_delay(a).as_secs() / 60).collect();
        assert_eq!(mins, [5, 10, 30, 60, 120, 240, 240, 240]);
        assert_eq!(p.base_delay(u32::MAX), Duration::from_secs(240 * 60));
        let short = RetryPolicy::new(vec![Duration::from_secs(1)], Duration::from_secs(9));
        assert_eq!(short.base_delay(7), Duration::from_secs(1));
        assert_eq!(
            RetryPolicy::new(Vec::new(), Duration::ZERO)
                .base_delay(0)
                .as_secs(),
            300
        );
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
