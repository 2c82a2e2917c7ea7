//! `turnstile token`: admin API tokens, made from the OS random source and listed by hash.

use super::*;

#[derive(Args, Debug)]
pub(super) struct TokenArgs {
    #[command(subcommand)]
    pub(super) verb: TokenVerb,
}
#[derive(Subcommand, Debug)]
pub(super) enum TokenVerb {
    /// A new token: printed once on standard output with the entry to add.
    New {
        /// Who or what uses it (recorded as the actor of what it approves).
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: crate::tokens::Role,
    },
}
pub(super) fn token_cmd(a: TokenArgs) -> Result<u8, Failure> {
    let TokenVerb::New { name, role } = a.verb;
    let name = name.trim();
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(Failure::Usage(
            "--name: one line, without quotes or backslashes".into(),
        ));
    }
    let (token, hash) = crate::daemon::api::new_token().map_err(Failure::Runtime)?;
    println!(
        "# Give this token to {name} (it is shown once, and not stored anywhere):\n# {token}\n# Add this to the tokens file ([daemon] tokens_file, mode 600):\n[[tokens]]\nname = \"{name}\"\nrole = \"{}\"\nsha256 = \"{hash}\"",
        role.as_str()
    );
    Ok(0)
}
