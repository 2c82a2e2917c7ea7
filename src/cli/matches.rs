//! `turnstile onboard` (the first-rollout survey of a system, touching nothing) and
//! `turnstile matches` (the proposals and disputes correlation found, and a person's
//! decisions on them).

use super::{
    Common, Failure, TextOrJson, actor, decider, load_model, local_time, one_line,
    open_existing_store, out_format, print_json, runtime, today, write_failed, write_out,
    write_out_with,
};
use crate::config::Config;
use crate::engine::correlation::{self, DecisionError};
use crate::report::{Format, page};
use crate::store::matches::{AccountMatch, MatchStatus, parse_reference};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct OnboardArgs {
    /// The system to survey (a `[targets.<system>]` of the config).
    #[arg(long)]
    system: String,
    /// The report's format (default: from the --out file's extension, else json).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where to write it (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct MatchesArgs {
    #[command(subcommand)]
    verb: Option<MatchVerb>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StatusArg {
    Open,
    Accepted,
    Rejected,
    Linked,
    Closed,
    All,
}

#[derive(Subcommand, Debug)]
enum MatchVerb {
    /// The matches waiting for a decision (or of another status).
    List {
        #[arg(long)]
        system: Option<String>,
        #[arg(long, value_enum, default_value = "open")]
        status: StatusArg,
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// One match: the person, each candidate and what matched it.
    Show {
        /// `12` or `M-000012`.
        id: String,
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// This account is theirs: the link is written now (the anchor, then what their role
    /// grants; entitlements granted by hand are kept for a decision).
    Accept {
        id: String,
        /// For a dispute: which candidate is theirs.
        #[arg(long)]
        account: Option<String>,
        #[arg(long = "as", value_name = "NAME", required = true)]
        by: String,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Accept every open strong proposal (after reviewing `turnstile onboard` or
    /// `matches list`), optionally of one system.
    AcceptStrong {
        #[arg(long)]
        system: Option<String>,
        #[arg(long = "as", value_name = "NAME", required = true)]
        by: String,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// These accounts are not theirs (default: every candidate); never proposed for them
    /// again, so the next pass may create one of their own.
    Reject {
        id: String,
        #[arg(long = "account")]
        accounts: Vec<String>,
        #[arg(long = "as", value_name = "NAME", required = true)]
        by: String,
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
    },
    /// Undo a link: the anchor taken off the account, which is not proposed for that
    /// person again.
    Unlink {
        #[arg(long)]
        system: String,
        #[arg(long)]
        account: String,
        #[arg(long = "as", value_name = "NAME", required = true)]
        by: String,
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// An adopted account's entitlements granted by hand: --revoke lets the next pass
    /// revoke them, --keep leaves them for an access review.
    Excess {
        #[arg(long)]
        system: String,
        #[arg(long)]
        account: String,
        #[arg(long, conflicts_with = "keep", required_unless_present = "keep")]
        revoke: bool,
        #[arg(long)]
        keep: bool,
        #[arg(long = "as", value_name = "NAME", required = true)]
        by: String,
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
    },
}

fn match_id(text: &str) -> Result<u64, Failure> {
    parse_reference(text).ok_or_else(|| {
        Failure::Usage(format!(
            "`{text}` is not a match's id: give its number or reference as `turnstile matches` lists it (e.g. 12 or M-000012)"
        ))
    })
}

fn decision_failed(e: DecisionError) -> Failure {
    use crate::store::StoreError;
    match e {
        DecisionError::Refused(_) | DecisionError::Store(StoreError::Refused(_)) => {
            Failure::Usage(e.to_string())
        }
        other => Failure::Runtime(other.to_string()),
    }
}

pub fn onboard_cmd(config: &Config, a: OnboardArgs) -> Result<u8, Failure> {
    use crate::correlate::survey;
    let format = out_format(
        a.format,
        a.out.as_deref(),
        Format::Json,
        "json, csv or html",
    )?;
    let day = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut targets = crate::engine::targets::build(config, &model)
        .map_err(|problems| Failure::Usage(problems.join("\n")))?;
    let Some(target) = targets.iter_mut().find(|t| t.system() == a.system) else {
        return Err(Failure::Usage(format!(
            "no connector is configured for system `{}`: add a [targets.{}] section to the config",
            a.system, a.system
        )));
    };
    let store = open_existing_store(config)?;
    let rt = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    // The target is read while the HR records are read from the store.
    let connector = target.connector.clone();
    let (people, accounts) = std::thread::scope(|scope| {
        let reading = scope.spawn(|| rt.block_on(connector.read_accounts()));
        let people = store.persons();
        let accounts = reading.join();
        (people, accounts)
    });
    let people: Vec<crate::hr::Person> = people?.into_iter().map(|p| p.event.person).collect();
    let mut accounts = accounts
        .map_err(|_| {
            Failure::Runtime(format!(
                "{}: reading its accounts stopped unexpectedly",
                a.system
            ))
        })?
        .map_err(|e| Failure::Runtime(format!("{}: cannot read its accounts: {e}", a.system)))?;
    crate::account::link_by_smartcard(&mut accounts, &crate::account::smartcards(&people));
    let naming = target.connector.naming();
    let abilities = target.connector.capabilities().abilities();
    let refused = store.refusals(&a.system)?;
    let s = survey::survey(
        &model,
        &people,
        &accounts,
        &survey::Target {
            system: &a.system,
            settings: &target.correlation,
            naming: naming.as_ref(),
            abilities: &abilities,
            workers: crate::workers(),
        },
        &refused,
        day,
    );
    // The inputs are done with: the survey holds what it reports.
    drop((people, accounts, refused));
    match format {
        // Written as it is made: 200,000 rows' JSON is never held whole.
        Format::Json => write_out_with(a.out.as_deref(), &mut |w| {
            serde_json::to_writer_pretty(&mut *w, &s)?;
            w.write_all(b"\n")
        })?,
        Format::Csv => write_out(a.out.as_deref(), &survey_csv(&s)?)?,
        Format::Html => write_out(a.out.as_deref(), &survey_html(&s, day)?)?,
    }
    let counts = |m: &std::collections::BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "{}: people: {}; accounts: {}. Nothing was changed.",
        a.system,
        counts(&s.people_by_class),
        counts(&s.accounts_by_class)
    );
    Ok(0)
}

fn survey_csv(s: &crate::correlate::survey::Survey) -> Result<String, Failure> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Failure::Runtime(e.to_string());
    w.write_record([
        "kind",
        "class",
        "employee_number",
        "account",
        "name",
        "detail",
    ])
    .map_err(err)?;
    for p in &s.people {
        w.write_record([
            "person",
            p.class,
            &p.employee_number,
            "",
            &p.name,
            &p.accounts.join("; "),
        ])
        .map_err(err)?;
    }
    for a in &s.accounts {
        w.write_record([
            "account",
            a.class,
            &a.employee_numbers.join("; "),
            &a.account,
            &a.display_name,
            if a.enabled { "enabled" } else { "disabled" },
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Failure::Runtime(e.to_string()))
}

fn survey_html(
    s: &crate::correlate::survey::Survey,
    day: jiff::civil::Date,
) -> Result<String, Failure> {
    use page::{Card, Column, Kind, Table};
    let mut body = format!(
        "<h1>First rollout: {}</h1>\n<p class=\"meta\">Every HR person and every account, as they stand on {day}. Nothing was changed. Strong matches are proposed for linking (<code>turnstile matches</code>); disputed people wait for a person to choose; only people with no candidate would get a new account.</p>\n",
        page::escape(&s.system)
    );
    let tone = |class: &str| match class {
        "disputed" | "disputed_candidate" | "orphan" => "high",
        "strong" | "strong_match" | "no_candidate" => "medium",
        "linked" => "good",
        _ => "",
    };
    // One section per side: its cards by class, then its table.
    let mut section = |title: &str,
                       counts: &std::collections::BTreeMap<&'static str, usize>,
                       table: Table|
     -> Result<(), Failure> {
        body.push_str(&format!("<h2>{title}</h2>\n"));
        let cards: Vec<Card<'_>> = counts
            .iter()
            .map(|(k, v)| Card {
                label: k,
                value: v.to_string(),
                tone: tone(k),
            })
            .collect();
        body.push_str(&page::cards(&cards));
        body.push_str(&table.html().map_err(Failure::Runtime)?);
        Ok(())
    };
    section(
        "People",
        &s.people_by_class,
        Table {
            id: "people".into(),
            columns: vec![
                Column::new("Class", Kind::Text, true),
                Column::new("Employee number", Kind::Code, false),
                Column::new("Name", Kind::Text, false),
                Column::new("Accounts or candidates (what matched)", Kind::Text, false),
            ],
            rows: s
                .people
                .iter()
                .map(|p| {
                    vec![
                        p.class.to_string(),
                        p.employee_number.clone(),
                        p.name.clone(),
                        p.accounts.join("; "),
                    ]
                })
                .collect(),
            page_size: 50,
        },
    )?;
    section(
        "Accounts",
        &s.accounts_by_class,
        Table {
            id: "accounts".into(),
            columns: vec![
                Column::new("Class", Kind::Text, true),
                Column::new("Account", Kind::Code, false),
                Column::new("Display name", Kind::Text, false),
                Column::new("Enabled", Kind::Text, true),
                Column::new("Person", Kind::Code, false),
            ],
            rows: s
                .accounts
                .iter()
                .map(|a| {
                    vec![
                        a.class.to_string(),
                        a.account.clone(),
                        a.display_name.clone(),
                        if a.enabled { "yes" } else { "no" }.to_string(),
                        a.employee_numbers.join("; "),
                    ]
                })
                .collect(),
            page_size: 50,
        },
    )?;
    Ok(page::document(
        &format!("First rollout survey: {}", s.system),
        &body,
    ))
}

fn print_match(out: &mut dyn Write, m: &AccountMatch) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  {}  {}  {}  {}  found {}{}",
        m.reference(),
        m.system,
        m.employee_number,
        m.situation,
        m.status.as_str(),
        local_time(m.found_at),
        m.decided_by
            .as_deref()
            .map(|b| format!(", {} by {b}", m.status.as_str()))
            .unwrap_or_default()
    )?;
    for c in &m.candidates {
        writeln!(
            out,
            "    {}{}  matched by {}",
            c.account,
            if c.strong { " (strong)" } else { "" },
            c.evidence()
        )?;
    }
    Ok(())
}

pub fn matches_cmd(config: &Config, a: MatchesArgs) -> Result<u8, Failure> {
    let verb = a.verb.unwrap_or(MatchVerb::List {
        system: None,
        status: StatusArg::Open,
        format: TextOrJson::Text,
    });
    let now = crate::now();
    match verb {
        MatchVerb::List {
            system,
            status,
            format,
        } => {
            let store = open_existing_store(config)?;
            let status = match status {
                StatusArg::Open => Some(MatchStatus::Open),
                StatusArg::Accepted => Some(MatchStatus::Accepted),
                StatusArg::Rejected => Some(MatchStatus::Rejected),
                StatusArg::Linked => Some(MatchStatus::Linked),
                StatusArg::Closed => Some(MatchStatus::Closed),
                StatusArg::All => None,
            };
            let all = store.account_matches(system.as_deref(), status)?;
            if format == TextOrJson::Json {
                return print_json(&all.iter().map(AccountMatch::to_json).collect::<Vec<_>>())
                    .map(|_| 0);
            }
            let mut out = std::io::stdout().lock();
            if all.is_empty() {
                writeln!(out, "no matches").map_err(write_failed)?;
            }
            for m in &all {
                print_match(&mut out, m).map_err(write_failed)?;
            }
            Ok(0)
        }
        MatchVerb::Show { id, format } => {
            let id = match_id(&id)?;
            let store = open_existing_store(config)?;
            let m = store.account_match(id)?.ok_or_else(|| {
                Failure::Usage(
                    crate::store::StoreError::Refused(crate::store::Refusal::NoSuchMatch(id))
                        .to_string(),
                )
            })?;
            if format == TextOrJson::Json {
                return print_json(&m.to_json()).map(|_| 0);
            }
            let mut out = std::io::stdout().lock();
            print_match(&mut out, &m).map_err(write_failed)?;
            if m.status == MatchStatus::Open {
                writeln!(
                    out,
                    "decide: turnstile matches accept {id} --as NAME{}   or   turnstile matches reject {id} --as NAME --reason TEXT",
                    if m.proposed().is_some() { "" } else { " --account ACCOUNT" }
                )
                .map_err(write_failed)?;
            }
            Ok(0)
        }
        MatchVerb::Accept {
            id,
            account,
            by,
            policy,
        } => {
            let id = match_id(&id)?;
            let name = decider(&by)?.to_string();
            let acting = actor(Some(&name), "turnstile matches accept")?;
            accept_each(
                config,
                policy,
                &[id],
                account.as_deref(),
                &name,
                &acting,
                now,
            )
        }
        MatchVerb::AcceptStrong { system, by, policy } => {
            let name = decider(&by)?.to_string();
            let acting = actor(Some(&name), "turnstile matches accept-strong")?;
            let ids: Vec<u64> = {
                let store = open_existing_store(config)?;
                store
                    .account_matches(system.as_deref(), Some(MatchStatus::Open))?
                    .into_iter()
                    .filter(|m| m.proposed().is_some())
                    .map(|m| m.id)
                    .collect()
            };
            if ids.is_empty() {
                println!("no open strong proposals");
                return Ok(0);
            }
            accept_each(config, policy, &ids, None, &name, &acting, now)
        }
        MatchVerb::Reject {
            id,
            accounts,
            by,
            reason,
        } => {
            let id = match_id(&id)?;
            let name = decider(&by)?.to_string();
            let acting = actor(Some(&name), "turnstile matches reject")?;
            let reason = one_line(&reason, "--reason: one line, not blank")?.to_string();
            let mut store = open_existing_store(config)?;
            let m = correlation::reject(store.as_mut(), id, &accounts, &acting, &reason, now)
                .map_err(decision_failed)?;
            println!(
                "{} rejected by {name}: not theirs; the next pass may create an account for {} on {}",
                m.reference(),
                m.employee_number,
                m.system
            );
            Ok(0)
        }
        MatchVerb::Unlink {
            system,
            account,
            by,
            reason,
            policy,
        } => {
            let name = decider(&by)?.to_string();
            let acting = actor(Some(&name), "turnstile matches unlink")?;
            let reason = one_line(&reason, "--reason: one line, not blank")?.to_string();
            let model = load_model(config, policy.as_deref())?;
            let mut targets = crate::engine::targets::build(config, &model)
                .map_err(|problems| Failure::Usage(problems.join("\n")))?;
            let mut store = open_existing_store(config)?;
            let rt = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
            let number = rt
                .block_on(correlation::unlink(
                    store.as_mut(),
                    &mut targets,
                    &system,
                    &account,
                    &acting,
                    &reason,
                    now,
                ))
                .map_err(decision_failed)?;
            println!("{system} account {account} unlinked from {number} by {name}");
            Ok(0)
        }
        MatchVerb::Excess {
            system,
            account,
            revoke,
            keep: _,
            by,
            reason,
        } => {
            let name = decider(&by)?.to_string();
            let acting = actor(Some(&name), "turnstile matches excess")?;
            let reason = one_line(&reason, "--reason: one line, not blank")?.to_string();
            let mut store = open_existing_store(config)?;
            let a = correlation::decide_excess(
                store.as_mut(),
                &system,
                &account,
                revoke,
                &acting,
                &reason,
                now,
            )
            .map_err(decision_failed)?;
            println!(
                "{system} account {}: {} ({}); {}",
                a.account,
                if revoke { "revoke approved" } else { "kept" },
                if a.kept.is_empty() {
                    "nothing held by hand".to_string()
                } else {
                    a.kept.join(", ")
                },
                if revoke {
                    "the next reconcile revokes them"
                } else {
                    "an access review decides later"
                }
            );
            Ok(0)
        }
    }
}

fn accept_each(
    config: &Config,
    policy: Option<PathBuf>,
    ids: &[u64],
    account: Option<&str>,
    name: &str,
    acting: &str,
    now: jiff::Timestamp,
) -> Result<u8, Failure> {
    let model = load_model(config, policy.as_deref())?;
    let mut targets = crate::engine::targets::build(config, &model)
        .map_err(|problems| Failure::Usage(problems.join("\n")))?;
    let mut store = open_existing_store(config)?;
    let rt = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    let mut code = 0;
    for id in ids {
        let done = rt.block_on(correlation::accept(
            &model,
            store.as_mut(),
            &mut targets,
            *id,
            account,
            acting,
            now,
        ));
        match done {
            Ok(d) => println!(
                "{} accepted by {name}: {}{}{}",
                crate::store::matches::reference(*id),
                d.account,
                if d.linked {
                    " linked"
                } else {
                    " accepted; the next pass links it"
                },
                if d.kept.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; kept until decided (turnstile matches excess): {}",
                        d.kept.join(", ")
                    )
                }
            ),
            Err(e) => {
                let f = decision_failed(e);
                eprintln!("error: {}: {f}", crate::store::matches::reference(*id));
                code = code.max(match f {
                    Failure::Usage(_) => 2,
                    _ => 1,
                });
            }
        }
    }
    Ok(code)
}
