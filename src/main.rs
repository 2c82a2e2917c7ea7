//! The `turnstile` binary: see `cli` for the verbs.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    turnstile::cli::main()
}
