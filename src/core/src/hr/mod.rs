//! The HR model: a person, their assignments, and the HR event that carries them.
//!
//! This is what ESR, TRAC and manual entries say about a person (CONTRACT §1). It is pure
//! data plus the rules that read it on a given date; it never reads the clock, a file or
//! the network. `schemas/hr-event.v1.schema.json` describes the same documents these
//! types accept (a test in `tests/` holds the two together).

pub mod starters;
mod text;

pub use text::{EmployeeNumber, Interner, IsoDate, NonBlank, Rfc3339, SdsUserId, Shared, Text};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `schema` value of every v1 HR event.
pub const SCHEMA_V1: &str = "turnstile.hr-event/v1";

/// Where an HR record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Esr,
    Trac,
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Esr => "esr",
            Source::Trac => "trac",
            Source::Manual => "manual",
        }
    }
}

/// What the sender says happened. A hint for people and logs only: what a person should
/// have is always computed from the newest whole record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Joiner,
    Mover,
    Leaver,
    Absence,
    Return,
    Correction,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Joiner => "joiner",
            EventKind::Mover => "mover",
            EventKind::Leaver => "leaver",
            EventKind::Absence => "absence",
            EventKind::Return => "return",
            EventKind::Correction => "correction",
        }
    }
}

/// NHS Data Dictionary assignment statuses, spelt as ESR spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AssignmentStatus {
    #[serde(rename = "Acting Up")]
    ActingUp,
    #[serde(rename = "Active Assignment")]
    ActiveAssignment,
    #[serde(rename = "Career Break")]
    CareerBreak,
    #[serde(rename = "End")]
    End,
    #[serde(rename = "Internal Secondment")]
    InternalSecondment,
    #[serde(rename = "Maternity and Adoption")]
    MaternityAndAdoption,
    #[serde(
        rename = "Out on External Secondment - Paid",
        alias = "Out on External Secondment – Paid"
    )]
    ExternalSecondmentPaid,
    #[serde(
        rename = "Out on External Secondment - Unpaid",
        alias = "Out on External Secondment – Unpaid"
    )]
    ExternalSecondmentUnpaid,
    #[serde(rename = "Suspend No Pay")]
    SuspendNoPay,
    #[serde(rename = "Suspend With Pay")]
    SuspendWithPay,
    #[serde(rename = "Terminate Assignment")]
    TerminateAssignment,
    #[serde(rename = "Terminate Process Assignment")]
    TerminateProcessAssignment,
}

impl AssignmentStatus {
    pub const ALL: [AssignmentStatus; 12] = [
        AssignmentStatus::ActingUp,
        AssignmentStatus::ActiveAssignment,
        AssignmentStatus::CareerBreak,
        AssignmentStatus::End,
        AssignmentStatus::InternalSecondment,
        AssignmentStatus::MaternityAndAdoption,
        AssignmentStatus::ExternalSecondmentPaid,
        AssignmentStatus::ExternalSecondmentUnpaid,
        AssignmentStatus::SuspendNoPay,
        AssignmentStatus::SuspendWithPay,
        AssignmentStatus::TerminateAssignment,
        AssignmentStatus::TerminateProcessAssignment,
    ];

    /// The canonical ESR spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::ActingUp => "Acting Up",
            AssignmentStatus::ActiveAssignment => "Active Assignment",
            AssignmentStatus::CareerBreak => "Career Break",
            AssignmentStatus::End => "End",
            AssignmentStatus::InternalSecondment => "Internal Secondment",
            AssignmentStatus::MaternityAndAdoption => "Maternity and Adoption",
            AssignmentStatus::ExternalSecondmentPaid => "Out on External Secondment - Paid",
            AssignmentStatus::ExternalSecondmentUnpaid => "Out on External Secondment - Unpaid",
            AssignmentStatus::SuspendNoPay => "Suspend No Pay",
            AssignmentStatus::SuspendWithPay => "Suspend With Pay",
            AssignmentStatus::TerminateAssignment => "Terminate Assignment",
            AssignmentStatus::TerminateProcessAssignment => "Terminate Process Assignment",
        }
    }

    /// Reads a status as feeds write it: case, spacing and the dash in "Out on External
    /// Secondment – Paid" do not matter.
    pub fn parse_lenient(text: &str) -> Option<AssignmentStatus> {
        // Spelt as ESR spells it (nearly every row): no lower-cased copy needed.
        if let Some(s) = AssignmentStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
        {
            return Some(s);
        }
        let key = squash(text);
        AssignmentStatus::ALL
            .into_iter()
            .find(|s| squash(s.as_str()) == key)
    }

    /// What this status means for access, before dates are taken into account.
    pub fn standing(self) -> Standing {
        use AssignmentStatus::*;
        match self {
            ActingUp | ActiveAssignment | InternalSecondment => Standing::Working,
            CareerBreak
            | MaternityAndAdoption
            | ExternalSecondmentPaid
            | ExternalSecondmentUnpaid => Standing::OnLeave,
            SuspendNoPay | SuspendWithPay => Standing::Suspended,
            End | TerminateAssignment | TerminateProcessAssignment => Standing::Terminated,
        }
    }
}

/// The first control character in `text`, if any. Most text is plain ASCII, looked at a
/// byte at a time; C1 controls (U+0080–U+009F) start with the byte 0xC2 in UTF-8.
fn control_character(text: &str) -> Option<char> {
    control_character_but(text, None)
}

/// [`control_character`], letting `allowed` (a tab, in a CSV field) through.
pub fn control_character_but(text: &str, allowed: Option<char>) -> Option<char> {
    // A byte that may start a control character, looked for in every byte without an
    // early exit: a loop the compiler turns into vector instructions (a short-circuiting
    // search went a byte at a time, and every line of a national extract passes here).
    // 0xFF never occurs in UTF-8, so it stands for "no byte allowed".
    let allowed_byte = allowed.and_then(|c| u8::try_from(c).ok()).unwrap_or(0xff);
    let suspect = |b: u8| (b < 0x20 && b != allowed_byte) | (b == 0x7f) | (b == 0xc2);
    if !text
        .as_bytes()
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |seen, b| seen | suspect(*b)))
    {
        return None;
    }
    text.chars().find(|c| c.is_control() && Some(*c) != allowed)
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl fmt::Display for AssignmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an assignment status says about the person's work, ignoring dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Working,
    OnLeave,
    Suspended,
    Terminated,
}

/// Where one assignment, or a whole person, stands on a given day.
///
/// Ordered so that the "most present" phase is the greatest: a person with one working and
/// one ended assignment is `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Every assignment has ended: a leaver.
    Ended,
    /// Not started yet: a future-dated joiner.
    Future,
    /// Suspended (with or without pay).
    Suspended,
    /// Away: maternity, career break, external secondment.
    Absent,
    /// Working.
    Active,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Ended => "ended",
            Lifecycle::Future => "future",
            Lifecycle::Suspended => "suspended",
            Lifecycle::Absent => "absent",
            Lifecycle::Active => "active",
        }
    }
}

/// One assignment (a person may hold several at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub assignment_number: NonBlank,
    pub primary: bool,
    pub status: AssignmentStatus,
    #[serde(default)]
    pub position_number: Option<Text>,
    #[serde(default)]
    pub position_title: Option<Shared>,
    #[serde(default)]
    pub staff_group: Option<Shared>,
    #[serde(default)]
    pub job_role: Option<Shared>,
    #[serde(default)]
    pub occupation_code: Option<Shared>,
    #[serde(default)]
    pub organisation: Option<Shared>,
    #[serde(default)]
    pub cost_centre: Option<Shared>,
    #[serde(default)]
    pub location: Option<Shared>,
    #[serde(default)]
    pub supervisor: Option<EmployeeNumber>,
    pub start_date: IsoDate,
    #[serde(default)]
    pub end_date: Option<IsoDate>,
    /// ESR's leaving reason ("Retirement - Age", "Voluntary Resignation - Relocation", …),
    /// when the assignment ended. Left out of the record when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving_reason: Option<Shared>,
}

impl Assignment {
    /// Where this assignment stands on `today` (a Europe/London calendar date).
    ///
    /// Access lasts to the end of `end_date` (the last working day), whatever the status
    /// says: a leaver entered weeks ahead keeps working until then. A terminated status
    /// without an end date has ended already.
    pub fn lifecycle(&self, today: Date) -> Lifecycle {
        if let Some(end) = self.end_date
            && today > end.0
        {
            return Lifecycle::Ended;
        }
        // Terminated with no end date has ended already, even before its start: an offer
        // withdrawn, a post cancelled before the first day.
        if self.end_date.is_none() && matches!(self.status.standing(), Standing::Terminated) {
            return Lifecycle::Ended;
        }
        if today < self.start_date.0 {
            return Lifecycle::Future;
        }
        match self.status.standing() {
            Standing::Working => Lifecycle::Active,
            Standing::OnLeave => Lifecycle::Absent,
            Standing::Suspended => Lifecycle::Suspended,
            // With an end date not yet passed (no end date was taken as ended above).
            Standing::Terminated => Lifecycle::Active,
        }
    }

    /// The day after which this assignment gives no access, if known.
    pub fn last_day(&self) -> Option<Date> {
        self.end_date.map(|d| d.0)
    }

    /// A field used by role rules, by its policy name.
    pub fn field(&self, field: MatchField) -> Option<&str> {
        match field {
            MatchField::StaffGroup => self.staff_group.as_deref(),
            MatchField::JobRole => self.job_role.as_deref(),
            MatchField::OccupationCode => self.occupation_code.as_deref(),
            MatchField::PositionNumber => self.position_number.as_deref(),
            MatchField::PositionTitle => self.position_title.as_deref(),
            MatchField::Organisation => self.organisation.as_deref(),
            MatchField::CostCentre => self.cost_centre.as_deref(),
            MatchField::Location => self.location.as_deref(),
        }
    }
}

/// The assignment fields a role rule can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchField {
    StaffGroup,
    JobRole,
    OccupationCode,
    PositionNumber,
    PositionTitle,
    Organisation,
    CostCentre,
    Location,
}

impl MatchField {
    pub const ALL: [MatchField; 8] = [
        MatchField::StaffGroup,
        MatchField::JobRole,
        MatchField::OccupationCode,
        MatchField::PositionNumber,
        MatchField::PositionTitle,
        MatchField::Organisation,
        MatchField::CostCentre,
        MatchField::Location,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchField::StaffGroup => "staff_group",
            MatchField::JobRole => "job_role",
            MatchField::OccupationCode => "occupation_code",
            MatchField::PositionNumber => "position_number",
            MatchField::PositionTitle => "position_title",
            MatchField::Organisation => "organisation",
            MatchField::CostCentre => "cost_centre",
            MatchField::Location => "location",
        }
    }
}

/// A person's whole HR record as one source sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub employee_number: EmployeeNumber,
    #[serde(default)]
    pub sds_user_id: Option<SdsUserId>,
    #[serde(default)]
    pub title: Option<Shared>,
    pub given_name: NonBlank,
    pub family_name: NonBlank,
    #[serde(default)]
    pub preferred_name: Option<Shared>,
    #[serde(default)]
    pub work_email: Option<Text>,
    #[serde(default)]
    pub line_manager: Option<EmployeeNumber>,
    pub assignments: Vec<Assignment>,
}

impl Person {
    /// Where the person stands on `today`: the most present of their assignments.
    pub fn lifecycle(&self, today: Date) -> Lifecycle {
        self.assignments
            .iter()
            .map(|a| a.lifecycle(today))
            .max()
            .unwrap_or(Lifecycle::Ended)
    }

    /// The primary assignment, or the first one when none is marked primary.
    pub fn primary(&self) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.primary)
            .or_else(|| self.assignments.first())
    }

    /// The last working day of a leaver: the latest end date of their assignments.
    pub fn last_working_day(&self) -> Option<Date> {
        self.assignments
            .iter()
            .filter_map(Assignment::last_day)
            .max()
    }

    /// The earliest start date of any assignment (for a future joiner, their first day).
    pub fn first_day(&self) -> Option<Date> {
        self.assignments.iter().map(|a| a.start_date.0).min()
    }

    /// "Known As" first name, or the given name.
    pub fn display_name(&self) -> String {
        let first = self
            .preferred_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(self.given_name.as_str());
        format!("{} {}", first, self.family_name.as_str())
    }
}

/// The HR event of CONTRACT §1: a state transfer of one person's whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrEvent {
    pub schema: SchemaTag,
    pub event_id: NonBlank,
    pub source: Source,
    pub kind: EventKind,
    pub occurred_at: Rfc3339,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// For a correction of the employee number itself: the number this record replaces.
    /// The person's accounts, anchored on the old number, are re-linked to the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<EmployeeNumber>,
    pub person: Person,
}

/// The literal `turnstile.hr-event/v1`; anything else is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaTag;

impl Serialize for SchemaTag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SCHEMA_V1)
    }
}

impl<'de> Deserialize<'de> for SchemaTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == SCHEMA_V1 {
            Ok(SchemaTag)
        } else {
            Err(serde::de::Error::custom(format!(
                "schema must be \"{SCHEMA_V1}\", found \"{text}\""
            )))
        }
    }
}

/// A business rule an event broke, which a schema cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("person {person} has no assignments: send at least the assignment that ended")]
    NoAssignments { person: String },
    #[error(
        "assignment {assignment} ends on {end} before it starts on {start}: correct the dates in the source record"
    )]
    EndBeforeStart {
        assignment: String,
        start: Date,
        end: Date,
    },
    #[error("assignment number {assignment} appears twice in person {person}'s record")]
    DuplicateAssignment { person: String, assignment: String },
    #[error(
        "person {person} has {count} assignments marked primary: ESR allows one, so correct the source record"
    )]
    SeveralPrimary { person: String, count: usize },
    #[error(
        "person {person} has {count} assignments, more than the {MAX_ASSIGNMENTS} any record may have: check the source for repeated assignments"
    )]
    TooManyAssignments { person: String, count: usize },
    #[error(
        "person {person}: `{field}` holds a control character ({character}): it would reach account names, mail and terminals as it is; correct the source record"
    )]
    ControlCharacter {
        person: String,
        field: &'static str,
        character: String,
    },
}

/// The most assignments one person's record may have: far beyond any real record, and a
/// bound on the work and memory one event can ask for.
pub const MAX_ASSIGNMENTS: usize = 1000;

impl Person {
    /// Checks the business rules the schema cannot express; returns every breach.
    pub fn check(&self) -> Vec<EventError> {
        let person = || self.employee_number.as_str().to_string();
        let mut errors = Vec::new();
        if self.assignments.len() > MAX_ASSIGNMENTS {
            // Nothing more is checked: a record this size is refused whole.
            return vec![EventError::TooManyAssignments {
                person: person(),
                count: self.assignments.len(),
            }];
        }
        if self.assignments.is_empty() {
            errors.push(EventError::NoAssignments { person: person() });
        }
        for (i, a) in self.assignments.iter().enumerate() {
            if let Some(end) = a.end_date
                && end.0 < a.start_date.0
            {
                errors.push(EventError::EndBeforeStart {
                    assignment: a.assignment_number.as_str().to_string(),
                    start: a.start_date.0,
                    end: end.0,
                });
            }
            // At most MAX_ASSIGNMENTS, nearly always one or two: no set needed.
            let number = a.assignment_number.as_str();
            if self.assignments[..i]
                .iter()
                .any(|b| b.assignment_number.as_str() == number)
            {
                errors.push(EventError::DuplicateAssignment {
                    person: person(),
                    assignment: a.assignment_number.as_str().to_string(),
                });
            }
        }
        let texts = [
            ("title", self.title.as_deref()),
            ("given_name", Some(self.given_name.as_str())),
            ("family_name", Some(self.family_name.as_str())),
            ("preferred_name", self.preferred_name.as_deref()),
            ("work_email", self.work_email.as_deref()),
        ]
        .into_iter()
        .chain(self.assignments.iter().flat_map(|a| {
            [
                ("assignment_number", Some(a.assignment_number.as_str())),
                ("position_number", a.position_number.as_deref()),
                ("position_title", a.position_title.as_deref()),
                ("staff_group", a.staff_group.as_deref()),
                ("job_role", a.job_role.as_deref()),
                ("occupation_code", a.occupation_code.as_deref()),
                ("organisation", a.organisation.as_deref()),
                ("cost_centre", a.cost_centre.as_deref()),
                ("location", a.location.as_deref()),
            ]
        }));
        for (field, value) in texts {
            if let Some(c) = value.and_then(control_character) {
                errors.push(EventError::ControlCharacter {
                    person: person(),
                    field,
                    character: c.escape_unicode().to_string(),
                });
            }
        }
        let primaries = self.assignments.iter().filter(|a| a.primary).count();
        if primaries > 1 {
            errors.push(EventError::SeveralPrimary {
                person: person(),
                count: primaries,
            });
        }
        errors
    }
}

/// Why an event payload could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("not a valid HR event: {0} (see schemas/hr-event.v1.schema.json)")]
    Shape(#[from] serde_json::Error),
    #[error("HR event breaks a business rule: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Rules(Vec<EventError>),
}

impl HrEvent {
    /// Parses and checks an event payload, as the daemon and `feed` do.
    pub fn from_json(payload: &[u8]) -> Result<HrEvent, PayloadError> {
        let event: HrEvent = serde_json::from_slice(payload)?;
        let errors = event.person.check();
        if errors.is_empty() {
            Ok(event)
        } else {
            Err(PayloadError::Rules(errors))
        }
    }

    /// Orders two records of the same person: a newer `sequence` from the same source
    /// wins, otherwise the later `occurred_at`, then the sequence, then the event id, so
    /// the order is total and the same everywhere.
    pub fn newness(&self) -> (jiff::Timestamp, u64, &str) {
        (
            self.occurred_at.0,
            self.sequence.unwrap_or(0),
            self.event_id.as_str(),
        )
    }

    /// True when neither record is newer than the other by the source's own order: same
    /// `occurred_at` and the same `sequence`. Only the event ids (or content) differ.
    pub fn ties(&self, other: &HrEvent) -> bool {
        self.occurred_at == other.occurred_at && self.sequence == other.sequence
    }

    /// A digest of what the event says (source, time, sequence and the whole person record;
    /// not the `kind` hint or the id): two events with the same digest have the same effect.
    pub fn content_digest(&self) -> String {
        // Serialising a Person cannot fail (plain strings, dates and bools); it is written
        // straight into the hash, never held as one more copy of the record.
        let mut into = HashWriter(self.digest_head());
        let _ = serde_json::to_writer(&mut into, &self.person);
        crate::audit::hex(&sha2::Digest::finalize(into.0))
    }

    /// The hash of what the digest covers before the person: source, time and sequence,
    /// each ended by a zero.
    fn digest_head(&self) -> sha2::Sha256 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.source.as_str().as_bytes());
        h.update([0]);
        h.update(self.occurred_at.0.to_string().as_bytes());
        h.update([0]);
        h.update(self.sequence.map(|s| s.to_string()).unwrap_or_default());
        h.update([0]);
        h
    }

    /// The event's JSON, as `serde_json::to_string` writes it, and its
    /// [`HrEvent::content_digest`], from one serialisation of the person: what a store
    /// needs to record it.
    pub fn json_and_digest(&self) -> Result<(String, String), serde_json::Error> {
        /// Every field before the person, as the derived `Serialize` writes them.
        #[derive(Serialize)]
        struct Head<'a> {
            schema: SchemaTag,
            event_id: &'a NonBlank,
            source: Source,
            kind: EventKind,
            occurred_at: &'a Rfc3339,
            #[serde(skip_serializing_if = "Option::is_none")]
            sequence: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            replaces: Option<&'a EmployeeNumber>,
        }
        let mut out = serde_json::to_vec(&Head {
            schema: self.schema,
            event_id: &self.event_id,
            source: self.source,
            kind: self.kind,
            occurred_at: &self.occurred_at,
            sequence: self.sequence,
            replaces: self.replaces.as_ref(),
        })?;
        // `{…}` becomes `{…,"person":` and the person follows, hashed where it lies.
        out.pop();
        out.extend_from_slice(b",\"person\":");
        let start = out.len();
        serde_json::to_writer(&mut out, &self.person)?;
        let mut h = self.digest_head();
        sha2::Digest::update(&mut h, &out[start..]);
        out.push(b'}');
        let json = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
        Ok((json, crate::audit::hex(&sha2::Digest::finalize(h))))
    }

    /// True when `self` should replace `other` as the person's current record.
    pub fn supersedes(&self, other: &HrEvent) -> bool {
        if self.source == other.source
            && let (Some(a), Some(b)) = (self.sequence, other.sequence)
            && a != b
        {
            return a > b;
        }
        self.newness() > other.newness()
    }
}

/// Feeds what is written to it into a SHA-256.
struct HashWriter(sha2::Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A hint for the `kind` of a file-fed event, from the record held before (if any) and the
/// new one. Only a label for people and logs: effects come from the record itself.
/// A first record whose first day is at most this many days ago is a joiner's.
pub const RECENT_START_DAYS: i32 = 28;

pub fn guess_kind(previous: Option<&Person>, new: &Person, today: Date) -> EventKind {
    let now = new.lifecycle(today);
    let before = previous.map(|p| p.lifecycle(today));
    match (before, now) {
        (_, Lifecycle::Ended) => EventKind::Leaver,
        (_, Lifecycle::Absent | Lifecycle::Suspended) => EventKind::Absence,
        // The first record of someone long in post (a first load) is not a joiner.
        (None, Lifecycle::Active)
            if new
                .first_day()
                .is_some_and(|d| (today - d).get_days() > RECENT_START_DAYS) =>
        {
            EventKind::Correction
        }
        (None, _) | (Some(Lifecycle::Ended), _) => EventKind::Joiner,
        (Some(Lifecycle::Absent | Lifecycle::Suspended), Lifecycle::Active) => EventKind::Return,
        (Some(_), _) => {
            let posts = |p: &Person| {
                let mut v: Vec<(Option<Text>, Option<Shared>, Option<Shared>)> = p
                    .assignments
                    .iter()
                    .filter(|a| a.lifecycle(today) != Lifecycle::Ended)
                    .map(|a| {
                        (
                            a.position_number.clone(),
                            a.organisation.clone(),
                            a.job_role.clone(),
                        )
                    })
                    .collect();
                v.sort();
                v
            };
            match previous {
                Some(prev) if posts(prev) != posts(new) => EventKind::Mover,
                _ => EventKind::Correction,
            }
        }
    }
}

#[cfg(test)]
mod tests;
