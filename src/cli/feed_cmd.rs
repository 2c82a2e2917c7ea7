//! `turnstile feed`: an ESR, TRAC or sponsored file read into HR events, printed, recorded or published.

use super::*;

#[derive(Args, Debug)]
pub(super) struct FeedArgs {
    #[arg(value_enum)]
    pub(super) source: FeedSource,
    /// The CSV file.
    pub(super) file: PathBuf,
    /// The file is a full extract: people it no longer lists are flagged for review
    /// (never made leavers).
    #[arg(long)]
    pub(super) full: bool,
    /// Record the events in the state store, with the changes they plan.
    #[arg(long, conflicts_with = "publish")]
    pub(super) apply: bool,
    /// Publish the events to the Kafka topic of [kafka] (key = employee number).
    #[arg(long)]
    pub(super) publish: bool,
    /// When the extract was taken (RFC 3339); default: the file's modification time. Two
    /// feeds of the same file give the same event ids, so a replay changes nothing.
    #[arg(long, value_name = "TIME")]
    pub(super) extracted_at: Option<String>,
    /// With --full: go ahead although more than `[feeds] max_review_share` of the people
    /// held would be flagged for review (a cut or wrong extract looks like that).
    /// (`--approve`, its old name, still works and says so.)
    #[arg(long = "allow-review-share", alias = "approve", requires = "full")]
    pub(super) approve: bool,
    /// Who feeds it, for the audit trail (default: the operating-system user).
    #[arg(long = "as", value_name = "NAME")]
    pub(super) by: Option<String>,
    #[command(flatten)]
    pub(super) common: Common,
}
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum FeedSource {
    Esr,
    Trac,
    /// Staff not on ESR (students, agency, locums, honorary): each with a sponsor and an
    /// end date.
    Sponsored,
}
/// When the extract was taken: `--extracted-at`, else the file's modification time. The
/// file events' ids are made from it, so feeding the same extract twice changes nothing.
pub(super) fn extracted_at(arg: Option<&str>, file: &Path) -> Result<Timestamp, Failure> {
    match arg {
        Some(text) => Rfc3339::parse(text)
            .map(|t| t.0)
            .map_err(|m| Failure::Usage(format!("--extracted-at: {m}"))),
        None => {
            let modified = std::fs::metadata(file)
                .and_then(|m| m.modified())
                .map_err(|e| Failure::Usage(format!("{}: cannot read it: {e}", file.display())))?;
            Timestamp::try_from(modified)
                .map(|t| Timestamp::from_second(t.as_second()).unwrap_or(t))
                .map_err(|e| {
                    Failure::Usage(format!("{}: odd modification time: {e}", file.display()))
                })
        }
    }
}
pub(super) fn feed_cmd(config: &Config, a: FeedArgs) -> Result<u8, Failure> {
    super::renamed("--approve", "--allow-review-share");
    if a.publish && a.full {
        return Err(Failure::Usage(
            "--full needs --apply: finding the people a full extract no longer lists reads the state store".into(),
        ));
    }
    let today = today(a.common.today.as_deref())?;
    let at = extracted_at(a.extracted_at.as_deref(), &a.file)?;
    let limits = &config.feeds;
    let (source, persons, errors, rows, held_back) = match a.source {
        FeedSource::Esr => {
            let x = esr::read(&a.file, limits)?;
            (Source::Esr, x.persons, x.errors, x.rows, x.held_back)
        }
        FeedSource::Trac => {
            if a.full {
                return Err(Failure::Usage("--full applies to ESR extracts only".into()));
            }
            let s = trac::read(&a.file, limits)?;
            (Source::Trac, s.persons, s.errors, s.rows, BTreeSet::new())
        }
        FeedSource::Sponsored => {
            if a.full {
                return Err(Failure::Usage("--full applies to ESR extracts only".into()));
            }
            let s = crate::feed::sponsored::read(&a.file, limits)?;
            (Source::Manual, s.persons, s.errors, s.rows, BTreeSet::new())
        }
    };
    report_rows(&errors, &a.file, rows, limits)?;
    if persons.is_empty() && rows > 0 {
        return Err(Failure::Usage(format!(
            "{}: none of its {rows} rows could be used; nothing was recorded",
            a.file.display()
        )));
    }
    if a.publish {
        return publish_cmd(
            config,
            &a.file,
            source,
            persons,
            at,
            today,
            errors.bad_rows,
            held_back.len(),
        );
    }
    if !a.apply {
        let mut out = std::io::stdout().lock();
        for person in persons {
            let kind = hr::guess_kind(None, &person, today);
            let event = ingest::file_event(source, person, at, kind).map_err(Failure::Usage)?;
            let line =
                serde_json::to_string(&event).map_err(|e| Failure::Runtime(e.to_string()))?;
            writeln!(out, "{line}").map_err(write_failed)?;
        }
        return Ok(0);
    }
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut store = open_store(config)?;
    // Recorded as of the latest audit entry if the host's clock has stepped back behind
    // it (the day's plans must not undo what a later moment did); --today as given.
    let today = match a.common.today {
        Some(_) => today,
        None => crate::clock::today(crate::engine::clock::steady(store.as_ref(), crate::now())?),
    };
    let accounts = store.accounts(None)?;
    let by_person = crate::account::by_person(&accounts);
    let actor = actor(
        a.by.as_deref(),
        &format!("turnstile feed {}", source.as_str()),
    )?;
    let now = crate::now();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    let mut recorded: Vec<crate::hr::Person> = Vec::new();
    for person in persons {
        listed.insert(person.employee_number.as_str().to_string());
        let previous = store.person(person.employee_number.as_str())?;
        let kind = hr::guess_kind(previous.as_ref().map(|p| &p.event.person), &person, today);
        let event = ingest::file_event(source, person, at, kind).map_err(Failure::Usage)?;
        let span = tracing::info_span!("event", event_id = %event.event_id, person = %event.person.employee_number);
        let _guard = span.enter();
        let mine = by_person
            .get(event.person.employee_number.as_str())
            .map_or(&[][..], Vec::as_slice);
        let outcome = ingest::record(store.as_mut(), &model, &event, mine, today, &actor)?;
        if source == Source::Esr {
            recorded.push(event.person.clone());
        }
        let label = ingest::outcome_label(&outcome);
        tracing::debug!(outcome = label, kind = event.kind.as_str(), "HR event");
        *tally.entry(label).or_default() += 1;
    }
    let refs: Vec<&crate::hr::Person> = recorded.iter().collect();
    for (provisional, number) in ingest::link_starters(store.as_mut(), &refs, &actor)? {
        println!(
            "{number}: linked to TRAC starter {provisional}; the accounts prepared for them are re-anchored by the next reconcile"
        );
    }
    // What the feed did, in one line.
    let summary = |tally: &BTreeMap<&str, usize>| {
        let counts: Vec<String> = tally.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!(
            "{}: {rows} rows, {} people: {}; {} bad row(s), {} held back",
            a.file.display(),
            listed.len(),
            counts.join(", "),
            errors.bad_rows,
            held_back.len()
        )
    };
    if a.full {
        let held: Vec<String> = store
            .persons()?
            .into_iter()
            .filter(|p| p.event.source == Source::Esr)
            .map(|p| p.event.person.employee_number.as_str().to_string())
            .collect();
        let missing: Vec<String> = held
            .iter()
            .filter(|n| !listed.contains(*n) && !held_back.contains(*n))
            .cloned()
            .collect();
        let share = config.feeds.max_review_share;
        if missing.len() as f64 > share * held.len() as f64 && !a.approve {
            println!("{}", summary(&tally));
            return Err(Failure::Usage(format!(
                "{}: the full extract no longer lists {} of the {} ESR people held ({:.1}%), more than [feeds] max_review_share ({:.1}%): is it cut short or the wrong file? Nobody was flagged for review (the records it does list were recorded). If the extract is right, run it again with --allow-review-share",
                a.file.display(),
                missing.len(),
                held.len(),
                missing.len() as f64 * 100.0 / held.len().max(1) as f64,
                share * 100.0
            )));
        }
        let flagged = store.flag_for_review(
            &missing,
            &format!(
                "not listed in the full extract {}: check with HR whether they left; access is unchanged until HR says so",
                a.file.display()
            ),
            now,
            &actor,
        )?;
        tally.insert("flagged for review", flagged);
    }
    println!("{}", summary(&tally));
    Ok(0)
}
/// Prints a file's row errors, then refuses the file if too many of its rows are bad.
pub(super) fn report_rows(
    errors: &feed::RowErrors,
    file: &Path,
    rows: u64,
    limits: &feed::Limits,
) -> Result<(), Failure> {
    for line in errors.lines() {
        eprintln!("{line}");
    }
    Ok(errors.check_share(&file.display().to_string(), rows, limits.max_bad_row_share)?)
}
#[allow(clippy::too_many_arguments)]
pub(super) fn publish_cmd(
    config: &Config,
    file: &Path,
    source: Source,
    persons: Vec<Person>,
    at: Timestamp,
    today: Date,
    row_errors: u64,
    held_back: usize,
) -> Result<u8, Failure> {
    let problems: Vec<String> = config.kafka.check().iter().map(|e| e.to_string()).collect();
    if !problems.is_empty() {
        return Err(Failure::Usage(problems.join("\n")));
    }
    let events = persons
        .into_iter()
        .map(|p| {
            let kind = hr::guess_kind(None, &p, today);
            ingest::file_event(source, p, at, kind).map_err(Failure::Usage)
        })
        .collect::<Result<Vec<HrEvent>, Failure>>()?;
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    let published = runtime
        .block_on(crate::kafka::publish(&config.kafka, &events, 10_000))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!(
        "{}: {} of {} event(s) published to {} at {}; {row_errors} bad row(s), {held_back} held back",
        file.display(),
        published.delivered,
        events.len(),
        config.kafka.topic,
        config.kafka.brokers
    );
    if let Some((id, why)) = published.failed.first() {
        return Err(Failure::Runtime(format!(
            "{} event(s) were not published (first: {id}: {why}). Re-run the same command when Kafka is reachable: the event ids are the same, so events already delivered change nothing",
            published.failed.len()
        )));
    }
    Ok(0)
}
