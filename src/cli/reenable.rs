//! `turnstile reenable`: a line manager's approval to enable again an account disabled for inactivity.

use super::*;

#[derive(Args, Debug)]
pub(super) struct ReenableArgs {
    /// The system id (as in the role model).
    pub(super) system: String,
    /// The account's name on that system.
    pub(super) account: String,
    /// The manager approving (recorded in the trail).
    #[arg(long = "as", value_name = "NAME")]
    pub(super) by: String,
    /// Why it is needed again.
    #[arg(long, value_name = "TEXT")]
    pub(super) reason: String,
}
pub(super) fn reenable_cmd(config: &Config, a: ReenableArgs) -> Result<u8, Failure> {
    let by = decider(&a.by)?.to_string();
    let reason = one_line(
        &a.reason,
        "--reason: say why the account is needed again (one line)",
    )?;
    let mut store = open_existing_store(config)?;
    let dormant = store.dormancy(&a.system)?;
    let Some(d) = dormant.get(&a.account.to_lowercase()) else {
        return Err(Failure::Usage(format!(
            "{} on {} is not disabled for inactivity (nothing to approve); see `turnstile audit`",
            a.account, a.system
        )));
    };
    let draft = crate::audit::Draft {
        at: crate::now(),
        actor: format!("{by} (turnstile reenable)"),
        employee_number: Some(d.employee_number.clone()),
        system: Some(a.system.clone()),
        account: Some(d.account.clone()),
        action: crate::audit::Action::InactivityApproved.to_string(),
        outcome: crate::audit::Outcome::Approved.to_string(),
        rule: Some("inactivity".into()),
        event_id: None,
        reason: format!("enable again approved by {by}: {reason}"),
    };
    store.clear_dormancy(&a.system, &d.account, Some(draft))?;
    println!(
        "{} on {}: approved by {by}; the next reconcile enables it",
        d.account, a.system
    );
    Ok(0)
}
