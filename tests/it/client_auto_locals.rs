//! Our SDK's `auto-locals` end to end: `client/examples/auto_locals_probe.rs` panics three calls
//! deep holding integers, floats, `&str`, `String`, `Vec<u32>`, an `Option<String>`, a struct
//! with nested fields, a reference to it and a secret-named variable, with no macro. Through the
//! server's read API each frame's `vars` must hold exactly those values:
//!
//! * built in debug (full debug info for the `errata` package's targets): every value exact;
//! * built in release with `debug = true`: each value exact or `<optimized out>` /
//!   `<unavailable>`, never wrong;
//! * stripped: no values and one `errors` entry saying why;
//! * built with line tables only: no values and one `errors` entry saying so.
//!
//! The debug probe is built by `cargo test --workspace --all-features` (and found like
//! `client_sdk`'s examples); the release and line-tables probes are built here into their own
//! target directories (`target/auto-locals-release`, `target/auto-locals-lines`, reused).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::client_sdk::{example, run};
use crate::helpers::{frames, latest_event, TestApp};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// How a probe is built besides the workspace's profiles.
enum Build {
    /// The release profile with one `CARGO_PROFILE_RELEASE_*` override.
    Release(&'static str, &'static str),
    /// The dev profile with extra `rustc` flags for the probe crate alone.
    DevWithFlags(&'static [&'static str]),
}

/// Builds the probe into `target/<dir>` (kept across runs, so later builds are incremental).
async fn build_probe(dir: &str, build: Build) -> PathBuf {
    let dir = target_dir().join(dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = tokio::process::Command::new(cargo);
    let (subcommand, profile) = match build {
        Build::Release(..) => ("build", "release"),
        Build::DevWithFlags(_) => ("rustc", "debug"),
    };
    cmd.args([
        subcommand,
        "--quiet",
        "-p",
        "errata",
        "--features",
        "auto-locals",
    ])
    .args(["--example", "auto_locals_probe"])
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .env("CARGO_TARGET_DIR", &dir)
    .kill_on_drop(true);
    match build {
        Build::Release(key, value) => {
            // Optimized as users' release builds are, without the workspace's fat LTO: the
            // values that survive are the same kind, and CI builds it in a fraction of the time.
            cmd.arg("--release")
                .env(key, value)
                .env("CARGO_PROFILE_RELEASE_LTO", "off")
                .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
        }
        Build::DevWithFlags(flags) => {
            cmd.arg("--").args(flags);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(1500), cmd.output())
        .await
        .expect("the probe builds in time")
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(profile).join("examples/auto_locals_probe")
}

/// Builds the probe as `build` says, runs it against a fresh server and returns the server
/// and the event; `None` when the workspace's examples are not built (not a full test run).
async fn built_probe_event(dir: &str, build: Build) -> Option<(TestApp, Value)> {
    example("auto_locals_probe")?;
    let probe = build_probe(dir, build).await;
    let app = TestApp::spawn().await;
    let event = run_probe(&app, &probe).await;
    Some((app, event))
}

async fn run_probe(app: &TestApp, binary: &Path) -> Value {
    let out = run(app, &binary.to_path_buf(), &[]).await;
    assert_eq!(
        out.status.code(),
        Some(101),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issues = app.all_issues().await;
    let issue = issues
        .iter()
        .find(|i| {
            i["title"]
                .as_str()
                .is_some_and(|t| t.contains("card declined"))
        })
        .unwrap_or_else(|| panic!("the probe's issue: {issues:#?}"));
    latest_event(app, issue["id"].as_i64().expect("issue id")).await
}

fn frame_vars<'a>(frames: &'a [Value], function: &str) -> &'a Value {
    let f = frames
        .iter()
        .find(|f| f["function"].as_str() == Some(function))
        .unwrap_or_else(|| panic!("frame {function} in {frames:#?}"));
    &f["vars"]
}

/// The probe's variables at the panic, as `Debug` prints them.
fn expected() -> [(&'static str, Value); 2] {
    let customer = "Customer { id: 42, name: \"Ada\", address: Address { city: \"Zürich\", \
                    zip: 8001 }, scores: [7, 9], api_token: [Filtered] }";
    [
        (
            "auto_locals_probe::charge",
            json!({
                "customer": customer,
                "amount": "19.5",
                "coupon": "Some(\"order-3\")",
                "password": "[Filtered]",
                "attempts": "3",
                "rate": "0.75",
                "grade": "'A'",
                "checks": "(true, -2)",
            }),
        ),
        (
            "auto_locals_probe::checkout",
            json!({
                "count": "3",
                "label": "\"order\"",
                "order": "\"order-3\"",
                "quantities": "[1, 2, 3]",
                "customer": customer,
                "total": "-17",
            }),
        ),
    ]
}

fn auto_locals_errors(event: &Value) -> Vec<Value> {
    event["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "auto_locals")
        .cloned()
        .collect()
}

/// The event's `errors` hold one auto-locals entry, whose reason contains `needle`.
fn assert_one_error(event: &Value, needle: &str) {
    let errors = auto_locals_errors(event);
    assert_eq!(errors.len(), 1, "{:#}", event["errors"]);
    assert!(
        errors[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(needle)),
        "{errors:?}"
    );
}

#[tokio::test]
async fn debug_build_shows_every_variable_exactly() {
    let Some(probe) = example("auto_locals_probe") else {
        return;
    };
    let app = TestApp::spawn().await;
    let event = run_probe(&app, &probe).await;
    let probe_frames = frames(&event);
    for (function, vars) in expected() {
        assert_eq!(
            *frame_vars(&probe_frames, function),
            vars,
            "{function}: {probe_frames:#?}"
        );
    }
    let charge = probe_frames
        .iter()
        .find(|f| f["function"] == "auto_locals_probe::charge")
        .expect("charge frame");
    assert_eq!(charge["data"]["vars_source"]["amount"], "debug_info");
    assert_eq!(auto_locals_errors(&event), Vec::<Value>::new());

    // The same binary stripped: no values, one entry in `errors` saying why.
    let dir = tempfile::tempdir().expect("tempdir");
    let stripped = dir.path().join("auto_locals_probe_stripped");
    std::fs::copy(&probe, &stripped).expect("copy probe");
    let status = std::process::Command::new("strip")
        .arg(&stripped)
        .status()
        .expect("strip runs (binutils)");
    assert!(status.success());
    let event = run_probe(&app, &stripped).await;
    for f in frames(&event) {
        assert!(
            f["data"]["vars_source"].is_null(),
            "no values from a stripped binary: {f:#}"
        );
    }
    assert_one_error(&event, "no DWARF debug info");
    app.stop().await;
}

#[tokio::test]
async fn release_build_values_are_right_or_marked_optimized_out() {
    // The release profile (opt-level 3) with full debug info.
    let Some((app, event)) = built_probe_event(
        "auto-locals-release",
        Build::Release("CARGO_PROFILE_RELEASE_DEBUG", "true"),
    )
    .await
    else {
        return;
    };
    let frames = frames(&event);
    let mut exact = 0;
    for (function, want) in expected() {
        let got = frame_vars(&frames, function);
        for (name, value) in want.as_object().expect("object") {
            let v = &got[name];
            if v == value {
                exact += 1;
            } else {
                assert!(
                    v == "<optimized out>" || v == "<unavailable>" || v.is_null(),
                    "{function}::{name}: {v} is neither {value} nor marked missing: {frames:#?}"
                );
            }
        }
    }
    assert!(exact >= 3, "some values survive optimisation: {frames:#?}");
    app.stop().await;
}

#[tokio::test]
async fn line_tables_only_give_no_values_and_say_so() {
    // Only the probe's own crate (the application) with line tables.
    let Some((app, event)) = built_probe_event(
        "auto-locals-lines",
        Build::DevWithFlags(&["-C", "debuginfo=line-tables-only"]),
    )
    .await
    else {
        return;
    };
    let frames = frames(&event);
    // Line tables name the frames (unqualified: `charge`), nothing more.
    let charge = frames
        .iter()
        .find(|f| {
            f["function"]
                .as_str()
                .is_some_and(|n| n.ends_with("charge"))
        })
        .unwrap_or_else(|| panic!("line tables still name the frames: {frames:#?}"));
    assert!(charge["vars"].is_null(), "{charge:#}");
    assert_one_error(&event, "line tables only");
    app.stop().await;
}
