//! `tern`: a complete mail server in one binary. See `tern --help`.

fn main() -> std::process::ExitCode {
    tern_server::cli::main()
}
