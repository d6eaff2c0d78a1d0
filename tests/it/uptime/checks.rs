//! Results and their classes against real servers on loopback (private targets allowed).

use serde_json::json;

use super::*;

#[tokio::test]
async fn up_status_keyword_timeout_and_refused_redirects_are_told_apart() {
    let app = app(|_| {}).await;
    let ok = Target::start(Reply::Status(200, "all systems go")).await;
    let up = create_ok(
        &app,
        &json!({"url": ok.url("/healthz"), "interval_seconds": 10, "timeout_seconds": 1,
                "keyword": "systems go"}),
    )
    .await;
    let missing = create_ok(
        &app,
        &json!({"url": ok.url("/healthz"), "interval_seconds": 10, "timeout_seconds": 1,
                "keyword": "database ok"}),
    )
    .await;
    let hanging = Target::start(Reply::Hang).await;
    let slow = create_ok(
        &app,
        &json!({"url": hanging.url("/"), "interval_seconds": 10, "timeout_seconds": 1}),
    )
    .await;
    let hop = Target::start(Reply::Redirect(ok.url("/healthz"))).await;
    let followed = create_ok(
        &app,
        &json!({"url": hop.url("/old"), "interval_seconds": 10, "timeout_seconds": 1}),
    )
    .await;
    let not_followed = create_ok(
        &app,
        &json!({"url": hop.url("/old"), "interval_seconds": 10, "timeout_seconds": 1,
                "follow_redirects": false, "expected_status": "200"}),
    )
    .await;
    let metadata = Target::start(Reply::Redirect(
        "http://169.254.169.254/latest/meta-data/".into(),
    ))
    .await;
    let to_metadata = create_ok(
        &app,
        &json!({"url": metadata.url("/"), "interval_seconds": 10, "timeout_seconds": 1}),
    )
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}/", closed.local_addr().expect("addr"));
    drop(closed);
    let refused = create_ok(
        &app,
        &json!({"url": closed_url, "interval_seconds": 10, "timeout_seconds": 1}),
    )
    .await;

    step(&app, 10).await;

    let r = latest(&app, up).await;
    assert_eq!(
        (r["ok"].clone(), r["status_code"].clone()),
        (json!(true), json!(200)),
        "{r}"
    );
    assert!(r["response_ms"].as_i64().is_some_and(|ms| ms < 1000), "{r}");
    let c = check(&app, up).await;
    assert_eq!(c["status"], "up", "{c}");
    assert_eq!(c["uptime_24h"], 100.0, "{c}");
    assert_eq!(c["last_error"], json!(null));

    let r = latest(&app, missing).await;
    assert_eq!(r["error_class"], "keyword", "{r}");
    assert_eq!(
        r["reason"],
        "200 OK, but the body does not contain \"database ok\""
    );

    let r = latest(&app, slow).await;
    assert_eq!(r["error_class"], "timeout", "{r}");
    assert!(
        r["response_ms"]
            .as_i64()
            .is_some_and(|ms| (900..5000).contains(&ms)),
        "{r}"
    );

    let r = latest(&app, followed).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status_code"], 200);
    let r = latest(&app, not_followed).await;
    assert_eq!(
        (r["error_class"].clone(), r["status_code"].clone()),
        (json!("status"), json!(302)),
        "{r}"
    );
    assert_eq!(r["reason"], "302 Found");

    let r = latest(&app, to_metadata).await;
    assert_eq!(r["error_class"], "refused", "{r}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("redirect to http://169.254.169.254/latest/meta-data/ refused")
            && reason.contains("cloud metadata"),
        "{reason}"
    );

    let r = latest(&app, refused).await;
    assert_eq!(r["error_class"], "connection", "{r}");
    assert_eq!(r["reason"], "connection refused");

    // One failure is below the default threshold of 2: not down yet.
    assert_eq!(check(&app, missing).await["status"], "unknown");
    step(&app, 10).await;
    let c = check(&app, missing).await;
    assert_eq!(c["status"], "down", "{c}");
    assert_eq!(c["uptime_24h"], 0.0);
    assert_eq!(results(&app, up).await.len(), 2, "one result per interval");

    let metrics = app.metrics_text().await;
    for needle in [
        "errata_uptime_checks_total{outcome=\"up\"}",
        "errata_uptime_checks_total{outcome=\"keyword\"}",
        "errata_uptime_checks_total{outcome=\"timeout\"}",
        "errata_uptime_checks_total{outcome=\"refused\"}",
        "errata_uptime_response_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "no {needle} in /metrics");
    }
    assert!(app.metric("errata_uptime_down").await >= 4.0);
    app.stop().await;
}

#[tokio::test]
async fn results_page_newest_first_and_paused_checks_make_no_requests() {
    let app = app(|_| {}).await;
    let ok = Target::start(Reply::Status(200, "ok")).await;
    let id = create_ok(
        &app,
        &json!({"url": ok.url("/"), "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    for _ in 0..3 {
        step(&app, 10).await;
    }
    let page = app
        .api(&format!("/api/v1/uptime-checks/{id}/results?limit=2"))
        .await;
    let first = page["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(first.len(), 2);
    assert!(first[0]["checked_at"].as_str() > first[1]["checked_at"].as_str());
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = app
        .api(&format!(
            "/api/v1/uptime-checks/{id}/results?limit=2&cursor={}",
            crate::helpers::urlencode(cursor)
        ))
        .await;
    assert_eq!(rest["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next_cursor"], json!(null));
    assert_eq!(ok.hits(), 3);

    let res = app
        .http
        .patch(format!("{}/api/v1/uptime-checks/{id}", app.base))
        .bearer_auth(&app.token)
        .json(&json!({"is_paused": true}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"], "paused");
    step(&app, 10).await;
    step(&app, 10).await;
    assert_eq!(ok.hits(), 3, "a paused check requests nothing");
    app.stop().await;
}
