//! A scheduled job monitored with `errata::monitor`: `in_progress`, then `ok` or `error` with
//! its duration. The argument picks how the run ends: `ok`, `fail` (an `Err`) or `panic`.
//!
//! `ERRATA_DSN=http://<key>@127.0.0.1:9000/<project> cargo run -p errata --example cron_job ok`

use std::time::Duration;

fn main() {
    let _guard = errata::init(
        errata::ClientOptions::new()
            .environment("production")
            .release("cron-example@1.0"),
    );
    let config = errata::MonitorConfig::crontab("*/5 * * * *")
        .timezone("Europe/Berlin")
        .max_runtime(10);
    let mode = std::env::args().nth(1).unwrap_or_default();
    let outcome = errata::monitor("errata-example", Some(config), || {
        std::thread::sleep(Duration::from_millis(40));
        match mode.as_str() {
            "panic" => panic!("export target vanished"),
            "fail" => Err("export failed"),
            _ => Ok(()),
        }
    });
    if let Err(e) = outcome {
        eprintln!("job failed: {e}");
    }
}
