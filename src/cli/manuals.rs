//! `turnstile completions SHELL` and `turnstile man --out DIR`: shell completions and man
//! pages made from the same definitions as `--help`, so they cannot disagree with it.
//! The pages are also checked in under `docs/man/` (a test regenerates and compares them).

use super::*;
use clap::CommandFactory;

#[derive(Args, Debug)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(super) shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub(super) struct ManArgs {
    /// The folder to write `turnstile.1` and a page per verb into.
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
}

pub(super) fn completions_cmd(a: CompletionsArgs) -> Result<u8, Failure> {
    let mut cli = Cli::command();
    clap_complete::generate(a.shell, &mut cli, "turnstile", &mut std::io::stdout());
    Ok(0)
}

pub(super) fn man_cmd(a: ManArgs) -> Result<u8, Failure> {
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Runtime(format!("{}: cannot make it: {e}", a.out.display())))?;
    clap_mangen::generate_to(Cli::command(), &a.out).map_err(|e| {
        Failure::Runtime(format!("{}: cannot write the pages: {e}", a.out.display()))
    })?;
    println!("man pages written to {}", a.out.display());
    Ok(0)
}
