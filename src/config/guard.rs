//! `[reconcile]` and `[guard]`: the mass-change guards.

use super::*;

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// A run that would disable or delete more than this share of a system's accounts
    /// stops before acting until someone re-runs it with `--allow-share` (CONTRACT §5).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_removal_share: f64,
}
impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            max_removal_share: 0.05,
        }
    }
}
/// The mass-change guard for event-driven changes (CONTRACT §5): in any window of
/// `window_secs`, the accounts of one system that lose access (disable, revoke, delete)
/// may not exceed `max_removals`, nor `max_removal_share` of the accounts the system held
/// at its last full read, whichever is hit first; a window of `min_removals` or fewer is
/// never held (two leavers on a 30-account system are not a mass change). Past that, the
/// changes are held as a plan for `turnstile approve`/`reject`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    #[schemars(range(min = 60, max = 604800))]
    pub window_secs: u64,
    #[schemars(range(min = 0, max = 1000000))]
    pub min_removals: u64,
    #[schemars(range(min = 0, max = 1000000))]
    pub max_removals: u64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_removal_share: f64,
    /// Accounts a reconciliation may create on one system in a window without a person's
    /// approval: a first run against a directory that was never correlated must not make
    /// a second account for everyone. `min_creates` or fewer are never held.
    #[schemars(range(min = 0, max = 1000000))]
    pub min_creates: u64,
    #[schemars(range(min = 0, max = 1000000))]
    pub max_creates: u64,
    /// ... and as a share of the accounts the system held when read.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_create_share: f64,
    /// Per-system limits in place of the ones above: `[guard.systems.ad] max_removals = 20`.
    pub systems: BTreeMap<String, GuardLimits>,
}
/// One system's guard limits, as [`GuardConfig::limits`] resolves them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub window_secs: u64,
    pub min_removals: u64,
    pub max_removals: u64,
    pub max_removal_share: f64,
    pub min_creates: u64,
    pub max_creates: u64,
    pub max_create_share: f64,
}
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardLimits {
    #[schemars(range(min = 0, max = 1000000))]
    pub min_removals: Option<u64>,
    #[schemars(range(min = 0, max = 1000000))]
    pub max_removals: Option<u64>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_removal_share: Option<f64>,
    #[schemars(range(min = 0, max = 1000000))]
    pub min_creates: Option<u64>,
    #[schemars(range(min = 0, max = 1000000))]
    pub max_creates: Option<u64>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_create_share: Option<f64>,
}
impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            window_secs: 3600,
            min_removals: 10,
            max_removals: 50,
            max_removal_share: 0.05,
            min_creates: 10,
            max_creates: 50,
            max_create_share: 0.05,
            systems: BTreeMap::new(),
        }
    }
}
impl GuardConfig {
    /// The limits for one system.
    pub fn limits(&self, system: &str) -> Limits {
        let own = self.systems.get(system);
        Limits {
            window_secs: self.window_secs,
            min_removals: own
                .and_then(|l| l.min_removals)
                .unwrap_or(self.min_removals),
            max_removals: own
                .and_then(|l| l.max_removals)
                .unwrap_or(self.max_removals),
            max_removal_share: own
                .and_then(|l| l.max_removal_share)
                .unwrap_or(self.max_removal_share),
            min_creates: own.and_then(|l| l.min_creates).unwrap_or(self.min_creates),
            max_creates: own.and_then(|l| l.max_creates).unwrap_or(self.max_creates),
            max_create_share: own
                .and_then(|l| l.max_create_share)
                .unwrap_or(self.max_create_share),
        }
    }

    pub(super) fn check(&self) -> Vec<String> {
        let mut out = out_of_range(
            "[guard]",
            &[
                ("window_secs", self.window_secs.into(), 60, 7 * 86_400),
                ("min_removals", self.min_removals.into(), 0, 1_000_000),
                ("max_removals", self.max_removals.into(), 0, 1_000_000),
                ("min_creates", self.min_creates.into(), 0, 1_000_000),
                ("max_creates", self.max_creates.into(), 0, 1_000_000),
            ],
        );
        let shares = [
            (
                "[guard]".to_string(),
                "max_removal_share",
                Some(self.max_removal_share),
            ),
            (
                "[guard]".to_string(),
                "max_create_share",
                Some(self.max_create_share),
            ),
        ]
        .into_iter()
        .chain(self.systems.iter().flat_map(|(s, l)| {
            [
                (
                    format!("[guard.systems.{s}]"),
                    "max_removal_share",
                    l.max_removal_share,
                ),
                (
                    format!("[guard.systems.{s}]"),
                    "max_create_share",
                    l.max_create_share,
                ),
            ]
        }));
        for (section, key, share) in shares {
            if let Some(share) = share
                && !(0.0..=1.0).contains(&share)
            {
                out.push(format!(
                    "{section} {key} is {share}: use a share from 0 to 1 (0.05 = 5%)"
                ));
            }
        }
        for (s, l) in &self.systems {
            for (key, n) in [
                ("min_removals", l.min_removals),
                ("max_removals", l.max_removals),
                ("min_creates", l.min_creates),
                ("max_creates", l.max_creates),
            ] {
                if let Some(n) = n {
                    out.extend(out_of_range(
                        &format!("[guard.systems.{s}]"),
                        &[(key, n.into(), 0, 1_000_000)],
                    ));
                }
            }
        }
        out
    }
}
