//! The uptime check API (shape, validation, edit, delete) and `errata uptime add|list|remove`.

use serde_json::json;

use super::*;

#[tokio::test]
async fn checks_are_created_shown_edited_and_deleted_with_field_errors() {
    let app = app(|_| {}).await;
    let site = Target::start(Reply::Status(200, "ok")).await;
    let (status, c) = create(
        &app,
        &json!({"url": site.url("/healthz"), "headers": {"Authorization": "Bearer s3cret"},
                "expected_status": "200-299", "keyword": "ok"}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    for (field, value) in [
        ("method", json!("GET")),
        ("interval_seconds", json!(60)),
        ("timeout_seconds", json!(10)),
        ("expected_status", json!("200-299")),
        ("keyword", json!("ok")),
        ("status", json!("unknown")),
        ("last_checked_at", json!(null)),
        ("last_response_ms", json!(null)),
        ("last_error", json!(null)),
        ("uptime_24h", json!(null)),
        ("failure_threshold", json!(2)),
        ("recovery_threshold", json!(1)),
        ("cert_warning_days", json!(14)),
        ("headers", json!(["Authorization"])),
    ] {
        assert_eq!(c[field], value, "{field}: {c}");
    }
    assert!(
        !c.to_string().contains("s3cret"),
        "header values are never shown"
    );
    let id = c["id"].as_i64().expect("id");

    for (body, needle) in [
        (json!({}), "url: is required"),
        (
            json!({"url": "ftp://x.example/"}),
            "url: must start with http",
        ),
        (
            json!({"url": "https://x.example/", "interval_seconds": 5}),
            "interval_seconds",
        ),
        (
            json!({"url": "https://x.example/", "timeout_seconds": 0}),
            "timeout_seconds",
        ),
        (
            json!({"url": "https://x.example/", "expected_status": "abc"}),
            "expected_status",
        ),
        (
            json!({"url": "https://x.example/", "colour": "red"}),
            "unknown field \"colour\"",
        ),
    ] {
        let (status, err) = create(&app, &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        let detail = err["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{body}: {detail}");
    }

    let res = app
        .http
        .patch(format!("{}/api/v1/uptime-checks/{id}", app.base))
        .bearer_auth(&app.token)
        .json(&json!({"interval_seconds": 30, "method": "HEAD", "keyword": null}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    let c: Value = res.json().await.expect("json");
    assert_eq!(
        (c["interval_seconds"].clone(), c["method"].clone()),
        (json!(30), json!("HEAD"))
    );
    let list = app
        .api(&format!(
            "/api/v1/projects/{}/uptime-checks",
            app.project.id
        ))
        .await;
    assert_eq!(list["uptime_checks"][0]["id"], id);

    let res = app
        .http
        .delete(format!("{}/api/v1/uptime-checks/{id}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.api_raw(&format!("/api/v1/uptime-checks/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.api_raw(&format!("/api/v1/uptime-checks/{id}/results"))
            .await
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn the_command_line_adds_lists_and_removes_checks() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("errata.db").display());
    let errata = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_errata"))
            .args(args)
            .env("DATABASE_URL", &db)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run errata");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = errata(&["project", "create", "shop", "--create"]);
    assert!(ok, "{err}");
    let (ok, out, err) = errata(&[
        "uptime",
        "add",
        "shop",
        "https://93.184.216.34/healthz",
        "--interval",
        "5m",
        "--timeout",
        "5s",
        "--keyword",
        "ok",
        "--expect",
        "200-299",
    ]);
    assert!(ok, "{err}");
    let id = out.trim().to_owned();
    assert!(id.parse::<i64>().is_ok(), "{out}");
    let (ok, out, _) = errata(&["uptime", "list", "shop"]);
    assert!(ok);
    assert!(
        out.contains(&format!("{id}\t"))
            && out.contains("unknown\tevery 300 s\t-\thttps://93.184.216.34/healthz"),
        "{out}"
    );
    let (ok, _, err) = errata(&["uptime", "add", "shop", "http://127.0.0.1:9/"]);
    assert!(!ok);
    assert!(err.contains("loopback"), "{err}");
    let (ok, out, err) = errata(&["uptime", "remove", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("removed"), "{out}");
    let (ok, out, _) = errata(&["uptime", "list"]);
    assert!(ok && out.trim().is_empty(), "{out}");
}
