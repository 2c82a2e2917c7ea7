//! `turnstile plan`: what would change and why, touching nothing.

use super::*;

#[derive(Args, Debug)]
pub(super) struct PlanArgs {
    /// Only this employee number.
    #[arg(long, value_name = "N")]
    pub(super) person: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: TextOrJson,
    /// Exit 3 when there is anything to change.
    #[arg(long)]
    pub(super) fail_on_drift: bool,
    #[command(flatten)]
    pub(super) common: Common,
}
/// How `plan` tags a change: `rule ID` for a rule of the role model, else `lifecycle X`.
pub(super) fn rule_tag(model: &RoleModel, rule: &str) -> String {
    if model.rules.iter().any(|r| r.id == rule) {
        format!("rule {rule}")
    } else {
        format!("lifecycle {rule}")
    }
}
pub(super) fn plan_cmd(config: &Config, a: PlanArgs) -> Result<u8, Failure> {
    if let Some(n) = &a.person {
        return plan_person_cmd(config, &a, n);
    }
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let store = open_existing_store(config)?;
    let people: Vec<Person> = match &a.person {
        Some(n) => match store.person(n)? {
            Some(p) => vec![p.event.person],
            None => {
                return Err(Failure::Usage(format!(
                    "no HR record is held for employee number {n}"
                )));
            }
        },
        None => store
            .persons()?
            .into_iter()
            .map(|p| p.event.person)
            .collect(),
    };
    let accounts = store.accounts(None)?;
    let by_person = crate::account::by_person(&accounts);
    // A system whose accounts were never read: planning against nothing would call for a
    // create for everyone. Its changes are left out and it is named.
    let known: BTreeSet<&str> = accounts.iter().map(|a| a.system.as_str()).collect();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut changes = Vec::new();
    for person in &people {
        let mine = by_person
            .get(person.employee_number.as_str())
            .map_or(&[][..], Vec::as_slice);
        for c in plan::plan_person(&model, person, mine, today) {
            if known.contains(c.system.as_str()) {
                changes.push(c);
            } else {
                *unknown.entry(c.system.clone()).or_default() += 1;
            }
        }
    }
    for (system, n) in &unknown {
        eprintln!(
            "note: {system}: its accounts have never been read, so {n} change(s) there are not shown; read them with `turnstile reconcile --system {system} --dry-run` (a [targets.{system}] section is needed)"
        );
    }
    match a.format {
        TextOrJson::Json => print_json(&changes)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for c in &changes {
                writeln!(
                    out,
                    "{} {} {}: {}  [{}] {}",
                    c.employee_number,
                    c.system,
                    c.account.as_deref().unwrap_or("(new account)"),
                    c.action,
                    rule_tag(&model, &c.rule),
                    c.reason
                )
                .map_err(io)?;
            }
            writeln!(
                out,
                "{} change(s) for {} person(s) on {today}",
                changes.len(),
                people.len()
            )
            .map_err(io)?;
        }
    }
    Ok(if a.fail_on_drift && !changes.is_empty() {
        3
    } else {
        0
    })
}
/// `plan --person N`: the person's changes, each with the HR fact behind it.
pub(super) fn plan_person_cmd(config: &Config, a: &PlanArgs, number: &str) -> Result<u8, Failure> {
    let one = explain::of_person(
        config,
        a.common.policy.as_deref(),
        a.common.today.as_deref(),
        number,
    )?;
    explain::note_unknown(&one.unknown);
    let changes: Vec<&crate::explain::ExplainedChange> = one
        .explanation
        .systems
        .iter()
        .flat_map(|s| &s.changes)
        .collect();
    match a.format {
        TextOrJson::Json => print_json(&changes)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for c in &changes {
                let ch = &c.change;
                writeln!(
                    out,
                    "{} {} {}: {}  [{}] {}\n    because {}",
                    ch.employee_number,
                    ch.system,
                    ch.account.as_deref().unwrap_or("(new account)"),
                    ch.action,
                    rule_tag(&one.model, &ch.rule),
                    ch.reason,
                    c.because
                )
                .map_err(io)?;
            }
            writeln!(
                out,
                "{} change(s) for 1 person(s) on {}",
                changes.len(),
                one.explanation.today
            )
            .map_err(io)?;
        }
    }
    Ok(if a.fail_on_drift && !changes.is_empty() {
        3
    } else {
        0
    })
}
