//! Ingestion end to end over HTTP: good and bad input, auth, encodings, CORS, dedupe,
//! regressions, concurrency, backpressure, and the operational endpoints.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use errata_server::clock::{HOUR_MS, SECOND_MS};
use serde_json::{json, Value};

use crate::helpers::{error_event, event_envelope, new_event_id, CapturedLogs, TestApp};

/// Stored counts plus every issue as JSON: what "nothing changed" compares.
async fn snapshot(app: &TestApp) -> (i64, i64, Vec<Value>) {
    let (events, issues) = app.store.counts(None).await.expect("counts");
    (events, issues, app.all_issues().await)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

async fn error_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert!(
        res.headers().contains_key("access-control-allow-origin") || status == 404,
        "CORS header on every ingest answer"
    );
    let body: Value = res.json().await.expect("JSON error body");
    assert!(body["detail"].is_string(), "error body has detail: {body}");
    (status, body)
}

/// Every sample of the counter `name` on `/metrics`, by the value of its one `label`.
async fn metric_values(app: &TestApp, name: &str, label: &str) -> BTreeMap<String, u64> {
    let text = app.metrics_text().await;
    let prefix = format!("{name}{{{label}=\"");
    text.lines()
        .filter_map(|line| {
            let (value, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            Some((value.to_owned(), count.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// An envelope with `header` and one item per (type, payload), each with an explicit length.
pub(crate) fn envelope_of(header: &Value, items: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = serde_json::to_vec(header).expect("header");
    out.push(b'\n');
    for (ty, payload) in items {
        let item_header = json!({"type": ty, "length": payload.len()});
        out.extend_from_slice(&serde_json::to_vec(&item_header).expect("item header"));
        out.push(b'\n');
        out.extend_from_slice(payload);
        out.push(b'\n');
    }
    out
}

pub(crate) fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// Asserts a 200 answer naming the event `id`, and that this event is stored.
async fn assert_stored(app: &TestApp, res: reqwest::Response, id: &str) {
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["id"], id);
    assert_eq!(app.event(id).await["event"]["event_id"], id);
}

/// How many "<type> items are …" lines were logged for `project_id`, by type.
fn drop_notices(logs: &CapturedLogs, project_id: i64) -> BTreeMap<String, usize> {
    let text = logs.text();
    let project = format!("project_id={project_id}");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let item_type = words.iter().find_map(|w| w.strip_prefix("item_type="));
        if let (Some(item_type), true) = (item_type, words.contains(&project.as_str())) {
            assert!(
                line.contains(&format!("{item_type} items are ")),
                "the message names the type: {line}"
            );
            *out.entry(item_type.to_owned()).or_default() += 1;
        }
    }
    out
}

#[tokio::test]
async fn stores_an_event_and_exposes_it_through_the_read_api() {
    let app = TestApp::spawn().await;
    let id = new_event_id();
    let res = app
        .post_envelope(event_envelope(&error_event(&id, "charge", "boom 1")))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["id"], id.as_str());

    let event = app.event(&id).await;
    assert_eq!(event["event"]["event_id"], id.as_str());
    assert_eq!(event["grouping"]["hash"].as_str().map(str::len), Some(64));
    let issue_id = event["issue_id"].as_i64().expect("issue id");
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    for key in [
        "id",
        "project_id",
        "title",
        "culprit",
        "level",
        "status",
        "first_seen",
        "last_seen",
        "count",
        "user_count",
        "is_regression",
        "fingerprint",
    ] {
        assert!(issue.get(key).is_some(), "issue has {key}: {issue}");
    }
    assert_eq!(issue["status"], "unresolved");
    assert_eq!(issue["count"], 1);
    assert_eq!(issue["user_count"], 1);
    assert_eq!(issue["title"], "ValueError: boom 1");
    let events = app.api(&format!("/api/v1/issues/{issue_id}/events")).await;
    assert_eq!(events["events"][0]["event_id"], id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.limits.max_envelope_bytes = 64 * 1024;
        c.limits.max_event_bytes = 8 * 1024;
    })
    .await;
    // Something stored first, so "unchanged" is meaningful.
    let res = app
        .post_envelope(event_envelope(&error_event(&new_event_id(), "charge", "x")))
        .await;
    assert_eq!(res.status(), 200);
    let before = snapshot(&app).await;
    let url = app.envelope_url();
    let good = event_envelope(&error_event(&new_event_id(), "other", "y"));

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (
            "empty body",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header()),
            400,
            "empty",
            "invalid_envelope",
        ),
        (
            "bad header json",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body("{not json\n"),
            400,
            "header",
            "invalid_envelope",
        ),
        (
            "length past end",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body("{}\n{\"type\":\"event\",\"length\":500}\n{}\n"),
            400,
            "item 0",
            "invalid_envelope",
        ),
        (
            "event not json",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body("{}\n{\"type\":\"event\"}\n{\"a\":\n"),
            400,
            "JSON",
            "invalid_event",
        ),
        (
            "event not an object",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body("{}\n{\"type\":\"event\"}\n[1,2]\n"),
            400,
            "object",
            "invalid_event",
        ),
        (
            "no auth",
            app.http.post(&url).body(good.clone()),
            401,
            "authentication",
            "missing_auth",
        ),
        (
            "unknown key",
            app.http
                .post(&url)
                .header(
                    "x-sentry-auth",
                    "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7",
                )
                .body(good.clone()),
            403,
            "unknown public key",
            "unknown_key",
        ),
        (
            "wrong project",
            app.http
                .post(format!(
                    "{}/api/{}/envelope/",
                    app.base,
                    app.project.id + 1000
                ))
                .header("x-sentry-auth", app.auth_header())
                .body(good.clone()),
            403,
            "another project",
            "key_of_another_project",
        ),
        (
            "non-numeric project",
            app.http
                .post(format!("{}/api/abc/envelope/", app.base))
                .header("x-sentry-auth", app.auth_header())
                .body(good.clone()),
            400,
            "not a number",
            "invalid_project_id",
        ),
        (
            "conflicting keys",
            app.http
                .post(format!("{url}?sentry_key=otherkey"))
                .header("x-sentry-auth", app.auth_header())
                .body(good.clone()),
            401,
            "authentication",
            "invalid_auth",
        ),
        (
            "body over limit",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body(vec![b' '; 70 * 1024]),
            413,
            "limit",
            "body_too_large",
        ),
        (
            "gzip bomb",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "gzip")
                .body(gzip(&vec![b'{'; 8 * 1024 * 1024])),
            413,
            "limit",
            "body_too_large",
        ),
        (
            "event over item limit",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body(event_envelope(&error_event(
                    &new_event_id(),
                    "big",
                    &"v".repeat(10_000),
                ))),
            413,
            "limit",
            "item_too_large",
        ),
        (
            "unsupported encoding",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "compress")
                .body(good.clone()),
            415,
            "compress",
            "unsupported_encoding",
        ),
        (
            "corrupt gzip",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "gzip")
                .body(&b"\x1f\x8b\x08\x00garbage"[..]),
            400,
            "gzip",
            "invalid_encoding",
        ),
        (
            "header dsn mismatch",
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .body(format!(
                    "{{\"dsn\":\"http://otherkey@{}/{}\"}}\n",
                    app.addr, app.project.id
                )),
            400,
            "dsn",
            "dsn_mismatch",
        ),
    ];
    let rejected_before = metric_values(&app, "errata_events_rejected_total", "reason").await;
    let mut expected_reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, req, status, needle, reason) in cases {
        *expected_reasons.entry(reason).or_default() += 1;
        let res = req.send().await.expect("send");
        let (got, body) = error_body(res).await;
        assert_eq!(got, status, "{name}: {body}");
        let text = body.to_string().to_lowercase();
        assert!(
            text.contains(&needle.to_lowercase()),
            "{name}: {body} should mention {needle:?}"
        );
    }
    let res = app
        .http
        .post(&url)
        .header("x-sentry-auth", app.auth_header())
        .header("content-encoding", "compress")
        .body(good.clone())
        .send()
        .await
        .expect("send");
    assert!(res.headers()["accept-encoding"]
        .to_str()
        .expect("ascii")
        .contains("gzip"));
    // Other tests run in this process at the same time: at least ours were counted.
    let rejected = metric_values(&app, "errata_events_rejected_total", "reason").await;
    for (reason, n) in expected_reasons {
        let counted = rejected.get(reason).copied().unwrap_or(0)
            - rejected_before.get(reason).copied().unwrap_or(0);
        assert!(counted >= n, "rejected{{reason={reason}}}: {counted} < {n}");
    }

    assert_eq!(
        snapshot(&app).await,
        before,
        "rejected requests must not change stored data"
    );
    app.stop().await;
}

#[tokio::test]
async fn auth_sources_and_encodings_are_all_accepted() {
    let app = TestApp::spawn().await;
    let key = app.project.public_key.clone();
    let url = app.envelope_url();
    let send = |req: reqwest::RequestBuilder| async move {
        req.send().await.expect("send").status().as_u16()
    };
    let env = || event_envelope(&error_event(&new_event_id(), "f", "v"));

    assert_eq!(
        send(
            app.http
                .post(format!("{url}?sentry_key={key}&sentry_version=7"))
                .body(env())
        )
        .await,
        200
    );
    assert_eq!(
        send(
            app.http
                .post(&url)
                .header("authorization", format!("Sentry sentry_key={key}"))
                .body(env())
        )
        .await,
        200
    );
    // DSN in the envelope header only (tunnel).
    let mut tunnel = format!(
        "{{\"dsn\":\"http://{key}@{}/{}\"}}\n",
        app.addr, app.project.id
    )
    .into_bytes();
    let payload = serde_json::to_vec(&error_event(&new_event_id(), "t", "v")).expect("json");
    tunnel.extend_from_slice(b"{\"type\":\"event\"}\n");
    tunnel.extend_from_slice(&payload);
    assert_eq!(send(app.http.post(&url).body(tunnel)).await, 200);
    // Compressed bodies.
    assert_eq!(
        send(
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "gzip")
                .body(gzip(&env()))
        )
        .await,
        200
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&env()).expect("zlib");
    assert_eq!(
        send(
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "deflate")
                .body(z.finish().expect("zlib"))
        )
        .await,
        200
    );
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(&env()).expect("br");
    }
    assert_eq!(
        send(
            app.http
                .post(&url)
                .header("x-sentry-auth", app.auth_header())
                .header("content-encoding", "br")
                .body(br)
        )
        .await,
        200
    );
    // Trailing slash optional; legacy store endpoint with a JSON event and with base64+zlib.
    assert_eq!(
        send(
            app.http
                .post(url.trim_end_matches('/'))
                .header("x-sentry-auth", app.auth_header())
                .body(env())
        )
        .await,
        200
    );
    let store_url = format!("{}/api/{}/store/", app.base, app.project.id);
    let event = serde_json::to_vec(&error_event(&new_event_id(), "s", "v")).expect("json");
    assert_eq!(
        send(
            app.http
                .post(&store_url)
                .header("x-sentry-auth", app.auth_header())
                .body(event.clone())
        )
        .await,
        200
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let b64_event = serde_json::to_vec(&error_event(&new_event_id(), "s", "v")).expect("json");
    z.write_all(&b64_event).expect("zlib");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().expect("zlib"));
    let legacy_id = new_event_id();
    let mut ev = error_event(&legacy_id, "s", "v");
    ev["extra"] = json!({"ratio": "placeholder"});
    let raw = serde_json::to_string(&ev)
        .expect("json")
        .replace("\"placeholder\"", "NaN");
    let res = app
        .http
        .post(&store_url)
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=6"),
        )
        .header("content-type", "application/octet-stream")
        .body(raw)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200, "Python NaN tolerated");
    assert_eq!(
        send(
            app.http
                .post(&store_url)
                .header("x-sentry-auth", app.auth_header())
                .body(b64)
        )
        .await,
        200
    );
    let (events, _) = app.store.counts(None).await.expect("counts");
    assert_eq!(events, 10);
    app.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.envelope_url())
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-sentry-auth",
        )
        .send()
        .await
        .expect("send");
    assert!(res.status().is_success());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase()
        .contains("x-sentry-auth"));
    assert_eq!(h["access-control-max-age"], "3600");
    let res = app
        .http
        .post(app.envelope_url())
        .header("origin", "https://shop.example.com")
        .body(event_envelope(&error_event(&new_event_id(), "f", "v")))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .contains("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn dropped_item_types_are_accepted_without_an_issue() {
    let app = TestApp::spawn().await;
    let body = "{}\n{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\"}\n{\"type\":\"client_report\"}\n{\"timestamp\":1.0}\n{\"type\":\"brand_new_type\",\"length\":3}\nabc\n{\"type\":\"attachment\",\"length\":0}\n\n";
    let res = app.post_envelope(body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json"), json!({}));
    assert_eq!(app.store.counts(None).await.expect("counts"), (0, 0));
    app.stop().await;
}

/// An envelope with an error event and a check-in, a transaction and a feedback.
fn mixed_envelope(event_id: &str) -> Vec<u8> {
    let now = 1_700_000_000.0;
    envelope_of(
        &json!({"event_id": event_id, "sent_at": "2026-01-01T00:00:00Z"}),
        &[
            ("event", to_json(&error_event(event_id, "charge", "boom"))),
            (
                "check_in",
                to_json(
                    &json!({"check_in_id": new_event_id(), "monitor_slug": "nightly", "status": "in_progress"}),
                ),
            ),
            (
                "transaction",
                to_json(&json!({"type": "transaction", "transaction": "/checkout",
                    "start_timestamp": now, "timestamp": now + 0.5, "spans": []})),
            ),
            (
                "feedback",
                to_json(&json!({"event_id": new_event_id(),
                    "contexts": {"feedback": {"message": "it broke", "associated_event_id": event_id}}})),
            ),
        ],
    )
}

#[tokio::test]
async fn unstored_item_types_are_counted_and_logged_once_an_hour() {
    let logs = CapturedLogs::default();
    let _capture = logs.install();
    let app = TestApp::spawn_with_clock(1_800_000_000_000, |_| {}).await;
    let dropped = ["check_in", "transaction"];
    let once_each: BTreeMap<String, usize> = dropped.iter().map(|t| (t.to_string(), 1)).collect();
    let before = metric_values(&app, "errata_items_dropped_total", "type").await;

    let first = new_event_id();
    let res = app.post_envelope(mixed_envelope(&first)).await;
    assert_stored(&app, res, &first).await;
    assert_eq!(app.store.counts(None).await.expect("counts"), (1, 1));
    let project = app.project.id;
    assert_eq!(
        drop_notices(&logs, project),
        once_each,
        "one line per dropped type"
    );

    // Within the hour: stored and counted, not logged again.
    assert_eq!(
        app.post_envelope(mixed_envelope(&new_event_id()))
            .await
            .status(),
        200
    );
    app.clock
        .advance(Duration::from_millis((HOUR_MS - SECOND_MS) as u64));
    assert_eq!(
        app.post_envelope(mixed_envelope(&new_event_id()))
            .await
            .status(),
        200
    );
    assert_eq!(drop_notices(&logs, project), once_each);
    assert_eq!(app.store.counts(None).await.expect("counts").0, 3);
    let after = metric_values(&app, "errata_items_dropped_total", "type").await;
    for ty in dropped {
        let counted = after.get(ty).copied().unwrap_or(0) - before.get(ty).copied().unwrap_or(0);
        // Other tests in this process drop items too: at least ours were counted.
        assert!(counted >= 3, "{ty}: counted {counted}");
    }

    // Another project has its own notices.
    let other = app
        .store
        .create_project_with_key("other", "0123456789abcdef0123456789abcdef")
        .await
        .expect("project");
    let res = app
        .http
        .post(format!("{}/api/{}/envelope/", app.base, other.id))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={}, sentry_version=7", other.public_key),
        )
        .body(mixed_envelope(&new_event_id()))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    assert_eq!(drop_notices(&logs, other.id), once_each);
    assert_eq!(drop_notices(&logs, project), once_each);

    // An hour after the first lines, the first project hears about them again.
    app.clock.advance(Duration::from_millis(SECOND_MS as u64));
    assert_eq!(
        app.post_envelope(mixed_envelope(&new_event_id()))
            .await
            .status(),
        200
    );
    let twice: BTreeMap<String, usize> = dropped.iter().map(|t| (t.to_string(), 2)).collect();
    assert_eq!(drop_notices(&logs, project), twice);
    assert_eq!(drop_notices(&logs, other.id), once_each);
    app.stop().await;
}

#[tokio::test]
async fn store_endpoint_and_envelopes_of_several_items() {
    let app = TestApp::spawn().await;
    let store_url = format!("{}/api/{}/store/", app.base, app.project.id);

    // A legacy event is a one-item envelope: stored, answered with its id.
    let id = new_event_id();
    let res = app
        .http
        .post(&store_url)
        .header("x-sentry-auth", app.auth_header())
        .body(to_json(&error_event(&id, "legacy", "v")))
        .send()
        .await
        .expect("send");
    assert_stored(&app, res, &id).await;

    // Without credentials the store endpoint cannot fall back to a dsn in a body.
    let res = app
        .http
        .post(&store_url)
        .body(to_json(&error_event(&new_event_id(), "legacy", "v")))
        .send()
        .await
        .expect("send");
    let (status, body) = error_body(res).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("X-Sentry-Auth")),
        "{body}"
    );

    // An envelope on the store endpoint, authenticated by its header's dsn only.
    let id = new_event_id();
    let body = envelope_of(
        &json!({"event_id": id, "dsn": app.dsn()}),
        &[
            (
                "check_in",
                to_json(&json!({"monitor_slug": "m", "status": "ok"})),
            ),
            ("event", to_json(&error_event(&id, "tunnelled", "v"))),
        ],
    );
    let res = app
        .http
        .post(&store_url)
        .header("content-type", "application/x-sentry-envelope")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_stored(&app, res, &id).await;

    // Two events: the first is stored and names the answer, the second is dropped.
    let (first, second) = (new_event_id(), new_event_id());
    let body = envelope_of(
        &json!({}),
        &[
            ("event", to_json(&error_event(&first, "one", "v"))),
            ("event", to_json(&error_event(&second, "two", "v"))),
        ],
    );
    let res = app.post_envelope(body).await;
    assert_stored(&app, res, &first).await;
    let res = app
        .api_raw(&format!(
            "/api/v1/projects/{}/events/{second}",
            app.project.id
        ))
        .await;
    assert_eq!(res.status(), 404);

    // An event with its attachment and user report: the event is stored under the header's id.
    let id = new_event_id();
    let body = envelope_of(
        &json!({"event_id": id}),
        &[
            ("attachment", b"line one\nline two".to_vec()),
            (
                "event",
                to_json(&error_event(&new_event_id(), "attached", "v")),
            ),
            (
                "user_report",
                to_json(
                    &json!({"event_id": id, "name": "A", "email": "a@example.com", "comments": "again"}),
                ),
            ),
        ],
    );
    let res = app.post_envelope(body).await;
    assert_stored(&app, res, &id).await;
    assert_eq!(app.store.counts(None).await.expect("counts").0, 4);
    app.stop().await;
}

#[tokio::test]
async fn duplicates_regressions_and_status_changes() {
    let app = TestApp::spawn().await;
    let id = new_event_id();
    let env = event_envelope(&error_event(&id, "checkout", "first"));
    assert_eq!(app.post_envelope(env.clone()).await.status(), 200);
    let res = app.post_envelope(env).await;
    assert_eq!(res.status(), 200, "duplicate still answers 200");
    assert_eq!(res.json::<Value>().await.expect("json")["id"], id.as_str());
    let issue_id = app.event(&id).await["issue_id"].as_i64().expect("issue");
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(issue["count"], 1, "a duplicate event id is stored once");

    // Resolve, then the same error again: a regression reopens the issue.
    let res = app.set_status(issue_id, "resolved").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json")["status"],
        "resolved"
    );
    let resolved = app
        .api(&format!(
            "/api/v1/projects/{}/issues?status=resolved",
            app.project.id
        ))
        .await;
    assert_eq!(resolved["issues"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.post_envelope(event_envelope(&error_event(
            &new_event_id(),
            "checkout",
            "second"
        )))
        .await
        .status(),
        200
    );
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(issue["status"], "unresolved");
    assert_eq!(issue["is_regression"], true);
    assert_eq!(issue["count"], 2);

    // Ignored issues keep counting but stay ignored.
    let res = app.set_status(issue_id, "ignored").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.post_envelope(event_envelope(&error_event(
            &new_event_id(),
            "checkout",
            "third"
        )))
        .await
        .status(),
        200
    );
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(issue["status"], "ignored");
    assert_eq!(issue["count"], 3);

    // Bad PATCH bodies.
    let res = app
        .http
        .patch(format!("{}/api/v1/issues/{issue_id}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"status\":\"gone\"}")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.expect("json")["detail"].is_string());
    let res = app.set_status(999_999, "resolved").await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_senders_make_one_issue_per_fingerprint() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for sender in 0..16 {
        let poster = app.envelope_poster();
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let function = ["alpha", "beta", "gamma"][(sender + n) % 3];
                let env = event_envelope(&error_event(
                    &new_event_id(),
                    function,
                    &format!("{sender}-{n}"),
                ));
                let res = poster.post(env).await;
                assert_eq!(res.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let issues = app.all_issues().await;
    assert_eq!(issues.len(), 3, "one issue per fingerprint");
    let total: i64 = issues
        .iter()
        .map(|i| i["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, 320);
    assert_eq!(app.store.counts(None).await.expect("counts"), (320, 3));
    app.stop().await;
}

#[tokio::test]
async fn deferred_issue_counts_catch_up_once_traffic_stops() {
    // Every batch defers its aggregates: the roll-up alone brings the issues up to date.
    let app = TestApp::spawn_with(|c| c.ingest.defer_aggregates_at = 1).await;
    let send = |function: &'static str| {
        let poster = app.envelope_poster();
        async move {
            let id = new_event_id();
            let res = poster
                .post(event_envelope(&error_event(&id, function, "v")))
                .await;
            assert_eq!(res.status(), 200);
            id
        }
    };
    let first = send("alpha").await;
    let issue_id = app.event(&first).await["issue_id"]
        .as_i64()
        .expect("issue id");
    let converged = |want: i64| {
        let app = &app;
        async move {
            for _ in 0..50 {
                let issues = app.all_issues().await;
                let total: i64 = issues
                    .iter()
                    .map(|i| i["count"].as_i64().unwrap_or(0))
                    .sum();
                if total == want {
                    return issues;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("issue counts never reached {want}");
        }
    };
    converged(1).await;
    let res = app.set_status(issue_id, "resolved").await;
    assert_eq!(res.status(), 200);

    let mut tasks = Vec::new();
    for n in 0..24 {
        tasks.push(tokio::spawn(send(["alpha", "beta"][n % 2])));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    // Acknowledged means stored and readable, counted or not yet.
    for id in &ids {
        assert_eq!(app.event(id).await["event_id"], id.as_str());
    }
    let issues = converged(25).await;
    assert_eq!(issues.len(), 2);
    let alpha = issues
        .iter()
        .find(|i| i["id"] == issue_id)
        .expect("alpha issue");
    assert_eq!(alpha["count"], 13);
    assert_eq!(
        alpha["status"], "unresolved",
        "the resolved issue regressed"
    );
    assert_eq!(alpha["is_regression"], true);
    app.stop().await;
}

#[tokio::test]
async fn overload_answers_429_with_retry_after() {
    // A queue of one event: concurrent senders overflow it.
    let app = TestApp::spawn_with(|c| {
        c.ingest.queue_capacity = 1;
        c.ingest.batch_size = 1;
    })
    .await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let poster = app.envelope_poster();
        tasks.push(tokio::spawn(async move {
            let res = poster
                .post(event_envelope(&error_event(&new_event_id(), "f", "v")))
                .await;
            let status = res.status().as_u16();
            if status == 429 {
                assert!(res.headers().contains_key("retry-after"));
                assert!(res.headers().contains_key("x-sentry-rate-limits"));
            }
            status
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.expect("task") {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(limited > 0, "some requests must be refused with 429");
    let (events, _) = app.store.counts(None).await.expect("counts");
    assert_eq!(
        events, ok,
        "every acknowledged event is stored, nothing else"
    );
    app.stop().await;
}

#[tokio::test]
async fn operational_endpoints_and_read_api_auth() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(format!("{}/readyz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-request-id"],
        "abc-123",
        "incoming request id echoed"
    );
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"status": "ready", "checks": {"database": "ok", "ingest": "ok", "disk_budget": "ok"}})
    );
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers()["x-request-id"].to_str().expect("ascii").len(),
        36,
        "a UUID is generated"
    );

    assert_eq!(
        app.post_envelope(event_envelope(&error_event(&new_event_id(), "f", "v")))
            .await
            .status(),
        200
    );
    let metrics = app.metrics_text().await;
    for name in [
        "errata_events_accepted_total",
        "errata_ingest_duration_seconds",
        "errata_batch_size",
        "errata_issues_created_total",
    ] {
        assert!(metrics.contains(name), "metrics expose {name}");
    }

    let res = app
        .http
        .get(format!("{}/api/v1/projects", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);
    assert!(res.json::<Value>().await.expect("json")["detail"].is_string());
    let res = app
        .http
        .get(format!("{}/api/v1/projects", app.base))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);
    let projects = app.api("/api/v1/projects").await;
    assert_eq!(projects["projects"][0]["dsn"], app.dsn());
    let res = app
        .api_raw(&format!(
            "/api/v1/projects/{}/issues?sort=nope",
            app.project.id
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .api_raw(&format!(
            "/api/v1/projects/{}/issues?limit=1000",
            app.project.id
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .api_raw(&format!(
            "/api/v1/projects/{}/issues?cursor=%%%garbage",
            app.project.id
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app.api_raw("/api/v1/projects/99999/issues").await;
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn issue_list_filters_sorts_and_paginates() {
    let app = TestApp::spawn().await;
    for (i, function) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        for _ in 0..=i {
            let mut ev = error_event(&new_event_id(), function, "v");
            ev["environment"] = json!(if i % 2 == 0 { "prod" } else { "staging" });
            ev["level"] = json!(if i == 4 { "fatal" } else { "error" });
            assert_eq!(app.post_envelope(event_envelope(&ev)).await.status(), 200);
        }
    }
    let base = format!("/api/v1/projects/{}/issues", app.project.id);
    let by_count = app.api(&format!("{base}?sort=count")).await;
    let counts: Vec<i64> = by_count["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["count"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(counts, vec![5, 4, 3, 2, 1]);
    let prod = app.api(&format!("{base}?environment=prod")).await;
    assert_eq!(prod["issues"].as_array().map(Vec::len), Some(3));
    let fatal = app.api(&format!("{base}?level=fatal")).await;
    assert_eq!(fatal["issues"].as_array().map(Vec::len), Some(1));
    let q = app.api(&format!("{base}?query=in%20c")).await;
    assert!(q["issues"].as_array().is_some_and(|v| !v.is_empty()));
    // Two per page: 3 pages, every issue once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("{base}?sort=count&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", crate::helpers::urlencode(c)));
        }
        let page = app.api(&path).await;
        seen.extend(
            page["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .map(|i| i["id"].as_i64().unwrap_or(0)),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (5, 5),
        "pages cover every issue once"
    );
    app.stop().await;
}
