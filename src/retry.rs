//! The one retry policy, shared by the connectors and the daemon: exponential backoff
//! (backon's schedule), doubling from a first delay to a ceiling, with jitter-free,
//! predictable pauses an operator can read in the log.

use std::time::Duration;
use tokio::sync::watch;

/// Exponential from `first`, doubling, at most `max` between attempts; `times` retries
/// after the first attempt, or never giving up with `None`.
pub fn policy(first: Duration, max: Duration, times: Option<usize>) -> backon::ExponentialBuilder {
    let b = backon::ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max);
    match times {
        Some(n) => b.with_max_times(n),
        None => b.without_max_times(),
    }
}

/// The pauses between attempts at something that must not be skipped: exponential from
/// the first delay to at most 30 s, never giving up, and stopped by shutdown.
pub struct Retry {
    delays: backon::ExponentialBackoff,
    next: Duration,
}

impl Retry {
    pub fn from(first: Duration) -> Retry {
        use backon::BackoffBuilder;
        let mut delays = policy(first, Duration::from_secs(30), None).build();
        let next = delays.next().unwrap_or(first);
        Retry { delays, next }
    }

    /// The pause `pause` will take, for the log line that announces it.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// Waits the next pause; false when shutdown comes first.
    pub async fn pause(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return false,
            _ = tokio::time::sleep(self.next) => {}
        }
        self.next = self.delays.next().unwrap_or(self.next);
        true
    }
}

/// The pause after `attempts` failed tries on `policy`'s schedule (the last pause once
/// the schedule has none left): for work retried across passes rather than in a loop.
pub fn gap(first: Duration, max: Duration, attempts: u32) -> Duration {
    use backon::BackoffBuilder;
    // Past 32 doublings every schedule has long reached its ceiling.
    policy(first, max, None)
        .build()
        .nth(attempts.min(32) as usize)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn delays_double_to_the_ceiling_and_stop_after_the_retries() {
        let delays: Vec<u64> = policy(Duration::from_millis(200), Duration::from_secs(1), Some(4))
            .build()
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![200, 400, 800, 1000]);
        let mut forever = policy(Duration::from_secs(1), Duration::from_secs(30), None).build();
        assert_eq!(forever.nth(20), Some(Duration::from_secs(30)));
    }
}
