//! Captures an error with a three-level `source()` chain and a message event.
//!
//! `ERRATA_DSN=http://<key>@127.0.0.1:8000/<project> cargo run -p errata --example error_chain`

use std::fmt;

#[derive(Debug)]
struct ConfigError {
    path: String,
    source: std::io::Error,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not read config {}", self.path)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Debug)]
struct StartupError(ConfigError);

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("service failed to start")
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[inline(never)]
fn load_config(path: &str) -> Result<String, StartupError> {
    errata::locals!(path);
    std::fs::read_to_string(path).map_err(|source| {
        StartupError(ConfigError {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, source),
        })
    })
}

fn main() {
    let guard = errata::init!(errata::ClientOptions::new().environment("example"));
    errata::add_breadcrumb(errata::breadcrumb("startup", "reading configuration"));
    if let Err(e) = load_config("/nonexistent/errata-example.toml") {
        let id = errata::capture_error(&e);
        println!("captured error event {id}");
    }
    let id = errata::capture_message("example finished", errata::Level::Info);
    println!("captured message event {id}");
    // flush returns as soon as the queue is sent; the bound only matters when the server is
    // slow, as a debug server beside the rest of the test suite can be.
    if !guard.flush(std::time::Duration::from_secs(30)) {
        eprintln!("events not delivered within 30 s");
        std::process::exit(1);
    }
}
