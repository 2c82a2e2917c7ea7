//! Access review packs as they were issued: the lines put in front of each line manager.
//! A completed pack read back acts only on lines of the pack as issued; any other line is
//! refused, whatever the file says.

use super::StoreError;
use jiff::Timestamp;

/// One line of a pack as issued: an account (`entitlement` `None`) or one of its
/// entitlements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IssuedLine {
    pub employee_number: String,
    pub system: String,
    pub account: String,
    pub entitlement: Option<String>,
}

/// A pack as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedPack {
    /// `DATE/MANAGER`, as the pack's `pack` column says.
    pub id: String,
    pub manager: String,
    pub issued_at: Timestamp,
    /// SHA-256 of the CSV issued.
    pub digest: String,
    pub lines: Vec<IssuedLine>,
}

impl IssuedPack {
    /// Whether the pack put this line in front of its manager (account names compared
    /// without regard to case, as directories compare them).
    pub fn holds(&self, line: &IssuedLine) -> bool {
        self.lines.iter().any(|l| {
            l.employee_number == line.employee_number
                && l.system == line.system
                && l.account.eq_ignore_ascii_case(&line.account)
                && l.entitlement == line.entitlement
        })
    }
}

pub trait Reviews {
    /// Keeps a pack as issued (a pack issued again the same day replaces its lines).
    fn issue_pack(&mut self, pack: &IssuedPack) -> Result<(), StoreError>;

    /// A pack as issued, if it was.
    fn issued_pack(&self, id: &str) -> Result<Option<IssuedPack>, StoreError>;
}
