//! `turnstile drift`: the offline drift report, from files alone.

use super::*;

#[derive(Args, Debug)]
pub(super) struct DriftArgs {
    /// The ESR staff extract.
    #[arg(long, value_name = "FILE")]
    pub(super) hr: PathBuf,
    /// An account export, as SYSTEM=FILE (SYSTEM as in the role model); repeat per system.
    #[arg(long = "export", value_name = "SYSTEM=FILE", required = true)]
    pub(super) exports: Vec<String>,
    /// The sponsored identities (staff not on ESR), judged with the rest and listed apart.
    #[arg(long, value_name = "FILE")]
    pub(super) sponsored: Option<PathBuf>,
    /// The report's format (default: from the --out file's extension, else json).
    #[arg(long, value_enum)]
    pub(super) format: Option<Format>,
    /// Where to write the report (default: standard output).
    #[arg(long, value_name = "PATH")]
    pub(super) out: Option<PathBuf>,
    /// Accept an export with no accounts (a system that really has none).
    #[arg(long)]
    pub(super) allow_empty: bool,
    /// A previous report (its JSON): each finding is marked new or persisting (with the
    /// day first seen), what it had and this one has not is listed as resolved, and an
    /// export much smaller than the one it read is refused.
    #[arg(long, value_name = "FILE")]
    pub(super) compare: Option<PathBuf>,
    /// Accept an export with more than `[feeds] max_export_shrink_share` fewer accounts
    /// than the previous report (--compare) or the last run on the same file read.
    #[arg(long)]
    pub(super) allow_shrink: bool,
    /// The files' encoding: auto (UTF-8, else Windows-1252 line by line), utf-8 or
    /// windows-1252 (default: [feeds] encoding).
    #[arg(long, value_name = "ENCODING")]
    pub(super) encoding: Option<crate::feed::Encoding>,
    /// Exit 3 when anything is found.
    #[arg(long)]
    pub(super) fail_on_drift: bool,
    #[command(flatten)]
    pub(super) common: Common,
}
pub(super) fn drift_cmd(config: &Config, a: DriftArgs) -> Result<u8, Failure> {
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let tz = london();
    let mut exports = Vec::new();
    let mut seen = BTreeSet::new();
    for spec in &a.exports {
        let Some((system, file)) = spec.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--export {spec}: write it as SYSTEM=FILE, e.g. ad=ad.csv"
            )));
        };
        if !model.systems.contains_key(system) {
            return Err(Failure::Usage(format!(
                "--export {spec}: the role model declares no system `{system}` (it has: {})",
                model.systems.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if !seen.insert(system.to_string()) {
            return Err(Failure::Usage(format!("--export {system}= is given twice")));
        }
        exports.push((system.to_string(), PathBuf::from(file)));
    }
    let mut limits = config.feeds.clone();
    if let Some(e) = a.encoding {
        limits.encoding = e;
    }
    let limits = &limits;
    let format = out_format(a.format, a.out.as_deref(), Format::Json, "json|csv|html")?;
    let previous = match &a.compare {
        Some(file) => Some(read_previous(file)?),
        None => None,
    };
    // Read by one worker per core, each export linked as soon as it and the people are
    // read (see `drift_read`); what each gave is then looked at in the order given, so
    // errors and output are as if read in turn.
    let hr_slot = std::sync::OnceLock::new();
    let slots: Vec<std::sync::OnceLock<_>> =
        exports.iter().map(|_| std::sync::OnceLock::new()).collect();
    let linked = drift_read::read_and_link(
        &a.hr,
        a.sponsored.as_deref(),
        &exports,
        config,
        &tz,
        limits,
        &model,
        &hr_slot,
        &slots,
    );
    let hr_read = hr_slot.get().ok_or_else(|| not_read(&a.hr))?;
    let (extract, hr_sha) = &hr_read.extract;
    let extract = extract.as_ref().map_err(feed_failed)?;
    report_rows(&extract.errors, &a.hr, extract.rows, limits)?;
    let hr_sha = hr_sha.as_ref().map_err(Clone::clone)?;
    let mut files = vec![hashed_input(
        "hr",
        None,
        &a.hr,
        extract.rows,
        hr_sha.clone(),
    )];
    if hr_read.esr_people == 0 {
        return Err(Failure::Usage(format!(
            "{}: no usable HR record in {} rows; the report would call every account an orphan",
            a.hr.display(),
            extract.rows
        )));
    }
    let mut row_errors = extract.errors.listed.clone();
    let mut row_errors_not_listed = extract.errors.unlisted;
    if let (Some(file), Some(s)) = (&a.sponsored, &hr_read.sponsored) {
        let s = s.as_ref().map_err(feed_failed)?;
        report_rows(&s.errors, file, s.rows, limits)?;
        files.push(input_file("sponsored", None, file, s.rows)?);
        row_errors.extend(s.errors.listed.iter().cloned());
        row_errors_not_listed += s.errors.unlisted;
    }
    let sponsored = hr_read.sponsored_ids.clone();
    if !sponsored.is_empty() {
        eprintln!(
            "note: {} sponsored identities (not on ESR) judged with the rest; listed under inputs.sponsored",
            sponsored.len()
        );
    }
    let mut inputs = drift::Inputs {
        hr_rows: extract.rows,
        people: extract.persons.len(),
        people_held_back: extract.held_back.len(),
        row_errors_not_listed,
        row_errors,
        sponsored,
        ..drift::Inputs::default()
    };
    let mut history = history::History::load();
    let mut read = Vec::new();
    for ((system, file), slot) in exports.iter().zip(&slots) {
        let (x, sha) = slot.get().ok_or_else(|| not_read(file))?;
        let x = x.as_ref().map_err(feed_failed)?;
        report_rows(&x.errors, file, x.rows, limits)?;
        if x.accounts.is_empty() && x.rows > 0 {
            return Err(Failure::Usage(format!(
                "{}: none of its {} rows could be read",
                file.display(),
                x.rows
            )));
        }
        if x.rows == 0 && !a.allow_empty {
            return Err(Failure::Usage(format!(
                "{}: the {system} export has a header and no accounts: the report would say every person lacks a {system} account, which is more likely a failed export than the truth. Check the export; if {system} really has no accounts, pass --allow-empty",
                file.display()
            )));
        }
        // The previous report given, else the last run on this very file.
        let before = match previous
            .as_ref()
            .and_then(|p| p.inputs.accounts.get(system))
        {
            Some(n) => Some((*n, "the previous report read".to_string())),
            None => history.last(file).filter(|s| s.system == *system).map(|s| {
                (
                    s.accounts,
                    format!(
                        "the last drift run on this file ({}) read",
                        crate::clock::today(s.at)
                    ),
                )
            }),
        };
        if let Some((prev, when)) = before {
            let share = limits.max_export_shrink_share;
            let now = x.accounts.len();
            // Small exports move by a few accounts for real; far fewer means something.
            if prev >= MIN_SHRINK_BASE
                && (now as f64) < (prev as f64) * (1.0 - share)
                && !a.allow_shrink
            {
                return Err(Failure::Usage(format!(
                    "{}: the {system} export has {now} accounts where {when} {prev}, more than [feeds] max_export_shrink_share ({:.0}%) fewer: is it cut short or filtered? If {system} really lost them, pass --allow-shrink",
                    file.display(),
                    share * 100.0
                )));
            }
        }
        files.push(hashed_input(
            "export",
            Some(system),
            file,
            x.rows,
            sha.clone()?,
        ));
        if !x.has_last_logon {
            inputs.notes.push(format!(
                "{}: no last-logon column, so dormant accounts on {system} were not judged",
                file.display()
            ));
        }
        inputs.accounts.insert(system.clone(), x.accounts.len());
        inputs.row_errors.extend(x.errors.listed.iter().cloned());
        inputs.row_errors_not_listed += x.errors.unlisted;
        read.push((system.clone(), x));
    }
    for n in &inputs.notes {
        eprintln!("note: {n}");
    }
    // Every input was usable, so the people were indexed and every export linked.
    let (people, linked) = linked.ok_or_else(|| not_read(&a.hr))?;
    let workers = crate::workers();
    let findings = people.judge(&model, linked, today, &tz, workers);
    inputs.files = files;
    let mut report = drift::Report::new(crate::now(), today, findings, inputs);
    if let Some(previous) = &previous {
        drift::compare(&mut report, previous);
    }
    let text = match format {
        Format::Json => report::json_pieces(&report, workers),
        other => report::render(&report, other)
            .map(String::into_bytes)
            .map(|t| vec![t]),
    }
    .map_err(Failure::Runtime)?;
    write_pieces(a.out.as_deref(), &text)?;
    // Remembered only once the report is written.
    for (system, x) in &read {
        if let Some((_, file)) = exports.iter().find(|(s, _)| s == system) {
            history.record(file, system, x.accounts.len(), report.generated_at);
        }
    }
    history.save();
    let findings = report.findings.len();
    let summary: Vec<String> = report
        .summary
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    eprintln!(
        "drift on {today}: {findings} finding(s){}{}",
        if summary.is_empty() { "" } else { ": " },
        summary.join(", ")
    );
    // The process ends right after: freeing millions of small allocations one by one
    // would only add seconds at national scale.
    std::mem::forget(report);
    std::mem::forget(read);
    std::mem::forget(slots);
    std::mem::forget(hr_slot);
    std::mem::forget(text);
    Ok(if a.fail_on_drift && findings > 0 {
        3
    } else {
        0
    })
}
/// The fewest accounts an earlier read must have had for a shrink to be refused.
pub(super) const MIN_SHRINK_BASE: usize = 50;
/// A previous drift report's JSON, for `--compare`.
pub(super) fn read_previous(file: &Path) -> Result<drift::Previous, Failure> {
    let f = std::fs::File::open(file).map_err(|e| {
        Failure::Usage(format!("--compare {}: cannot open it: {e}", file.display()))
    })?;
    serde_json::from_reader(std::io::BufReader::new(f)).map_err(|e| {
        Failure::Usage(format!(
            "--compare {}: not a drift report in JSON ({e}); give the file an earlier `turnstile drift --format json` wrote",
            file.display()
        ))
    })
}
/// A file the report was made from, with its SHA-256 (read again in blocks: memory stays
/// bounded whatever its size).
pub(super) fn input_file(
    kind: &'static str,
    system: Option<&str>,
    path: &Path,
    rows: u64,
) -> Result<drift::InputFile, Failure> {
    Ok(drift::InputFile {
        kind,
        system: system.map(str::to_string),
        path: path.display().to_string(),
        rows,
        sha256: sha256_file(path)?,
    })
}
/// [`input_file`] with its SHA-256 already worked out.
pub(super) fn hashed_input(
    kind: &'static str,
    system: Option<&str>,
    path: &Path,
    rows: u64,
    sha256: String,
) -> drift::InputFile {
    drift::InputFile {
        kind,
        system: system.map(str::to_string),
        path: path.display().to_string(),
        rows,
        sha256,
    }
}
/// An input the run needed was never read: a fault in Turnstile, not in the input.
pub(super) fn not_read(file: &Path) -> Failure {
    Failure::Runtime(format!(
        "{}: was not read, though nothing said it could not be; please report this",
        file.display()
    ))
}
pub(crate) fn sha256_file(path: &Path) -> Result<String, Failure> {
    crate::feed::sha256_of(path).map_err(|e| hash_failed(path, e))
}
pub(super) fn hash_failed(path: &Path, e: std::io::Error) -> Failure {
    Failure::Runtime(format!(
        "{}: cannot read it again to hash it: {e}",
        path.display()
    ))
}
