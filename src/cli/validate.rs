//! `turnstile validate`: the config and the role model checked, every problem named at once.

use super::*;

#[derive(Args, Debug)]
pub(super) struct ValidateArgs {
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    pub(super) policy: Option<PathBuf>,
    /// Also try every peer the config names (state store, Kafka, targets, mail relay)
    /// and name each that does not answer; changes nothing.
    #[arg(long)]
    pub(super) connect: bool,
}
pub(super) fn validate(
    config: &Config,
    policy: Option<&Path>,
    connect: bool,
) -> Result<u8, Failure> {
    let path = policy.unwrap_or(&config.policy.path);
    let (model, findings) = match crate::config::load_role_model(path) {
        Ok((m, f)) => (Some(m), f),
        Err(f) => (None, f),
    };
    let mut problems = findings.problems;
    if let Some(model) = &model {
        if let Err(target_problems) = crate::engine::targets::build(config, model) {
            problems.extend(
                target_problems
                    .into_iter()
                    .map(|message| crate::policy::Problem {
                        file: "config".into(),
                        line: None,
                        message,
                        warning: false,
                    }),
            );
        }
        for system in config.exports.keys() {
            if !model.systems.contains_key(system) {
                problems.push(crate::policy::Problem {
                    file: "config".into(),
                    line: None,
                    message: format!(
                        "[exports.{system}] names a system the role model does not declare"
                    ),
                    warning: false,
                });
            }
        }
    }
    // Settings that knowingly weaken transport security are said at every check.
    for (on, message) in [
        (
            config.store.kind == crate::config::StoreKind::Postgres
                && config.store.tls_insecure_skip_verify,
            crate::config::INSECURE_STORE,
        ),
        (
            config.daemon.allow_plaintext_tokens && config.daemon.plaintext_tokens(),
            "[daemon] allow_plaintext_tokens = true: bearer tokens reach the admin endpoint over plain HTTP on a network address",
        ),
    ] {
        if on {
            problems.push(crate::policy::Problem {
                file: "config".into(),
                line: None,
                message: message.into(),
                warning: true,
            });
        }
    }
    if connect {
        problems.extend(connect::try_peers(config, model.as_ref()));
    }
    for p in &problems {
        println!("{p}");
    }
    let errors = problems.iter().filter(|p| !p.warning).count();
    if errors > 0 {
        return Err(Failure::Usage(format!("{errors} error(s) found")));
    }
    if let Some(m) = model {
        println!(
            "{}: ok: {} systems, {} roles, {} rules ({} warning(s))",
            path.display(),
            m.systems.len(),
            m.roles.len(),
            m.rules.len(),
            problems.len()
        );
    }
    Ok(0)
}
