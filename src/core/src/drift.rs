//! The drift report (CONTRACT §4): what the HR record and the role model say people should
//! have, against what the account exports say they do have.
//!
//! Pure: it takes people, accounts, the role model and `today`, and returns findings in a
//! fixed order. Reading files and writing the report happen at the edge (`cli`).
//!
//! How each category is decided (also in the README):
//! - `leaver_still_active`: an enabled account of a person whose last working day is over.
//! - `used_after_leaving`: an account (enabled or not) of a leaver whose last logon is after
//!   the end of their last working day (Europe/London): someone used it after they left.
//! - `absent_still_active`: enabled while absent or suspended, on a system that disables.
//! - `enabled_before_start`: enabled before the joiner's first day.
//! - `orphan_account`: an enabled account linked to nobody in the HR extract, and not a
//!   generic login.
//! - `generic_account`: an enabled account linked to nobody whose name matches a generic
//!   pattern, and not approved by exception.
//! - `duplicate_account`: a person in post with more than one enabled account on one system
//!   (one finding per account).
//! - `dormant_account`: the enabled account of a person working (not away) with no logon for
//!   longer than the system's `inactivity_days` (never logged on counts from their first day).
//! - `missing_account`: a person in post whose roles grant a system, with no account there.
//! - `missing_entitlement` / `excess_entitlement`: on the account a person uses, an
//!   entitlement a role grants that is not held, or a managed one held that no role grants
//!   (an enabled account on a system no role grants at all is excess access too).
//!
//! Disabled accounts of people in post are left alone (they are typically inactivity
//! disables); accounts linked to a person whose HR rows were unusable are not judged.

use crate::desired::{DesiredView, Presence, RuleMemo, desired_views_memo};
use crate::fast::FastMap;
use crate::hr::{Lifecycle, Person};
use crate::policy::{RoleModel, System};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod categories;
mod compare;
pub mod held;
mod judge;
mod link;

pub use categories::*;
pub use compare::*;
pub use held::{AccountRef, Held, Number, TooLarge};
pub use judge::*;
pub use link::*;

#[cfg(test)]
mod tests;
