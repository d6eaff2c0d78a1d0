//! End to end with the real Python `sentry-sdk`: every scenario of
//! `shared/fixtures/python/generate.py` runs in its own Python process against a live server
//! (the generator's `--child NAME DSN` mode), then the read API must show the partition the
//! fixtures README specifies and the event details must have survived.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{fixtures_dir, frames, latest_event, python_with, TestApp};

/// The scenario that sent an event: the SDK records the child's `sys.argv`
/// (`generate.py --child NAME DSN`) in `extra`.
fn scenario_of(event: &Value) -> Option<String> {
    let argv = event["extra"]["sys.argv"].as_array()?;
    let at = argv.iter().position(|a| a == "--child")?;
    argv.get(at + 1)?.as_str().map(str::to_owned)
}

#[tokio::test]
async fn sentry_python_scenarios_group_as_labelled() {
    let Some(python) = python_with("sentry_sdk") else {
        return;
    };
    let app = TestApp::spawn().await;
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let fixtures = manifest["fixtures"].as_object().expect("fixtures");
    let label_of: BTreeMap<String, Option<String>> = fixtures
        .iter()
        .map(|(name, f)| {
            (
                name.clone(),
                f["expected_group"].as_str().map(str::to_owned),
            )
        })
        .collect();

    // One physical path everywhere: the SDK marks frames in-app when their file lies under
    // the working directory, which Python reports with symlinks resolved.
    let dir = std::fs::canonicalize(fixtures_dir()).expect("fixtures dir");
    for name in fixtures.keys() {
        let mut child = tokio::process::Command::new(&python);
        child
            .arg(dir.join("generate.py"))
            .args(["--child", name, &app.dsn()])
            .current_dir(&dir)
            .env("PYTHONPATH", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONHASHSEED", "0")
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), child.output())
            .await
            .expect("scenario finishes in time")
            .expect("python runs");
        assert!(
            out.status.code().is_some_and(|c| c == 0 || c == 1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Each labelled scenario sends one error event. On a loaded machine the SDK's 2 s flush
    // at exit can give up while the server still commits, so wait for the stragglers.
    let expected = label_of.values().filter(|l| l.is_some()).count() as i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (events, _) = app.store.counts(None).await.expect("counts");
        if events >= expected || tokio::time::Instant::now() > deadline {
            assert_eq!(
                events, expected,
                "one event per labelled scenario, none for the rest"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Which issue got each scenario's event, read from the events themselves.
    let mut issue_of_scenario: BTreeMap<String, i64> = BTreeMap::new();
    for issue in app.all_issues().await {
        let id = issue["id"].as_i64().expect("issue id");
        let events = app
            .api(&format!("/api/v1/issues/{id}/events?limit=100"))
            .await;
        for e in events["events"].as_array().expect("events") {
            let event = app.event(e["event_id"].as_str().expect("id")).await;
            let scenario = scenario_of(&event["event"]).expect("sys.argv names the scenario");
            assert!(
                issue_of_scenario.insert(scenario.clone(), id).is_none(),
                "{scenario} stored twice"
            );
        }
    }
    let mut issue_of_label: BTreeMap<String, i64> = BTreeMap::new();
    let mut sent_per_label: BTreeMap<String, i64> = BTreeMap::new();
    for (name, label) in &label_of {
        match (label, issue_of_scenario.get(name)) {
            (None, None) => {}
            (None, Some(issue)) => panic!("{name} is not an error event but made issue {issue}"),
            (Some(_), None) => panic!("{name}: no event stored"),
            (Some(label), Some(&issue)) => {
                if let Some(prev) = issue_of_label.insert(label.clone(), issue) {
                    assert_eq!(prev, issue, "{name}: label {label} split across issues");
                }
                *sent_per_label.entry(label.clone()).or_default() += 1;
            }
        }
    }
    let mut issues: Vec<i64> = issue_of_label.values().copied().collect();
    issues.sort_unstable();
    issues.dedup();
    assert_eq!(
        issues.len(),
        issue_of_label.len(),
        "different labels, different issues: {issue_of_label:?}"
    );
    for (label, issue) in &issue_of_label {
        let json = app.api(&format!("/api/v1/issues/{issue}")).await;
        assert_eq!(
            json["count"].as_i64(),
            sent_per_label.get(label).copied(),
            "{label}: {json}"
        );
        assert!(
            json["first_seen"].as_str() <= json["last_seen"].as_str(),
            "{json}"
        );
    }

    // Details survive: frames with locals, tags, user, breadcrumbs, contexts.
    let payment = latest_event(&app, issue_of_label["payment-chain"]).await;
    let frames = frames(&payment);
    let charge = frames
        .iter()
        .find(|f| f["function"] == "charge")
        .expect("charge frame");
    assert_eq!(charge["module"], "fixture_app.payments");
    assert!(charge["context_line"].is_string());
    assert!(
        charge["vars"]["order_id"].is_string(),
        "locals survive: {charge}"
    );
    assert_eq!(charge["in_app"], true);

    let validate = app
        .api(&format!("/api/v1/issues/{}", issue_of_label["validate"]))
        .await;
    assert_eq!(validate["count"], 3);
    // context_rich is one of the three events of the validate issue: the one with a user.
    let listed = app
        .api(&format!(
            "/api/v1/issues/{}/events",
            issue_of_label["validate"]
        ))
        .await;
    let mut rich = Value::Null;
    for e in listed["events"].as_array().expect("events") {
        let event = app.event(e["event_id"].as_str().expect("id")).await["event"].clone();
        if event["user"].is_object() {
            rich = event;
        }
    }
    let tags: Vec<(String, String)> =
        serde_json::from_value(rich["tags"].clone()).expect("tag pairs");
    assert!(
        tags.contains(&("customer.tier".into(), "gold".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("region".into(), "eu-west-1".into())),
        "{tags:?}"
    );
    assert_eq!(rich["user"]["email"], "jane@example.com");
    assert_eq!(
        rich["user"]["ip_address"], "127.0.0.1",
        "{{auto}} replaced by the client address"
    );
    assert_eq!(rich["contexts"]["order"]["currency"], "EUR");
    assert_eq!(rich["level"], "fatal");
    assert_eq!(rich["dist"], "build-42");
    let crumbs = rich["breadcrumbs"]["values"]
        .as_array()
        .expect("breadcrumbs");
    assert!(crumbs.iter().any(|c| c["category"] == "auth"), "{crumbs:?}");
    assert!(crumbs.iter().any(|c| c["type"] == "http"), "{crumbs:?}");
    assert_eq!(
        validate["user_count"], 1,
        "only the rich event names a user"
    );
    app.stop().await;
}
