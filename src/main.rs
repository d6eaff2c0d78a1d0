//! `errata`: the server binary. Everything lives in the library; this parses the command line.

use clap::Parser;

/// jemalloc rather than glibc's malloc: ingestion builds and drops a JSON tree per event on
/// every worker thread, where glibc spent about a sixth of the server's CPU
/// (`bench/README.md`); `unprefixed_malloc` makes SQLite and zstd use it too.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = errata_server::cli::Cli::parse();
    match errata_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
