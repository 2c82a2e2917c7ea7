//! The configured targets and their state. A target whose connector reports a fatal error
//! (bad credentials, a missing container) is quarantined: nothing more is sent to it until
//! a health probe passes, probes come with growing gaps, and the other targets carry on.

use crate::config::Config;
use crate::connectors::{self, BuildContext, Connector};
use crate::policy::RoleModel;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

/// Where a target stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetState {
    Online,
    /// Stopped after a fatal error: `reason` says what to fix.
    Quarantined {
        reason: String,
        since: Timestamp,
        next_probe: Timestamp,
        failed_probes: u32,
    },
    /// Not answering (a transient error that outlasted the connector's own retries):
    /// changes wait until a probe passes.
    Unreachable {
        reason: String,
        since: Timestamp,
        next_probe: Timestamp,
        failed_probes: u32,
    },
}

impl TargetState {
    /// Why changes cannot go to the target, and when it is probed next; `None` online.
    pub fn waiting(&self) -> Option<(&str, Timestamp)> {
        match self {
            TargetState::Online => None,
            TargetState::Quarantined {
                reason, next_probe, ..
            }
            | TargetState::Unreachable {
                reason, next_probe, ..
            } => Some((reason, *next_probe)),
        }
    }
}

/// The gap before the next probe of an unreachable target: 1 s, doubling, at most 30 s,
/// so its waiting changes flow soon after it is back.
pub fn unreachable_gap(failed_probes: u32) -> SignedDuration {
    let gap = crate::retry::gap(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(30),
        failed_probes,
    );
    SignedDuration::try_from(gap).unwrap_or(SignedDuration::from_secs(30))
}

/// The gap before the next probe of a quarantined target: 30 s, doubling with each failed
/// probe, at most 30 minutes.
pub fn probe_gap(failed_probes: u32) -> SignedDuration {
    let gap = crate::retry::gap(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(1800),
        failed_probes,
    );
    SignedDuration::try_from(gap).unwrap_or(SignedDuration::from_secs(1800))
}

/// One target: its connector (shared, so the daemon's tasks and a test can hold it too)
/// and its state.
pub struct Target {
    pub connector: Arc<dyn Connector>,
    pub state: TargetState,
    /// Working days a work item on this target has before it is overdue.
    pub due_days: u32,
    /// How existing accounts are found before anything is created.
    pub correlation: crate::correlate::Settings,
}

impl Target {
    pub fn new(connector: Arc<dyn Connector>) -> Target {
        Target {
            connector,
            state: TargetState::Online,
            due_days: crate::config::DEFAULT_DUE_DAYS,
            correlation: Default::default(),
        }
    }

    pub fn system(&self) -> &str {
        self.connector.system()
    }

    /// Stops using the target until a probe passes.
    pub fn quarantine(&mut self, reason: String, now: Timestamp) {
        let (since, failed_probes) = match &self.state {
            TargetState::Quarantined {
                since,
                failed_probes,
                ..
            } => (*since, failed_probes + 1),
            _ => (now, 0),
        };
        tracing::error!(system = %self.system(), %reason, "target quarantined: nothing more is sent to it until it answers again");
        self.state = TargetState::Quarantined {
            reason,
            since,
            next_probe: now.saturating_add(probe_gap(failed_probes)).unwrap_or(now),
            failed_probes,
        };
    }

    /// Marks the target unreachable until a probe passes; said once when it goes away.
    pub fn unreachable(&mut self, reason: String, now: Timestamp) {
        let (since, failed_probes) = match &self.state {
            TargetState::Unreachable {
                since,
                failed_probes,
                ..
            } => (*since, failed_probes + 1),
            _ => {
                tracing::warn!(system = %self.system(), %reason, "target cannot be reached: its changes wait and flow once it answers");
                (now, 0)
            }
        };
        self.state = TargetState::Unreachable {
            reason,
            since,
            next_probe: now
                .saturating_add(unreachable_gap(failed_probes))
                .unwrap_or(now),
            failed_probes,
        };
    }

    /// Takes note of a connector error: a fatal one quarantines the target, a transient
    /// one (already retried by the connector) marks it unreachable. True when it was
    /// quarantined.
    pub fn failed(&mut self, e: &crate::connectors::ConnectorError, now: Timestamp) -> bool {
        use crate::connectors::ConnectorError;
        match e {
            ConnectorError::Fatal { .. } => {
                self.quarantine(e.to_string(), now);
                true
            }
            ConnectorError::Transient { .. } => {
                if !matches!(self.state, TargetState::Quarantined { .. }) {
                    self.unreachable(e.to_string(), now);
                }
                false
            }
            ConnectorError::Permanent { .. } => false,
        }
    }

    /// Brings the next probe of a waiting target forward to `now` (an operator asked).
    pub fn probe_now(&mut self, now: Timestamp) {
        match &mut self.state {
            TargetState::Quarantined { next_probe, .. }
            | TargetState::Unreachable { next_probe, .. } => *next_probe = now,
            TargetState::Online => {}
        }
    }

    /// Whether changes may go to the target now: online, or waiting with a probe due that
    /// passes (then it is online again). The reason when it may not.
    pub async fn ready(&mut self, now: Timestamp) -> Result<(), String> {
        let Some((reason, next_probe)) = self.state.waiting() else {
            return Ok(());
        };
        if now < next_probe {
            return Err(reason.to_string());
        }
        match self.connector.health().await {
            Ok(()) => {
                tracing::info!(system = %self.system(), "target answers again: back online");
                self.state = TargetState::Online;
                Ok(())
            }
            Err(e) => {
                if matches!(self.state, TargetState::Quarantined { .. }) {
                    self.quarantine(e.to_string(), now);
                } else {
                    self.unreachable(e.to_string(), now);
                }
                Err(e.to_string())
            }
        }
    }
}

/// Builds every configured target (`[targets.*]`, and the older `[ldap.*]`) through the
/// connector registry; every problem is named, all at once.
pub fn build(config: &Config, model: &RoleModel) -> Result<Vec<Target>, Vec<String>> {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (system, kind, settings) in config.target_sections() {
        let Some(policy) = model.systems.get(&system) else {
            problems.push(format!(
                "[targets.{system}] names a system the role model does not declare (it has: {})",
                model.systems.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let ctx = BuildContext {
            system: &system,
            allows_delete: policy.allows_delete(),
            limits: &config.feeds,
        };
        let correlation = match config.correlation(&system) {
            Ok(c) => c,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match connectors::build(&kind, settings, &ctx) {
            Ok(c) => {
                let mut target = Target::new(Arc::from(c));
                target.due_days = config.work_items.delivery(&system).due_days;
                target.correlation = correlation;
                targets.push(target);
            }
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_back_off_to_half_an_hour() {
        assert_eq!(probe_gap(0).as_secs(), 30);
        assert_eq!(probe_gap(1).as_secs(), 60);
        assert_eq!(probe_gap(5).as_secs(), 960);
        assert_eq!(probe_gap(6).as_secs(), 1800);
        assert_eq!(probe_gap(u32::MAX).as_secs(), 1800);
    }
}
