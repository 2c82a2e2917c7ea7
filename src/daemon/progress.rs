//! Is each partition moving? Pure: observations and the time come in, changes of state
//! come out.
//!
//! A partition whose consumer does not stand at the broker's end (lag ≠ 0) and has not
//! moved for `stall_after` is stalled: a consumer that stopped getting records must never
//! look healthy. Lag is usually positive (events waiting). It is negative when the group
//! stands beyond the end the broker reports, which a sound broker never shows: data lost
//! on the broker, or a broker defect. Both count. (tansu 0.6's memory storage does both
//! after a consumer resumes inside a multi-record batch: it hands over nothing more, and
//! reports the partition's end as 1.)

use std::collections::BTreeMap;
use std::time::Duration;

/// One assigned partition, as read from the consumer and the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub topic: String,
    pub partition: i32,
    /// The next offset the consumer will hand over, once it has handed over any.
    pub position: Option<i64>,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The broker's low and high watermarks (high = the offset the next record gets).
    pub low: i64,
    pub high: i64,
}

impl Observation {
    /// Where the consumer stands: its position, else the committed offset, else the start.
    pub fn standing(&self) -> i64 {
        self.position.or(self.committed).unwrap_or(self.low)
    }

    /// Events waiting; negative when the group stands beyond the broker's end.
    pub fn lag(&self) -> i64 {
        self.high - self.standing()
    }
}

/// A change worth telling an operator about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Stalled {
        topic: String,
        partition: i32,
        position: i64,
        /// The broker's end of the partition.
        high: i64,
        idle: Duration,
    },
    Resumed {
        topic: String,
        partition: i32,
        position: i64,
    },
}

#[derive(Debug, Clone)]
struct Part {
    standing: i64,
    lag: i64,
    /// When `standing` last moved or the partition was last caught up.
    since: Duration,
    stalled: bool,
}

#[derive(Debug, Clone)]
pub struct Progress {
    stall_after: Duration,
    parts: BTreeMap<(String, i32), Part>,
}

impl Progress {
    pub fn new(stall_after: Duration) -> Progress {
        Progress {
            stall_after,
            parts: BTreeMap::new(),
        }
    }

    /// Takes the current observations of every assigned partition at time `now`
    /// (monotonic). Partitions not observed are no longer assigned and are forgotten.
    pub fn observe(&mut self, now: Duration, observations: &[Observation]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut next = BTreeMap::new();
        for o in observations {
            let key = (o.topic.clone(), o.partition);
            let (standing, lag) = (o.standing(), o.lag());
            let mut part = match self.parts.remove(&key) {
                // Still waiting at the same place: the clock runs on.
                Some(p) if p.standing == standing && p.lag != 0 && lag != 0 => p,
                Some(p) => {
                    if p.stalled {
                        changes.push(Change::Resumed {
                            topic: o.topic.clone(),
                            partition: o.partition,
                            position: standing,
                        });
                    }
                    Part {
                        standing,
                        lag,
                        since: now,
                        stalled: false,
                    }
                }
                None => Part {
                    standing,
                    lag,
                    since: now,
                    stalled: false,
                },
            };
            part.lag = lag;
            let idle = now.saturating_sub(part.since);
            if lag != 0 && !part.stalled && idle >= self.stall_after {
                part.stalled = true;
                changes.push(Change::Stalled {
                    topic: o.topic.clone(),
                    partition: o.partition,
                    position: standing,
                    high: o.high,
                    idle,
                });
            }
            next.insert(key, part);
        }
        self.parts = next;
        changes
    }

    /// The stalled partitions, as `topic[partition]`.
    pub fn stalled(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter(|(_, p)| p.stalled)
            .map(|((t, n), _)| format!("{t}[{n}]"))
            .collect()
    }

    /// Lag per assigned partition.
    pub fn lags(&self) -> impl Iterator<Item = (&str, i32, i64, bool)> {
        self.parts
            .iter()
            .map(|((t, n), p)| (t.as_str(), *n, p.lag, p.stalled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(position: Option<i64>, committed: Option<i64>, high: i64) -> Observation {
        Observation {
            topic: "hr".into(),
            partition: 0,
            position,
            committed,
            low: 0,
            high,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_partition_stuck_with_lag_is_reported_once_and_recovers() {
        let mut p = Progress::new(10 * S);
        // Resumed at a committed offset inside a batch, never handed anything more.
        assert!(
            p.observe(Duration::ZERO, &[obs(None, Some(25), 50)])
                .is_empty()
        );
        assert!(p.observe(9 * S, &[obs(None, Some(25), 50)]).is_empty());
        let c = p.observe(10 * S, &[obs(None, Some(25), 50)]);
        assert_eq!(
            c,
            vec![Change::Stalled {
                topic: "hr".into(),
                partition: 0,
                position: 25,
                high: 50,
                idle: 10 * S
            }]
        );
        assert_eq!(p.stalled(), vec!["hr[0]".to_string()]);
        assert!(p.observe(20 * S, &[obs(None, Some(25), 50)]).is_empty());
        let c = p.observe(21 * S, &[obs(Some(26), Some(25), 50)]);
        assert!(matches!(c[..], [Change::Resumed { position: 26, .. }]));
        assert!(p.stalled().is_empty());
    }

    #[test]
    fn idle_without_lag_and_steady_progress_are_healthy() {
        let mut p = Progress::new(10 * S);
        for t in 0..100 {
            // Caught up: nothing waiting, however long.
            assert!(p.observe(t * S, &[obs(Some(50), None, 50)]).is_empty());
        }
        let mut p = Progress::new(10 * S);
        for t in 0..100 {
            // Busy: a long backlog, moving every check.
            let pos = t as i64 * 10;
            assert!(p.observe(t * S, &[obs(Some(pos), None, 5_000)]).is_empty());
        }
        assert!(p.stalled().is_empty());
    }

    #[test]
    fn new_events_after_a_quiet_spell_start_the_clock_afresh() {
        let mut p = Progress::new(10 * S);
        p.observe(Duration::ZERO, &[obs(Some(50), None, 50)]);
        // An event arrives at 100 s; the consumer has 10 s to move before it is stalled.
        assert!(p.observe(100 * S, &[obs(Some(50), None, 51)]).is_empty());
        assert!(p.observe(109 * S, &[obs(Some(50), None, 51)]).is_empty());
        assert_eq!(p.observe(110 * S, &[obs(Some(50), None, 51)]).len(), 1);
    }

    #[test]
    fn a_group_standing_beyond_the_end_is_stalled_too() {
        // tansu after a resume inside a batch: committed 25, but the end reported as 1.
        let mut p = Progress::new(3 * S);
        assert!(
            p.observe(Duration::ZERO, &[obs(None, Some(25), 1)])
                .is_empty()
        );
        let c = p.observe(3 * S, &[obs(None, Some(25), 1)]);
        assert!(
            matches!(
                c[..],
                [Change::Stalled {
                    position: 25,
                    high: 1,
                    ..
                }]
            ),
            "{c:?}"
        );
    }

    #[test]
    fn revoked_partitions_are_forgotten() {
        let mut p = Progress::new(S);
        p.observe(Duration::ZERO, &[obs(None, None, 5)]);
        p.observe(2 * S, &[obs(None, None, 5)]);
        assert_eq!(p.stalled().len(), 1);
        assert!(p.observe(3 * S, &[]).is_empty());
        assert!(p.stalled().is_empty());
        assert_eq!(p.lags().count(), 0);
    }
}
