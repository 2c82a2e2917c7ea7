//! `turnstile held`, `approve` and `reject`: the plans the mass-change guard held, and a named person's decision on each.

use super::*;

#[derive(Args, Debug)]
pub(super) struct HeldArgs {
    /// A plan's id (`7` or `HP-000007`): show its changes.
    pub(super) id: Option<String>,
    /// Also list plans already approved or rejected.
    #[arg(long)]
    pub(super) all: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: TextOrJson,
}
#[derive(Args, Debug)]
pub(super) struct DecideArgs {
    /// The held plan's id (`7` or `HP-000007`), as `turnstile held` lists it.
    pub(super) id: String,
    /// Who decides: recorded in the audit trail as the actor.
    #[arg(long = "as", value_name = "NAME", required = true)]
    pub(super) by: String,
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    pub(super) policy: Option<PathBuf>,
}
#[derive(Args, Debug)]
pub(super) struct RejectArgs {
    #[command(flatten)]
    pub(super) decide: DecideArgs,
    /// Why: recorded in the audit trail with the decision.
    #[arg(long, value_name = "TEXT", required = true)]
    pub(super) reason: String,
}
pub(super) fn plan_id(text: &str) -> Result<u64, Failure> {
    crate::store::HeldPlan::parse_reference(text).ok_or_else(|| {
        Failure::Usage(format!(
            "`{text}` is not a held plan's id: give its number or reference as `turnstile held` lists it (e.g. 7 or HP-000007)"
        ))
    })
}
pub(super) fn held_cmd(config: &Config, a: HeldArgs) -> Result<u8, Failure> {
    use crate::store::HeldStatus;
    let store = open_existing_store(config)?;
    let mut out = std::io::stdout().lock();
    let io = write_failed;
    let Some(id) = a.id.as_deref() else {
        let plans = store.held_plans((!a.all).then_some(HeldStatus::Held))?;
        if a.format == TextOrJson::Json {
            for p in &plans {
                writeln!(out, "{}", serde_json::to_string(p).unwrap_or_default()).map_err(io)?;
            }
            return Ok(0);
        }
        if plans.is_empty() {
            writeln!(out, "no held plans").map_err(io)?;
        }
        for p in &plans {
            writeln!(
                out,
                "{}  {}  {}  {} change(s) for {} person(s), held {}{}\n    {}",
                p.reference(),
                p.system,
                p.status.as_str(),
                p.changes,
                p.people,
                local_time(p.created_at),
                p.decided_by
                    .as_deref()
                    .map(|b| format!(", {} by {b}", p.status.as_str()))
                    .unwrap_or_default(),
                p.reason
            )
            .map_err(io)?;
        }
        return Ok(0);
    };
    let id = plan_id(id)?;
    let (plan, changes) = store
        .held_plan(id)?
        .ok_or(crate::store::StoreError::Refused(
            crate::store::Refusal::NoSuchPlan(id),
        ))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if a.format == TextOrJson::Json {
        let value = serde_json::json!({"plan": plan, "changes": changes});
        writeln!(out, "{value}").map_err(io)?;
        return Ok(0);
    }
    writeln!(
        out,
        "{} for {}: {} ({})\n{}",
        plan.reference(),
        plan.system,
        plan.status.as_str(),
        local_time(plan.created_at),
        plan.reason
    )
    .map_err(io)?;
    for c in &changes {
        writeln!(
            out,
            "  {} {}: {}  [{}] {}",
            c.employee_number,
            c.account.as_deref().unwrap_or("(new account)"),
            c.action,
            c.rule,
            c.reason
        )
        .map_err(io)?;
    }
    if plan.status == HeldStatus::Held {
        writeln!(
            out,
            "decide: turnstile approve {id} --as NAME   or   turnstile reject {id} --as NAME --reason TEXT"
        )
        .map_err(io)?;
    }
    Ok(0)
}
pub(super) fn decide_error(e: crate::engine::held::DecideError) -> Failure {
    use crate::engine::held::DecideError;
    use crate::store::StoreError;
    match e {
        DecideError::Store(e @ StoreError::Refused(_)) => Failure::Usage(e.to_string()),
        DecideError::NoTarget { .. } => Failure::Usage(e.to_string()),
        other => Failure::Runtime(other.to_string()),
    }
}
pub(super) fn approve_cmd(config: &Config, a: DecideArgs) -> Result<u8, Failure> {
    let id = plan_id(&a.id)?;
    let by = decider(&a.by)?;
    let acting = actor(Some(by), "turnstile approve")?;
    let model = load_model(config, a.policy.as_deref())?;
    let mut targets = crate::engine::targets::build(config, &model)
        .map_err(|problems| Failure::Usage(problems.join("\n")))?;
    let mut store = open_existing_store(config)?;
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    let done = runtime
        .block_on(crate::engine::held::approve(
            &model,
            store.as_mut(),
            &mut targets,
            id,
            &acting,
            crate::now(),
        ))
        .map_err(decide_error)?;
    println!(
        "{} approved by {by}: {} applied, {} work item(s), {} failed, {} skipped, {} no longer needed",
        done.plan.reference(),
        done.tally.applied,
        done.tally.work_items,
        done.tally.failed,
        done.tally.skipped,
        done.no_longer_needed
    );
    Ok(if done.tally.failed > 0 { 1 } else { 0 })
}
pub(super) fn reject_cmd(config: &Config, a: RejectArgs) -> Result<u8, Failure> {
    let id = plan_id(&a.decide.id)?;
    let by = decider(&a.decide.by)?;
    let reason = one_line(
        &a.reason,
        "--reason: say why the plan is rejected (one line, not blank)",
    )?;
    let model = load_model(config, a.decide.policy.as_deref())?;
    let mut store = open_existing_store(config)?;
    let plan = crate::engine::held::reject(&model, store.as_mut(), id, by, reason, crate::now())
        .map_err(decide_error)?;
    println!(
        "{} rejected by {by}: none of its {} change(s) was applied",
        plan.reference(),
        plan.changes
    );
    Ok(0)
}
