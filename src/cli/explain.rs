//! `turnstile explain N` and `plan --person N`: one person's access, each entitlement and
//! change with the HR fact, rule and role behind it.

use super::{Failure, TextOrJson, load_model, open_existing_store, today, write_failed};
use crate::config::Config;
use crate::explain::{Explanation, explain};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// The employee number (or give it as --person N, as every verb that names a person).
    #[arg(value_name = "N", required_unless_present = "by_flag")]
    number: Option<String>,
    #[arg(long = "person", value_name = "N", conflicts_with = "number")]
    by_flag: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: TextOrJson,
    #[command(flatten)]
    common: super::Common,
}

/// One held person explained, with the role model used and the systems whose accounts
/// have never been read (no change is planned there).
pub(super) struct OnePerson {
    pub explanation: Explanation,
    pub unknown: Vec<String>,
    pub model: crate::policy::RoleModel,
}

/// The explanation of one held person, with the accounts the store holds for them.
pub(super) fn of_person(
    config: &Config,
    policy: Option<&std::path::Path>,
    when: Option<&str>,
    number: &str,
) -> Result<OnePerson, Failure> {
    let today = today(when)?;
    let model = load_model(config, policy)?;
    let store = open_existing_store(config)?;
    let Some(person) = store.person(number)? else {
        return Err(Failure::Usage(format!(
            "no HR record is held for employee number {number}: feed it first (turnstile feed esr FILE --apply)"
        )));
    };
    let mine = store.accounts_of(number)?;
    let mine: Vec<&crate::account::Account> = mine.iter().collect();
    let read = crate::store::systems_read(store.as_ref(), &model)?;
    let explanation = explain(
        &model,
        &person.event.person,
        &mine,
        &|s| read.contains(s),
        today,
    );
    let unknown = model
        .systems
        .keys()
        .filter(|s| !read.contains(s.as_str()))
        .cloned()
        .collect();
    Ok(OnePerson {
        explanation,
        unknown,
        model,
    })
}

/// The note for systems whose accounts were never read.
pub(super) fn note_unknown(unknown: &[String]) {
    for system in unknown {
        eprintln!(
            "note: {system}: its accounts have never been read, so no change there is shown; read them with `turnstile reconcile --system {system} --dry-run` (a [targets.{system}] section is needed)"
        );
    }
}

pub(super) fn explain_cmd(config: &Config, a: ExplainArgs) -> Result<u8, Failure> {
    let one = of_person(
        config,
        a.common.policy.as_deref(),
        a.common.today.as_deref(),
        a.number
            .as_deref()
            .or(a.by_flag.as_deref())
            .unwrap_or_default(),
    )?;
    note_unknown(&one.unknown);
    match a.format {
        TextOrJson::Json => super::print_json(&one.explanation)?,
        TextOrJson::Text => {
            write_text(&mut std::io::stdout().lock(), &one.explanation).map_err(write_failed)?
        }
    }
    Ok(0)
}

fn write_text(out: &mut impl Write, e: &Explanation) -> std::io::Result<()> {
    writeln!(
        out,
        "{} on {}: {}",
        e.employee_number,
        e.today,
        e.lifecycle.as_str()
    )?;
    writeln!(out, "HR facts:")?;
    for a in &e.assignments {
        writeln!(
            out,
            "  {}{} — {}",
            a.describe(),
            if a.primary { " [primary]" } else { "" },
            a.lifecycle.as_str()
        )?;
    }
    for s in &e.systems {
        writeln!(
            out,
            "{}: {} (lifecycle {}: {}){}",
            s.system,
            presence(s.presence),
            s.rule,
            s.reason,
            if s.accounts.is_empty() {
                String::new()
            } else {
                format!("; accounts {}", s.accounts.join(", "))
            }
        )?;
        for g in &s.grants {
            for c in &g.because {
                writeln!(
                    out,
                    "  {} {}",
                    if g.held { "holds" } else { "needs" },
                    c.describe(&g.entitlement)
                )?;
            }
        }
        for c in &s.changes {
            writeln!(
                out,
                "  change: {} {}: because {}",
                c.change.account.as_deref().unwrap_or("(new account)"),
                c.change.action,
                c.because
            )?;
        }
    }
    Ok(())
}

fn presence(p: crate::desired::Presence) -> &'static str {
    use crate::desired::Presence::*;
    match p {
        Enabled => "should have an enabled account",
        Prepared => "should have an account prepared, disabled until the first day",
        DisabledIfPresent => "any account should be disabled",
        KeptIfPresent => "any account is kept as it is",
        DeletedIfPresent => "any account should be deleted",
    }
}
