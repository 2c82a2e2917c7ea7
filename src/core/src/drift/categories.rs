//! The drift categories, declared once each (name, severity, guidance), and a finding.

use super::*;

/// Declares the drift categories once: each one's name, severity and the guidance a
/// report gives (what it means, what to do, the expectation it touches). Adding a
/// category is one entry here plus its judge; nothing else lists them.
macro_rules! categories {
    ($($variant:ident {
        name: $name:literal,
        severity: $severity:ident,
        meaning: $meaning:literal,
        action: $action:literal,
        expectation: $expectation:literal,
    })*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Category {
            $($variant),*
        }

        impl Category {
            pub const ALL: [Category; [$(Category::$variant),*].len()] = [$(Category::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Category::$variant => $name),*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(Category::$variant => Severity::$severity),*
                }
            }

            /// What the category means, what to do about it, and the CQC regulation or
            /// DSPT outcome it touches.
            pub fn guidance(self) -> (&'static str, &'static str, &'static str) {
                match self {
                    $(Category::$variant => ($meaning, $action, $expectation)),*
                }
            }
        }
    };
}
categories! {
    LeaverStillActive {
        name: "leaver_still_active",
        severity: High,
        meaning: "An account that is still enabled although its owner's last working day is over.",
        action: "Disable it today (Turnstile does so by itself when it manages the system); check with the line manager whether the leaving date is right.",
        expectation: "CQC Regulation 17 (good governance: access withdrawn promptly when staff leave); DSPT / CAF B2 (identity and access control).",
    }
    UsedAfterLeaving {
        name: "used_after_leaving",
        severity: High,
        meaning: "A leaver's account was signed in to after the end of their last working day: someone used the access after they left.",
        action: "Treat as a possible information-governance incident: find out who signed in and what they looked at (the system's own audit), disable the account, and record it in the trust's incident system.",
        expectation: "CQC Regulation 17 (audit logs checked for irregular access); DSPT / CAF B2 and C1 (security monitoring).",
    }
    AbsentStillActive {
        name: "absent_still_active",
        severity: Medium,
        meaning: "Enabled while its owner is suspended or away, on a system the role model says to disable for that absence.",
        action: "Disable it for the absence; it is enabled again on return.",
        expectation: "CQC Regulation 17; DSPT / CAF B2 (access matches current duties).",
    }
    EnabledBeforeStart {
        name: "enabled_before_start",
        severity: Medium,
        meaning: "Enabled before its owner's first day.",
        action: "Disable it until the first day; accounts are prepared disabled.",
        expectation: "DSPT / CAF B2 (access only while needed).",
    }
    OrphanAccount {
        name: "orphan_account",
        severity: High,
        meaning: "An enabled account linked to nobody in the HR extract.",
        action: "Find its owner and link it (employee number), or disable it. An orphan is a way in that nobody answers for.",
        expectation: "CQC Regulation 17 (every user has a named account); DSPT / CAF B2.",
    }
    GenericAccount {
        name: "generic_account",
        severity: Medium,
        meaning: "An enabled shared login with no approved exception.",
        action: "Replace it with named accounts, or record an approved exception in the role model.",
        expectation: "CQC Regulation 17 (named accounts, never a shared login); DSPT / CAF B2 (users uniquely identified).",
    }
    DuplicateAccount {
        name: "duplicate_account",
        severity: Medium,
        meaning: "Someone in post with more than one enabled account on one system.",
        action: "Keep the account they use and disable the others.",
        expectation: "Trust procedure: one account per user per system; DSPT / CAF B2.",
    }
    DormantAccount {
        name: "dormant_account",
        severity: Medium,
        meaning: "The enabled account of someone at work that has not been used for longer than the system's inactivity limit.",
        action: "Tell the line manager, then disable it after the notice period (Turnstile does this with a week's notice).",
        expectation: "Trust procedure: disable after 1-3 months unused, the line manager told a week before; DSPT / CAF B2.",
    }
    MissingAccount {
        name: "missing_account",
        severity: Low,
        meaning: "Someone whose role grants a system has no account there.",
        action: "Create the account (or raise the work item) so they can do their job from day one.",
        expectation: "CQC Regulation 12 (safe care: staff can reach the records they need); trust procedure: set up within 1 working day.",
    }
    MissingEntitlement {
        name: "missing_entitlement",
        severity: Low,
        meaning: "An entitlement a role grants that the account does not hold.",
        action: "Grant it, or correct the role model if the role no longer needs it.",
        expectation: "CQC Regulation 12 (safe care); DSPT / CAF B2 (access set by role).",
    }
    ExcessEntitlement {
        name: "excess_entitlement",
        severity: Medium,
        meaning: "Access no current role grants: a managed group held without a reason, or an enabled account on a system none of the person's roles grants.",
        action: "Remove it, or add the rule that should grant it. Moves leave this behind most often.",
        expectation: "CQC Regulation 17 (need to know, withdrawn when duties change); DSPT / CAF B2 (least privilege).",
    }
    ServiceRemovalDue {
        name: "service_removal_due",
        severity: Medium,
        meaning: "The service itself will soon remove this unused account of someone still employed (NHSmail deletes mailboxes unused for a set time).",
        action: "Ask the person to sign in, or accept the removal if they no longer need it.",
        expectation: "CQC Regulation 12 (staff keep the tools they need).",
    }
    PossibleUnrecordedLeaver {
        name: "possible_unrecorded_leaver",
        severity: High,
        meaning: "Someone ESR has at work whose accounts are unused on every system that reports logons: they may have left without ESR being told.",
        action: "Ask the line manager; if they have left, record the leaving in ESR so every account follows.",
        expectation: "CQC Regulation 17 (accounts deactivated promptly when staff leave); DSPT Standard 4 (an up-to-date staff register).",
    }
    PossibleDuplicate {
        name: "possible_duplicate",
        severity: Medium,
        meaning: "An enabled account with no employee number whose display name is that of one person in the HR extract: their account not yet linked, or a second one.",
        action: "If it is theirs and they have no other, link it (`turnstile matches`, or put the employee number on it); if they have another, disable this one. Left alone, it is a way in nobody answers for.",
        expectation: "Trust procedure: one account per user per system; CQC Regulation 17; DSPT / CAF B2.",
    }
}
impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}
impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub category: Category,
    pub system: String,
    pub account: Option<String>,
    pub employee_number: Option<String>,
    pub detail: String,
    pub severity: Severity,
    /// The account's last logon, when its export gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<Timestamp>,
    /// With `drift --compare`: whether the previous report had it, and since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}
