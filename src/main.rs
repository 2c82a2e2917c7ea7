//! The `turnstile` binary: see `cli` for the verbs.

fn main() -> std::process::ExitCode {
    turnstile::cli::main()
}
