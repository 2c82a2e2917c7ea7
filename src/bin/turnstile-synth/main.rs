//! Writes a synthetic trust: an ESR staff extract, account exports for the five systems of
//! `examples/role-model.toml`, and `expected-findings.csv`, the problems planted in them.
//!
//! What each profile should hold is written out by hand here, not computed with the
//! library, so a drift report that agrees with `expected-findings.csv` is a real cross-check
//! of the role model and the drift rules.
//!
//! `turnstile-synth --staff 400 --seed 7 --today 2026-11-23 --out examples`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::Span;
use jiff::civil::Date;

mod profiles;

use profiles::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    fn chance(&mut self, per_thousand: u64) -> bool {
        self.below(1000) < per_thousand
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    RecentJoiner,
    FutureJoiner,
    Absent,
    Suspended,
    Leaver,
    LongGone,
    FutureLeaver,
    Mover,
}

struct Args {
    staff: u64,
    seed: u64,
    today: Date,
    out: PathBuf,
    bad_rows: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        staff: 400,
        seed: 7,
        today: jiff::civil::date(2026, 11, 23),
        out: PathBuf::from("synthetic"),
        bad_rows: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--staff" => args.staff = value()?.parse().map_err(|e| format!("--staff: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--today" => args.today = value()?.parse().map_err(|e| format!("--today: {e}"))?,
            "--out" => args.out = PathBuf::from(value()?),
            "--bad-rows" => {
                args.bad_rows = value()?.parse().map_err(|e| format!("--bad-rows: {e}"))?
            }
            "--help" | "-h" => {
                return Err("usage: turnstile-synth [--staff N] [--seed S] [--today YYYY-MM-DD] [--out DIR] [--bad-rows K]".into());
            }
            other => return Err(format!("unknown argument {other}; see --help")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| generate(&a).map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turnstile-synth: {e}");
            ExitCode::from(2)
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row(w: &mut impl Write, fields: &[&str]) -> std::io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(w, "{}", line.join(","))
}

fn uk(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ë' => 'e',
            'á' => 'a',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

struct Out {
    esr: BufWriter<File>,
    exports: Vec<BufWriter<File>>,
    expected: BufWriter<File>,
    expected_count: u64,
}

impl Out {
    fn expect(
        &mut self,
        category: &str,
        system: usize,
        account: &str,
        emp: &str,
    ) -> std::io::Result<()> {
        self.expected_count += 1;
        row(
            &mut self.expected,
            &[category, SYSTEMS[system], account, emp],
        )
    }
}

struct Acct {
    id: String,
    emp: String,
    name: String,
    enabled: bool,
    last_logon: Option<Date>,
    ents: Vec<String>,
}

fn write_acct(w: &mut impl Write, a: &Acct) -> std::io::Result<()> {
    let logon = a
        .last_logon
        .map(|d| format!("{d} 08:30"))
        .unwrap_or_default();
    row(
        w,
        &[
            &a.id,
            &a.emp,
            &a.name,
            if a.enabled { "true" } else { "false" },
            &logon,
            &a.ents.join(";"),
        ],
    )
}

fn generate(a: &Args) -> std::io::Result<()> {
    std::fs::create_dir_all(a.out.join("exports"))?;
    let open = |p: &Path| File::create(p).map(|f| BufWriter::with_capacity(1 << 20, f));
    let mut out = Out {
        esr: open(&a.out.join("esr-extract.csv"))?,
        exports: SYSTEMS
            .iter()
            .map(|s| open(&a.out.join("exports").join(format!("{s}.csv"))))
            .collect::<Result<_, _>>()?,
        expected: open(&a.out.join("expected-findings.csv"))?,
        expected_count: 0,
    };
    out.esr.write_all(
        "\u{feff}Employee Number,Assignment Number,Primary Assignment (Y/N),Title,First Name,Last Name,Known As,Work Email,Smartcard UUID,Staff Group,Job Role,Occupation Code,Position Number,Position Title,Organisation,Cost Centre,Location,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n"
            .as_bytes(),
    )?;
    for w in &mut out.exports {
        writeln!(
            w,
            "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements"
        )?;
    }
    writeln!(out.expected, "category,system,account,employee_number")?;

    let mut rng = Rng(a.seed);
    let today = a.today;
    let day = |n: i64| -> Date { today.checked_add(Span::new().days(n)).unwrap_or(today) };
    let total_weight: u64 = PROFILES.iter().map(|p| p.weight).sum();
    // Plants: about one person in forty carries one problem.
    let plant_every = 40u64;

    for i in 0..a.staff {
        let emp = format!("{}", 20_000_000 + i);
        let pick = {
            let mut r = rng.below(total_weight);
            let mut idx = 0;
            for (k, p) in PROFILES.iter().enumerate() {
                if r < p.weight {
                    idx = k;
                    break;
                }
                r -= p.weight;
            }
            idx
        };
        let profile = &PROFILES[pick];
        let roll = rng.below(1000);
        let mut state = match roll {
            0..=19 => State::RecentJoiner,
            20..=49 => State::FutureJoiner,
            50..=79 => State::Absent,
            80..=84 => State::Suspended,
            85..=124 => State::Leaver,
            125..=134 => State::LongGone,
            135..=154 => State::FutureLeaver,
            155..=164 => State::Mover,
            _ => State::Active,
        };
        let caldicott = i == 0;
        // One person in `plant_every` carries one planted problem; the kind rotates so every
        // category appears even in a small trust, and the person's state is set to fit it.
        let plant =
            (i % plant_every == plant_every / 2 && !caldicott).then(|| (i / plant_every) % 8);
        state = match plant {
            Some(0) => State::Leaver,
            Some(1) => State::Suspended,
            Some(2) => State::FutureJoiner,
            Some(_) => State::Active,
            None => state,
        };
        if caldicott {
            state = State::Active;
        }
        let profile = if caldicott { &PROFILES[2] } else { profile };
        if state == State::Mover && (pick == ADMIN || plant.is_some()) {
            state = State::Active;
        }
        let given = FIRST[rng.below(FIRST.len() as u64) as usize];
        let family = LAST[rng.below(LAST.len() as u64) as usize];
        let ward = rng.range(1, 30).to_string();
        let org = profile.organisation.replace("{w}", &ward);
        let sam = format!("{}{}{}", ascii_lower(&given[..1]), ascii_lower(family), i);
        let display = format!("{given} {family}");
        let sds = format!("7{:011}", i);
        let manager = format!("{}", 20_000_000 + rng.below(a.staff.min(50)));

        let (status, start, end) = match state {
            State::Active | State::Mover => ("Active Assignment", day(-rng.range(200, 6000)), None),
            State::RecentJoiner => ("Active Assignment", day(-rng.range(0, 60)), None),
            State::FutureJoiner => ("Active Assignment", day(rng.range(1, 60)), None),
            State::Absent => (
                if rng.chance(500) {
                    "Maternity and Adoption"
                } else {
                    "Career Break"
                },
                day(-rng.range(400, 6000)),
                None,
            ),
            State::Suspended => ("Suspend With Pay", day(-rng.range(400, 6000)), None),
            State::Leaver => (
                "Terminate Assignment",
                day(-rng.range(400, 6000)),
                Some(day(-rng.range(1, 300))),
            ),
            State::LongGone => (
                "Terminate Assignment",
                day(-rng.range(1500, 6000)),
                Some(day(-rng.range(400, 900))),
            ),
            State::FutureLeaver => (
                "Terminate Assignment",
                day(-rng.range(400, 6000)),
                Some(day(rng.range(0, 30))),
            ),
        };
        let position_title = if caldicott {
            "Caldicott Guardian and Consultant"
        } else {
            profile.title
        };
        // A mover left a nurse post five days ago and started as an administrator the next
        // day: AD keeps the nursing groups for its 14-day handover, other systems do not.
        let old_nurse = &PROFILES[NURSE];
        let primary_profile = if state == State::Mover {
            &PROFILES[ADMIN]
        } else {
            profile
        };
        let primary_org = if state == State::Mover {
            PROFILES[ADMIN].organisation.to_string()
        } else {
            org.clone()
        };
        let esr_row = |w: &mut BufWriter<File>,
                       n: u32,
                       primary: bool,
                       p: &Profile,
                       org: &str,
                       title: &str,
                       status: &str,
                       start: Date,
                       end: Option<Date>,
                       iso: bool| {
            let fmt = |d: Date| if iso { d.to_string() } else { uk(d) };
            row(
                w,
                &[
                    &emp,
                    &format!("{emp}-{n}"),
                    if primary { "Y" } else { "N" },
                    "",
                    given,
                    family,
                    "",
                    &format!("{}.{}@nhs.net", ascii_lower(given), ascii_lower(family)),
                    &sds,
                    p.staff_group,
                    p.job_role,
                    p.occupation,
                    &format!("P-{:05}", rng_free(i, n)),
                    title,
                    org,
                    &format!("RX1-{}", 1000 + (i % 90) * 10),
                    "Main Hospital",
                    &manager,
                    status,
                    &fmt(start),
                    &end.map(fmt).unwrap_or_default(),
                ],
            )
        };
        let iso = i % 3 == 0;
        if state == State::Mover {
            esr_row(
                &mut out.esr,
                1,
                false,
                old_nurse,
                &org,
                old_nurse.title,
                "End",
                day(-3000),
                Some(day(-5)),
                iso,
            )?;
            esr_row(
                &mut out.esr,
                2,
                true,
                primary_profile,
                &primary_org,
                primary_profile.title,
                "Active Assignment",
                day(-4),
                None,
                iso,
            )?;
        } else {
            esr_row(
                &mut out.esr,
                1,
                true,
                profile,
                &org,
                position_title,
                status,
                start,
                end,
                iso,
            )?;
        }
        // Some nurses also work bank shifts: a second assignment in the Nurse Bank.
        let bank = pick == NURSE && state == State::Active && !caldicott && rng.chance(150);
        if bank {
            esr_row(
                &mut out.esr,
                2,
                false,
                profile,
                "Nurse Bank",
                "Bank Staff Nurse",
                "Active Assignment",
                day(-300),
                None,
                iso,
            )?;
        }

        // What each system should hold for this person.
        let grants_for = |s: usize| -> Vec<String> {
            let mut v: Vec<String> = if caldicott {
                CALDICOTT[s]
            } else {
                primary_profile.grants[s]
            }
            .iter()
            .map(|e| e.to_string())
            .collect();
            if bank && s == AD {
                v.push("GG-Bank".into());
            }
            if state == State::Mover && s == AD {
                v.extend(old_nurse.grants[AD].iter().map(|e| e.to_string()));
            }
            v.sort();
            v.dedup();
            v
        };
        let has = |s: usize| -> bool {
            if caldicott {
                !CALDICOTT[s].is_empty()
            } else {
                primary_profile.has[s] || (state == State::Mover && old_nurse.has[s])
            }
        };
        let recent = |rng: &mut Rng| Some(day(-rng.range(1, 60)));
        let mut accounts: Vec<(usize, Acct)> = Vec::new();
        for s in 0..5 {
            if !has(s) {
                continue;
            }
            let id = match s {
                AD => sam.clone(),
                NHSMAIL => format!(
                    "{}.{}{}@nhs.net",
                    ascii_lower(given),
                    ascii_lower(family),
                    i
                ),
                EMIS | SYSTMONE => sam.to_uppercase(),
                _ => sds.clone(),
            };
            let wanted = grants_for(s);
            let mut acct = Acct {
                id,
                emp: emp.clone(),
                name: display.clone(),
                enabled: true,
                last_logon: recent(&mut rng),
                ents: wanted.clone(),
            };
            if s == AD {
                acct.ents.push("Domain Users".into());
                acct.ents.push("APP-Citrix".into());
            }
            match state {
                State::Active | State::FutureLeaver => {}
                State::RecentJoiner => {
                    if rng.chance(500) {
                        acct.last_logon = None;
                    }
                }
                State::FutureJoiner => {
                    if s != AD {
                        continue;
                    }
                    acct.enabled = false;
                    acct.last_logon = None;
                }
                State::Absent => acct.last_logon = Some(day(-rng.range(100, 300))),
                State::Suspended => {
                    acct.enabled = s == SMARTCARD;
                }
                State::Leaver | State::LongGone => {
                    if state == State::LongGone && s == AD {
                        continue;
                    }
                    // Last used before leaving (no RNG drawn: the rest of the trust stays
                    // as every seed made it).
                    acct.last_logon = end.and_then(|e| e.checked_sub(Span::new().days(2)).ok());
                    match s {
                        AD | NHSMAIL => {
                            acct.enabled = false;
                            acct.ents.retain(|e| {
                                !e.starts_with("GG-") && e != "Mailbox" && !e.starts_with("Shared:")
                            });
                        }
                        EMIS | SYSTMONE => acct.enabled = false,
                        _ => acct.ents.clear(),
                    }
                }
                State::Mover => {
                    if !primary_profile.has[s] {
                        // The old role's systems: disabled, their roles removed, except the
                        // smartcard, which stays with the person with its positions ended.
                        acct.ents.clear();
                        acct.enabled = s == SMARTCARD;
                    }
                }
            }
            accounts.push((s, acct));
        }

        // Plant at most one problem on this person.
        if let Some(kind) = plant {
            let ad = accounts.iter().position(|(s, _)| *s == AD);
            match (state, ad) {
                (State::Leaver, Some(k)) => {
                    let acct = &mut accounts[k].1;
                    acct.enabled = true;
                    out.expect("leaver_still_active", AD, &acct.id, &emp)?;
                    // Still enabled, and used since the last working day.
                    if end.is_some_and(|e| e < day(-1)) {
                        acct.last_logon = Some(day(-1));
                        out.expect("used_after_leaving", AD, &acct.id, &emp)?;
                    }
                }
                (State::Suspended, Some(k)) => {
                    let acct = &mut accounts[k].1;
                    acct.enabled = true;
                    out.expect("absent_still_active", AD, &acct.id, &emp)?;
                }
                (State::FutureJoiner, Some(k)) => {
                    let acct = &mut accounts[k].1;
                    acct.enabled = true;
                    out.expect("enabled_before_start", AD, &acct.id, &emp)?;
                }
                (State::Active, Some(k)) => match kind {
                    3 => {
                        let acct = &mut accounts[k].1;
                        acct.last_logon = Some(day(-rng.range(120, 400)));
                        out.expect("dormant_account", AD, &acct.id, &emp)?;
                    }
                    4 => {
                        let acct = &accounts[k].1;
                        let dup = Acct {
                            id: format!("{}.2", acct.id),
                            emp: emp.clone(),
                            name: acct.name.clone(),
                            enabled: true,
                            last_logon: acct.last_logon,
                            ents: acct.ents.clone(),
                        };
                        out.expect("duplicate_account", AD, &acct.id, &emp)?;
                        out.expect("duplicate_account", AD, &dup.id, &emp)?;
                        accounts.push((AD, dup));
                    }
                    5 => {
                        let acct = &mut accounts[k].1;
                        let gone = acct
                            .ents
                            .iter()
                            .position(|e| e.starts_with("GG-"))
                            .map(|p| acct.ents.remove(p));
                        if let Some(e) = gone {
                            let _ = e;
                            out.expect("missing_entitlement", AD, &acct.id, &emp)?;
                        }
                    }
                    6 => {
                        let acct = &mut accounts[k].1;
                        acct.ents.push("GG-IT-Admins".into());
                        out.expect("excess_entitlement", AD, &acct.id, &emp)?;
                    }
                    _ => {
                        // The clinical account the role grants was never made.
                        if let Some(c) = accounts
                            .iter()
                            .position(|(s, _)| *s == SYSTMONE || *s == EMIS)
                        {
                            let (s, _) = accounts.remove(c);
                            out.expect("missing_account", s, "", &emp)?;
                        } else {
                            let acct = &mut accounts[k].1;
                            acct.ents.push("GG-IT-Admins".into());
                            out.expect("excess_entitlement", AD, &acct.id, &emp)?;
                        }
                    }
                },
                _ => {}
            }
        }
        for (s, acct) in &accounts {
            write_acct(&mut out.exports[*s], acct)?;
        }
    }

    // Accounts linked to nobody: orphans, shared logins, and some that must not be flagged.
    let extra = (a.staff / 100).max(2);
    for k in 0..extra {
        let orphan = Acct {
            id: format!("jdoe{k}"),
            emp: if k % 2 == 0 {
                format!("{}", 99_000_000 + k)
            } else {
                String::new()
            },
            name: format!("John Doe {k}"),
            enabled: true,
            last_logon: Some(day(-10)),
            ents: vec!["GG-AllStaff".into()],
        };
        out.expect("orphan_account", AD, &orphan.id, &orphan.emp)?;
        write_acct(&mut out.exports[AD], &orphan)?;
        let generic = Acct {
            id: if k % 2 == 0 {
                format!("ward{k}.nurses")
            } else {
                format!("temp.reception{k}")
            },
            emp: String::new(),
            name: "Shared login".into(),
            enabled: true,
            last_logon: Some(day(-3)),
            ents: vec!["GG-Clinical".into()],
        };
        out.expect("generic_account", AD, &generic.id, "")?;
        write_acct(&mut out.exports[AD], &generic)?;
        // Disabled leftovers are not findings.
        let old = Acct {
            id: format!("old.account{k}"),
            emp: String::new(),
            name: "Old".into(),
            enabled: false,
            last_logon: None,
            ents: vec![],
        };
        write_acct(&mut out.exports[AD], &old)?;
        let emis_orphan = Acct {
            id: format!("LOCUMGP{k}"),
            emp: String::new(),
            name: format!("Locum GP {k}"),
            enabled: true,
            last_logon: Some(day(-2)),
            ents: vec!["GP".into()],
        };
        out.expect("generic_account", EMIS, &emis_orphan.id, "")?;
        write_acct(&mut out.exports[EMIS], &emis_orphan)?;
    }
    let kiosk = Acct {
        id: "ed.triage.kiosk".into(),
        emp: String::new(),
        name: "ED triage kiosk".into(),
        enabled: true,
        last_logon: Some(day(-1)),
        ents: vec![],
    };
    write_acct(&mut out.exports[AD], &kiosk)?;

    // Rows a careful reader must refuse, naming the line: their people are held back and
    // their accounts are not judged.
    for k in 0..a.bad_rows {
        let emp = format!("{}", 20_000_000 + a.staff + k);
        let status = if k % 2 == 0 {
            "On Holiday"
        } else {
            "Active Assignment"
        };
        let start = if k % 2 == 0 {
            "01/04/2019".to_string()
        } else {
            "31/02/2020".to_string()
        };
        row(
            &mut out.esr,
            &[
                &emp,
                &format!("{emp}-1"),
                "Y",
                "",
                "Held",
                "Back",
                "",
                "",
                "",
                "Admin and Clerical",
                "Administrator",
                "G0A",
                "P-1",
                "Administrator",
                "Finance",
                "RX1-1000",
                "Main Hospital",
                "",
                status,
                &start,
                "",
            ],
        )?;
        write_acct(
            &mut out.exports[AD],
            &Acct {
                id: format!("held{k}"),
                emp,
                name: "Held Back".into(),
                enabled: true,
                last_logon: Some(day(-400)),
                ents: vec!["GG-Nothing".into()],
            },
        )?;
    }

    out.esr.flush()?;
    for w in &mut out.exports {
        w.flush()?;
    }
    out.expected.flush()?;
    eprintln!(
        "turnstile-synth: {} staff, {} planted findings, seed {}, today {} -> {}",
        a.staff,
        out.expected_count,
        a.seed,
        a.today,
        a.out.display()
    );
    Ok(())
}

/// A position number that does not depend on the random stream.
fn rng_free(i: u64, n: u32) -> u64 {
    (i * 7 + u64::from(n)) % 100_000
}
