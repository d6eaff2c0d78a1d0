//! `errata-bench`: a load generator for Errata and any Sentry-compatible ingestion endpoint.
//!
//! Sends realistic error envelopes (see `payload`) for K issues in a Zipf mix over C
//! keep-alive connections, counts an event only when the server acknowledged it with 200, and
//! then checks through Errata's read API that what was acknowledged was also stored. Prints one
//! JSON report on stdout; exits 1 when events were lost, mis-acknowledged or given up on, 2 on
//! usage or setup errors.

mod conn;
mod payload;
mod report;
mod run;
mod verify;
mod zipf;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use rand::Rng;
use reqwest::Url;

use payload::{PayloadSpec, Payloads};
use run::RunConfig;

/// Load generator for Errata (and any Sentry-compatible server).
#[derive(Debug, Parser)]
#[command(name = "errata-bench", version, about)]
struct Args {
    /// Project DSN, `http://KEY@HOST:PORT/PROJECT_ID`
    #[arg(long, env = "ERRATA_BENCH_DSN")]
    dsn: String,
    /// Events to send (N); with `--duration` and `--rate`, defaults to rate × duration
    #[arg(long = "events", short = 'n')]
    events: Option<u64>,
    /// Distinct issues (K), chosen with a Zipf-like mix
    #[arg(long = "issues", short = 'k', default_value_t = 1000)]
    issues: usize,
    /// Concurrent connections (C); each sends one event at a time
    #[arg(long = "concurrency", short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Gzip request bodies
    #[arg(long)]
    gzip: bool,
    /// Gzip level (1 = fastest; sentry-python uses 9)
    #[arg(long, default_value_t = 1)]
    gzip_level: u32,
    /// Target events per second across all connections; 0 = as fast as possible
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Stop starting events after this many seconds
    #[arg(long)]
    duration: Option<f64>,
    /// Read-API token (`errata token create`) for the post-run check and visibility probe
    #[arg(long, env = "ERRATA_TOKEN")]
    token: Option<String>,
    /// Read-API base URL [default: scheme, host and path prefix of the DSN]
    #[arg(long)]
    api: Option<Url>,
    /// Another server of the same project (base URL, e.g. `http://127.0.0.1:9001`); repeat
    /// for more. Connections are spread round-robin over the DSN's server and these.
    #[arg(long = "also")]
    also: Vec<Url>,
    /// Write the ids of acknowledged events here, one per line
    #[arg(long)]
    ids_out: Option<std::path::PathBuf>,
    /// Skip the read-API check
    #[arg(long)]
    no_verify: bool,
    /// Acknowledged ids to look up one by one after the run (0 = all)
    #[arg(long, default_value_t = 2000)]
    verify_sample: usize,
    /// Do not retry 429/503/transport errors (count them and move on)
    #[arg(long)]
    no_retry: bool,
    /// Give up on an event this many seconds after its first attempt
    #[arg(long, default_value_t = 60.0)]
    give_up_after: f64,
    /// Per-request timeout, seconds
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Seed of the issue mix and payload text
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Zipf exponent (0 = uniform)
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Payload variants per issue (memory: issues × variants × ~10 KB)
    #[arg(long, default_value_t = 2)]
    variants: usize,
    /// Tag in module names that makes this run's issues distinct [default: random]
    #[arg(long)]
    run_tag: Option<String>,
    /// Progress on stderr every this many seconds (0 = quiet)
    #[arg(long, default_value_t = 5.0)]
    progress: f64,
}

/// Where the DSN points.
struct Target {
    envelope_url: Url,
    api_base: Url,
    public_key: String,
    project_id: i64,
}

fn parse_dsn(dsn: &str) -> anyhow::Result<Target> {
    let url = Url::parse(dsn).with_context(|| format!("DSN {dsn:?} is not a URL"))?;
    let public_key = url.username().to_owned();
    if public_key.is_empty() {
        bail!("DSN has no public key (the user part)");
    }
    let mut segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let project = segments.pop().context("DSN has no project id")?;
    let project_id: i64 = project
        .parse()
        .with_context(|| format!("DSN project id {project:?} is not a number"))?;
    let mut base = url.clone();
    base.set_username("")
        .ok()
        .and_then(|()| base.set_password(None).ok())
        .context("cannot strip the key from the DSN")?;
    let prefix: String = segments.iter().map(|s| format!("/{s}")).collect();
    base.set_path(&prefix);
    base.set_query(None);
    let envelope_url = Url::parse(&format!(
        "{}/api/{project_id}/envelope/",
        base.as_str().trim_end_matches('/')
    ))?;
    Ok(Target {
        envelope_url,
        api_base: base,
        public_key,
        project_id,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("errata-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Returns whether the run passed.
async fn real_main(args: Args) -> anyhow::Result<bool> {
    let target = parse_dsn(&args.dsn)?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let duration = args
        .duration
        .map(|d| Duration::try_from_secs_f64(d).context("--duration"))
        .transpose()?;
    let events = match (args.events, duration) {
        (Some(n), _) => n,
        (None, Some(d)) if args.rate > 0.0 => (args.rate * d.as_secs_f64()).ceil() as u64,
        (None, Some(_)) => u64::MAX,
        (None, None) => 10_000,
    };
    let run_tag = args
        .run_tag
        .clone()
        .unwrap_or_else(|| format!("{:08x}", rand::rng().random::<u32>()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency + 16)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        // The bench only talks to the given host; an HTTP(S)_PROXY in the environment must not
        // reroute 127.0.0.1 traffic.
        .no_proxy()
        .http1_only()
        .build()?;

    let t = Instant::now();
    let payloads = Arc::new(Payloads::build(&PayloadSpec {
        issues: args.issues.max(1),
        variants: args.variants,
        seed: args.seed,
        run_tag: run_tag.clone(),
        gzip: args.gzip.then_some(args.gzip_level),
    })?);
    let (min, max) = payloads.size_range();
    eprintln!(
        "built {} templates (avg {} B, {min}..{max} B) in {:.1}s; run tag {run_tag}",
        args.issues.max(1) * payloads.variants(),
        payloads.average_size(),
        t.elapsed().as_secs_f64()
    );

    let api = match (&args.token, args.no_verify) {
        (Some(token), false) => Some(verify::Api::new(
            client.clone(),
            args.api.clone().unwrap_or_else(|| target.api_base.clone()),
            token.clone(),
            target.project_id,
        )),
        _ => None,
    };
    let verify_skipped = match (&api, args.no_verify) {
        (None, true) => Some("--no-verify"),
        (None, false) => {
            eprintln!("no --token: skipping the read-API check and the visibility probe");
            Some("no --token")
        }
        _ => None,
    };
    let before = match &api {
        Some(api) => Some(api.snapshot().await.context("read API before the run")?),
        None => None,
    };

    let (probe_tx, probe_task) = match &api {
        Some(api) => {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            (Some(tx), Some(tokio::spawn(verify::probe(api.clone(), rx))))
        }
        None => (None, None),
    };

    let mut envelope_urls = vec![target.envelope_url.clone()];
    for base in &args.also {
        envelope_urls.push(Url::parse(&format!(
            "{}/api/{}/envelope/",
            base.as_str().trim_end_matches('/'),
            target.project_id
        ))?);
    }
    let cfg = RunConfig {
        envelope_urls: envelope_urls.clone(),
        auth_header: format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=errata-bench/{}",
            target.public_key,
            env!("CARGO_PKG_VERSION")
        ),
        events,
        duration,
        concurrency: args.concurrency,
        rate: args.rate.max(0.0),
        gzip: args.gzip.then_some(args.gzip_level),
        retry: !args.no_retry,
        give_up_after: Duration::try_from_secs_f64(args.give_up_after)
            .context("--give-up-after")?,
        request_timeout: Duration::try_from_secs_f64(args.timeout).context("--timeout")?,
        collect_ids: api.is_some() || args.ids_out.is_some(),
        zipf_s: args.zipf,
        seed: args.seed,
        progress_every: Duration::try_from_secs_f64(args.progress).context("--progress")?,
    };
    let mut result = run::run(cfg, payloads.clone(), probe_tx).await?;
    let mut visibility = match probe_task {
        Some(t) => t.await?,
        None => Vec::new(),
    };

    if let Some(path) = &args.ids_out {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        );
        for (id, _) in &result.stats.acked {
            out.write_all(id)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }

    let verification = match (&api, &before) {
        (Some(api), Some(before)) => Some(
            verify::verify(
                api,
                before,
                &result.stats.acked,
                result.stats.accepted,
                result.stats.ambiguous,
                args.verify_sample,
                Duration::from_secs(10),
            )
            .await
            .context("read API after the run")?,
        ),
        _ => None,
    };

    let info = report::RunInfo {
        target: envelope_urls
            .iter()
            .map(Url::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        events_planned: events,
        issues: args.issues.max(1),
        concurrency: args.concurrency,
        rate: args.rate,
        gzip: args.gzip.then_some(args.gzip_level),
        payload_bytes: (payloads.average_size(), min, max),
        seed: args.seed,
        run_tag,
    };
    let report = report::render(
        &info,
        &mut result,
        &mut visibility,
        verification.as_ref(),
        verify_skipped,
    );
    println!("{}", serde_json::to_string_pretty(&report)?);

    let mut ok = true;
    if let Some(v) = &verification {
        for p in &v.problems {
            eprintln!("errata-bench: FAIL: {p}");
        }
        ok &= v.ok;
    }
    if result.stats.missing_retry_after > 0 {
        eprintln!(
            "errata-bench: FAIL: {} answers 429 without a usable Retry-After",
            result.stats.missing_retry_after
        );
        ok = false;
    }
    if result.stats.wrong_ack_id > 0 {
        eprintln!(
            "errata-bench: FAIL: {} acknowledgements named another event id",
            result.stats.wrong_ack_id
        );
        ok = false;
    }
    if !args.no_retry && result.stats.failed > 0 {
        eprintln!(
            "errata-bench: FAIL: gave up on {} events",
            result.stats.failed
        );
        ok = false;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_with_and_without_prefix() {
        let t = parse_dsn("http://abc@127.0.0.1:9000/42").unwrap();
        assert_eq!(
            t.envelope_url.as_str(),
            "http://127.0.0.1:9000/api/42/envelope/"
        );
        assert_eq!(t.api_base.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(t.public_key, "abc");
        assert_eq!(t.project_id, 42);
        let t = parse_dsn("http://abc@host/sentry/7").unwrap();
        assert_eq!(
            t.envelope_url.as_str(),
            "http://host/sentry/api/7/envelope/"
        );
        assert!(parse_dsn("http://host/7").is_err());
        assert!(parse_dsn("http://k@host/x").is_err());
    }
}
