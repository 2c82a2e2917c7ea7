//! `turnstile review`: access review packs per line manager (CSV to fill in, HTML to read)
//! and `review record`, which reads a completed pack back: the attestation goes into the
//! audit trail, removals of access no role grants are made under the reviewer's name, and
//! removals of access the role model grants are recorded as conflicts for the role owner
//! (made, they would come back at the next reconciliation).

use super::{Failure, actor, load_model, open_existing_store, today, write_failed};
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::config::Config;
use crate::hr::Person;
use crate::plan::{Action, Change};
use crate::report::page::{self, Card, Column, Kind, Table};
use crate::report::safe_cell;
use crate::review::{Line, managers, pack, staff_of};
use crate::store::reviews::{IssuedLine, IssuedPack};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct ReviewArgs {
    #[command(subcommand)]
    record: Option<ReviewVerb>,
    /// The line manager's employee number: their staff's pack.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    manager: Option<String>,
    /// A pack for every line manager with staff, into the --out folder.
    #[arg(long, requires = "out")]
    all: bool,
    /// A folder: each pack is written there as review-<manager>-<date>.csv and .html
    /// (default for --manager: the CSV on standard output).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: super::Common,
}

#[derive(Subcommand, Debug)]
enum ReviewVerb {
    /// Read a completed pack back (decision keep or remove on each line).
    Record(RecordArgs),
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// The completed CSV.
    file: PathBuf,
    /// Who attests the review (recorded in the audit trail).
    #[arg(long = "as", value_name = "NAME", required = true)]
    by: String,
    /// Say what would be recorded and changed, and write nothing: no trail entry, no
    /// change on any target.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: super::Common,
}

const HEADER: [&str; 13] = [
    "pack",
    "manager",
    "employee_number",
    "name",
    "job",
    "system",
    "account",
    "entitlement",
    "enabled",
    "last_logon",
    "reason",
    "decision",
    "comment",
];

pub(super) fn review_cmd(config: &Config, a: ReviewArgs) -> Result<u8, Failure> {
    if let Some(ReviewVerb::Record(r)) = a.record {
        return record_cmd(config, r);
    }
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut store = open_existing_store(config)?;
    let people: Vec<Person> = store
        .persons()?
        .into_iter()
        .map(|p| p.event.person)
        .collect();
    let accounts = store.accounts(None)?;
    let by_person = crate::account::by_person(&accounts);
    let tz = super::london();
    let wanted: Vec<String> = match (&a.manager, a.all) {
        (Some(m), _) => vec![m.clone()],
        (None, true) => managers(&people, today),
        (None, false) => {
            return Err(Failure::Usage(
                "say whose pack: --manager N, --all --out DIR, or `review record FILE --as NAME`"
                    .into(),
            ));
        }
    };
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::Runtime(format!("{}: cannot make the folder: {e}", dir.display()))
        })?;
    }
    let mut written = 0;
    for manager in &wanted {
        let staff = staff_of(manager, &people, today);
        if staff.is_empty() && a.manager.is_some() {
            return Err(Failure::Usage(format!(
                "nobody held has {manager} as line manager (or all their staff have left)"
            )));
        }
        let lines = pack(&model, &staff, &by_person, today, &tz);
        let id = format!("{today}/{manager}");
        let csv = pack_csv(&id, manager, &lines)?;
        // Kept as issued: what is read back acts only on these lines.
        store.issue_pack(&IssuedPack {
            id: id.clone(),
            manager: manager.clone(),
            issued_at: crate::now(),
            digest: {
                use sha2::Digest;
                format!("{:x}", sha2::Sha256::digest(csv.as_bytes()))
            },
            lines: lines
                .iter()
                .map(|l| IssuedLine {
                    employee_number: l.employee_number.clone(),
                    system: l.system.clone(),
                    account: l.account.clone(),
                    entitlement: l.entitlement.clone(),
                })
                .collect(),
        })?;
        match &a.out {
            None => std::io::stdout()
                .lock()
                .write_all(csv.as_bytes())
                .map_err(write_failed)?,
            Some(dir) => {
                let stem = dir.join(format!("review-{manager}-{today}"));
                super::write_out(Some(&stem.with_extension("csv")), &csv)?;
                super::write_out(
                    Some(&stem.with_extension("html")),
                    &pack_html(&id, manager, staff.len(), &lines)?,
                )?;
                written += 1;
            }
        }
    }
    if let Some(dir) = &a.out {
        eprintln!(
            "{written} review pack(s) for {today} written to {} (CSV to fill in: decision keep or remove on each line; HTML to read)",
            dir.display()
        );
    }
    Ok(0)
}

fn pack_csv(id: &str, manager: &str, lines: &[Line]) -> Result<String, Failure> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Failure::Runtime(e.to_string());
    w.write_record(HEADER).map_err(err)?;
    for l in lines {
        w.write_record([
            id,
            manager,
            &safe_cell(&l.employee_number),
            &safe_cell(&l.name),
            &safe_cell(&l.job),
            &safe_cell(&l.system),
            &safe_cell(&l.account),
            &safe_cell(l.entitlement.as_deref().unwrap_or("")),
            if l.enabled { "true" } else { "false" },
            &l.last_logon.map(|d| d.to_string()).unwrap_or_default(),
            &safe_cell(&l.reason),
            "",
            "",
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Failure::Runtime(e.to_string()))
}

fn pack_html(id: &str, manager: &str, staff: usize, lines: &[Line]) -> Result<String, Failure> {
    let ungranted = lines.iter().filter(|l| !l.granted).count();
    let mut body = format!(
        "<h1>Access review</h1>\n<p class=\"meta\">Pack {} for line manager {}: {staff} staff, {} accounts and entitlements. Mark each line keep or remove in the CSV of the same name and return it; lines no role grants are the first to look at.</p>\n",
        page::escape(id),
        page::escape(manager),
        lines.len()
    );
    body.push_str(&page::cards(&[
        Card {
            label: "Staff",
            value: staff.to_string(),
            tone: "",
        },
        Card {
            label: "Lines to review",
            value: lines.len().to_string(),
            tone: "",
        },
        Card {
            label: "Granted by no role",
            value: ungranted.to_string(),
            tone: if ungranted > 0 { "medium" } else { "good" },
        },
    ]));
    let table = Table {
        id: "pack".into(),
        columns: vec![
            Column::new("Employee", Kind::Code, false),
            Column::new("Name", Kind::Text, true),
            Column::new("Job", Kind::Text, false),
            Column::new("System", Kind::Text, true),
            Column::new("Account", Kind::Code, false),
            Column::new("Entitlement", Kind::Text, false),
            Column::new("Enabled", Kind::Text, true),
            Column::new("Last logon", Kind::Text, false),
            Column::new("Granted by a role", Kind::Text, true),
            Column::new("Why", Kind::Text, false),
        ],
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    l.employee_number.clone(),
                    l.name.clone(),
                    l.job.clone(),
                    l.system.clone(),
                    l.account.clone(),
                    l.entitlement
                        .clone()
                        .unwrap_or_else(|| "(the account)".into()),
                    if l.enabled { "yes" } else { "no" }.into(),
                    l.last_logon.map(|d| d.to_string()).unwrap_or_default(),
                    if l.granted { "yes" } else { "no" }.into(),
                    l.reason.clone(),
                ]
            })
            .collect(),
        page_size: 100,
    };
    body.push_str(&table.html().map_err(Failure::Runtime)?);
    Ok(page::document(&format!("Access review {id}"), &body))
}

/// One decided line of a returned pack.
#[derive(Debug)]
pub(crate) struct Decided {
    pub(crate) line: u64,
    pub(crate) pack: String,
    pub(crate) manager: String,
    pub(crate) employee_number: String,
    pub(crate) system: String,
    pub(crate) account: String,
    pub(crate) entitlement: Option<String>,
    pub(crate) remove: bool,
    pub(crate) comment: Option<String>,
}

fn record_cmd(config: &Config, a: RecordArgs) -> Result<u8, Failure> {
    let by = a.by.trim();
    if by.is_empty() || by.chars().any(char::is_control) {
        return Err(Failure::Usage(
            "--as: the reviewer's name, on one line".into(),
        ));
    }
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut table = crate::feed::Table::open(&a.file, &config.feeds)?;
    let (decided, undecided) = read_completed(&mut table, &config.feeds)?;
    let packs: std::collections::BTreeSet<(&str, &str)> = decided
        .iter()
        .map(|d| (d.pack.as_str(), d.manager.as_str()))
        .collect();
    let mut store = open_existing_store(config)?;
    let now = crate::now();
    let acting = actor(Some(by), "turnstile review record")?;
    // Every line must be one the pack put in front of its manager, as issued: a line
    // naming another account, system or entitlement — a service account, say — is
    // refused with the whole file, and nothing is recorded.
    let mut issued = BTreeMap::new();
    let mut refused = Vec::new();
    for (pack_id, _) in &packs {
        match store.issued_pack(pack_id)? {
            Some(p) => {
                issued.insert(pack_id.to_string(), p);
            }
            None => refused.push(format!(
                "{}: pack `{pack_id}` was never issued from this store: only a pack `turnstile review` wrote can be recorded",
                a.file.display()
            )),
        }
    }
    for d in &decided {
        let Some(p) = issued.get(&d.pack) else {
            continue;
        };
        let line = IssuedLine {
            employee_number: d.employee_number.clone(),
            system: d.system.clone(),
            account: d.account.clone(),
            entitlement: d.entitlement.clone(),
        };
        if p.manager != d.manager || !p.holds(&line) {
            refused.push(format!(
                "{}:{}: not a line of pack {} as issued (manager {}, employee {}, {} account {}{}): a pack acts only on what was put in front of its manager",
                a.file.display(),
                d.line,
                d.pack,
                crate::input::printable(&d.manager),
                crate::input::printable(&d.employee_number),
                crate::input::printable(&d.system),
                crate::input::printable(&d.account),
                d.entitlement
                    .as_deref()
                    .map_or_else(String::new, |e| format!(", entitlement {}", crate::input::printable(e)))
            ));
        }
    }
    if !refused.is_empty() {
        return Err(Failure::Usage(format!(
            "nothing was recorded:\n{}",
            refused.join("\n")
        )));
    }
    // Per person: their removals, split into those to make and those the role model
    // still grants.
    let mut to_make: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    let mut drafts = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut conflicts = 0;
    let accounts = store.accounts(None)?;
    for d in &decided {
        *tally
            .entry(if d.remove { "remove" } else { "keep" })
            .or_default() += 1;
        if !d.remove {
            continue;
        }
        let Some(person) = store.person(&d.employee_number)? else {
            return Err(Failure::Usage(format!(
                "{}:{}: no HR record is held for employee number {}",
                a.file.display(),
                d.line,
                d.employee_number
            )));
        };
        let mine: Vec<&crate::account::Account> = accounts
            .iter()
            .filter(|x| x.employee_number.as_deref() == Some(d.employee_number.as_str()))
            .collect();
        let e = crate::explain::explain(&model, &person.event.person, &mine, &|_| false, today);
        let here = e.systems.iter().find(|s| s.system == d.system);
        let granted = match &d.entitlement {
            Some(ent) => here
                .and_then(|s| s.grants.iter().find(|g| &g.entitlement == ent))
                .map(|g| {
                    g.because
                        .iter()
                        .map(|c| c.describe(ent))
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            None => here
                .filter(|s| s.presence == crate::desired::Presence::Enabled)
                .map(|s| s.reason.clone()),
        };
        let what = match &d.entitlement {
            Some(ent) => format!("{ent} on {} {}", d.system, d.account),
            None => format!("the {} account {}", d.system, d.account),
        };
        let comment = d
            .comment
            .as_deref()
            .map_or_else(String::new, |c| format!(" (comment: {c})"));
        if let Some(why) = granted {
            conflicts += 1;
            drafts.push(Draft {
                at: now,
                actor: acting.clone(),
                employee_number: Some(d.employee_number.clone()),
                system: Some(d.system.clone()),
                account: Some(d.account.clone()),
                action: AuditAction::ReviewConflict.to_string(),
                outcome: AuditOutcome::Recorded.to_string(),
                rule: None,
                event_id: None,
                reason: format!(
                    "access review pack {} asks to remove {what}{comment}, but the role model grants it ({why}): not removed; correct the HR record or the role model",
                    d.pack
                ),
            });
            continue;
        }
        to_make
            .entry(d.employee_number.clone())
            .or_default()
            .push(Change {
                system: d.system.clone(),
                employee_number: d.employee_number.clone(),
                account: Some(d.account.clone()),
                action: match &d.entitlement {
                    Some(ent) => Action::Revoke {
                        entitlement: ent.clone(),
                    },
                    None => Action::Disable,
                },
                rule: crate::engine::decided::RULE.into(),
                reason: format!("removed at access review pack {} by {by}{comment}", d.pack),
            });
    }
    // The attestation: one entry per person reviewed, so `audit --person` shows it.
    let mut per_person: BTreeMap<(&str, &str, &str), (usize, usize)> = BTreeMap::new();
    for d in &decided {
        let e = per_person
            .entry((
                d.pack.as_str(),
                d.manager.as_str(),
                d.employee_number.as_str(),
            ))
            .or_default();
        if d.remove {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    for ((pack_id, manager, number), (kept, removed)) in &per_person {
        drafts.push(Draft {
            at: now,
            actor: acting.clone(),
            employee_number: Some(number.to_string()),
            system: None,
            account: None,
            action: AuditAction::ReviewAttested.to_string(),
            outcome: AuditOutcome::Recorded.to_string(),
            rule: Some("access-review".into()),
            event_id: None,
            reason: format!(
                "access review pack {pack_id} (line manager {manager}) attested by {by}: {kept} kept, {removed} to remove"
            ),
        });
    }
    // A dry run records nothing: it says what would be recorded and made.
    if !a.dry_run {
        store.append_audit(drafts)?;
    }
    let removals: usize = to_make.values().map(Vec::len).sum();
    let mut failed = 0;
    let mut applied = 0;
    let mut not_here: BTreeMap<String, usize> = BTreeMap::new();
    let mut stopped = false;
    if !a.dry_run && removals > 0 {
        // Through the engine, like every change: the guard, then each target's state.
        let mut targets = crate::engine::targets::build(config, &model)
            .map_err(|problems| Failure::Usage(problems.join("\n")))?;
        let runtime = super::runtime(&mut tokio::runtime::Builder::new_current_thread())?;
        let done = runtime.block_on(crate::engine::decided::apply(
            store.as_mut(),
            &mut targets,
            &config.guard,
            &to_make,
            now,
            &acting,
        ))?;
        applied = done.tally.applied + done.tally.work_items;
        failed = done.tally.failed;
        not_here = done.not_here;
        for (system, plan, people) in &done.held {
            stopped = true;
            eprintln!(
                "error: {system}: the removals for {people} person(s) are held by the mass-change guard as HP-{plan:06}, none made; see `turnstile held {plan}`, then `turnstile approve {plan} --as NAME` or `turnstile reject {plan} --as NAME --reason TEXT`"
            );
        }
        for (system, reason) in &done.away {
            stopped = true;
            eprintln!(
                "error: {system} cannot take changes now ({reason}); its removals were not made: record the pack again once it answers"
            );
        }
    }
    println!(
        "access review {} recorded for {} by {by}: {} kept, {} to remove ({removals} removal(s), {conflicts} granted by the role model and recorded as conflicts), {} line(s) undecided{}",
        packs.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "),
        per_person.len(),
        tally.get("keep").copied().unwrap_or(0),
        tally.get("remove").copied().unwrap_or(0),
        undecided.len(),
        if a.dry_run {
            "; --dry-run: nothing recorded, no change made".to_string()
        } else {
            format!("; {applied} made, {failed} failed")
        }
    );
    for line in &undecided {
        eprintln!(
            "note: {}:{line}: no decision (keep or remove): not attested; review it again",
            a.file.display()
        );
    }
    for (system, n) in &not_here {
        eprintln!(
            "note: {system}: {n} removal(s) not made, no [targets.{system}] is configured here: they are in the audit trail as decided; make them by hand or run `review record` where the target is configured"
        );
    }
    Ok(if failed > 0 || stopped || !not_here.is_empty() {
        1
    } else {
        0
    })
}

/// The decided lines, and the line numbers left undecided. A decision other than keep or
/// remove refuses the whole file (naming every such line): a typo must not pass as keep.
pub(crate) fn read_completed(
    table: &mut crate::feed::Table,
    limits: &crate::feed::Limits,
) -> Result<(Vec<Decided>, Vec<u64>), Failure> {
    let file = table.file().to_string();
    let col = |t: &crate::feed::Table, name: &str| t.require(name, name);
    let pack_c = col(table, "pack")?;
    let manager_c = col(table, "manager")?;
    let number_c = col(table, "employee_number")?;
    let system_c = col(table, "system")?;
    let account_c = col(table, "account")?;
    let entitlement_c = col(table, "entitlement")?;
    let decision_c = col(table, "decision")?;
    let comment_c = table.column("comment")?;
    let mut decided = Vec::new();
    let mut undecided = Vec::new();
    // Every wrong line counted; the first [feeds] max_listed_errors named.
    let mut wrong = crate::feed::RowErrors::new(limits);
    while let Some(row) = table.next_row()? {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                wrong.row(e);
                continue;
            }
        };
        let cell = |c: usize| {
            row.get(Some(c))
                .map(|s| s.trim_start_matches('\'').to_string())
        };
        let remove = match row
            .get(Some(decision_c))
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => {
                undecided.push(row.line);
                continue;
            }
            Some("keep") => false,
            Some("remove") => true,
            Some(other) => {
                wrong.row(row.error(format!("decision `{other}`: write keep or remove")));
                continue;
            }
        };
        let need = |c: usize, name: &str| {
            cell(c).ok_or_else(|| {
                row.error(format!(
                    "`{name}` is empty: the line must stay as the pack wrote it"
                ))
            })
        };
        let parsed = (|| {
            Ok::<Decided, crate::input::RowError>(Decided {
                line: row.line,
                pack: need(pack_c, "pack")?,
                manager: need(manager_c, "manager")?,
                employee_number: need(number_c, "employee_number")?,
                system: need(system_c, "system")?,
                account: need(account_c, "account")?,
                entitlement: cell(entitlement_c),
                remove,
                comment: comment_c.and_then(&cell),
            })
        })();
        match parsed {
            Ok(d) => decided.push(d),
            Err(e) => wrong.row(e),
        }
    }
    if wrong.bad_rows > 0 {
        return Err(Failure::Usage(format!(
            "{file}: nothing was recorded; fix these lines and record it again:\n{}",
            wrong.lines().collect::<Vec<_>>().join("\n")
        )));
    }
    if decided.is_empty() {
        return Err(Failure::Usage(format!(
            "{file}: no line has a decision (keep or remove): nothing to record"
        )));
    }
    Ok((decided, undecided))
}
