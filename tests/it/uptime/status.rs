//! The public status page: only what was chosen (public checks, listed monitors), escaped,
//! without URLs, errors or sign-in; 404 until enabled.

use serde_json::json;

use super::*;

async fn put_status_page(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = app
        .http
        .put(format!(
            "{}/api/v1/projects/{}/status-page",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .json(body)
        .send()
        .await
        .expect("put");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn monitor_id(app: &TestApp, slug: &str, name: &str) -> i64 {
    let res = app
        .http
        .post(format!(
            "{}/api/v1/projects/{}/monitors",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .json(&json!({"slug": slug, "name": name,
                      "schedule": {"type": "crontab", "value": "0 * * * *"}}))
        .send()
        .await
        .expect("create monitor");
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn the_status_page_shows_only_what_was_chosen_escaped_and_without_sign_in() {
    let app = app(|c| c.notify.enabled = false).await;
    let down = Target::start(Reply::Status(503, "secret stack trace")).await;
    let up = Target::start(Reply::Status(200, "ok")).await;
    create_ok(
        &app,
        &json!({"url": down.url("/internal/healthz"), "name": "<b>API</b> & co",
                "is_public": true, "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    create_ok(
        &app,
        &json!({"url": up.url("/public"), "is_public": true, "interval_seconds": 10,
                "timeout_seconds": 2}),
    )
    .await;
    create_ok(
        &app,
        &json!({"url": up.url("/private-admin"), "name": "Private admin",
                "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    let shown = monitor_id(&app, "nightly", "Nightly <i>backup</i>").await;
    monitor_id(&app, "hidden-job", "Hidden job").await;
    for _ in 0..3 {
        step(&app, 10).await;
    }
    let anonymous = reqwest::Client::new();
    let get = |path: String| {
        let anonymous = anonymous.clone();
        async move {
            let res = anonymous.get(path).send().await.expect("get");
            let status = res.status().as_u16();
            (status, res.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get(format!("{}/status/shop", app.base)).await.0, 404);

    let (status, body) = put_status_page(
        &app,
        &json!({"slug": "shop", "title": "Shop <status>", "monitor_ids": [shown]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(
        get(format!("{}/status/shop", app.base)).await.0,
        404,
        "off by default"
    );
    for (bad, needle) in [
        (json!({"slug": "Shop!"}), "slug"),
        (
            json!({"slug": "shop", "monitor_ids": [999_999]}),
            "not a monitor",
        ),
    ] {
        let (status, err) = put_status_page(&app, &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            err["detail"].as_str().unwrap_or_default().contains(needle),
            "{err}"
        );
    }
    let (status, _) = put_status_page(
        &app,
        &json!({"slug": "shop", "title": "Shop <status>", "enabled": true,
                "monitor_ids": [shown]}),
    )
    .await;
    assert_eq!(status, 200);

    let (status, html) = get(format!("{}/status/shop", app.base)).await;
    assert_eq!(status, 200, "no sign-in needed");
    for needle in [
        "Shop &lt;status&gt;",
        "&lt;b&gt;API&lt;&#x2f;b&gt; &amp; co",
        "127.0.0.1",
        "Nightly &lt;i&gt;backup&lt;&#x2f;i&gt;",
        "Some systems are down",
        "Operational",
    ] {
        assert!(html.contains(needle), "no {needle:?} in {html}");
    }
    for absent in [
        "<b>API</b>",
        "Private admin",
        "Hidden job",
        "/internal/healthz",
        "/public",
        "secret stack trace",
        "Service Unavailable",
    ] {
        assert!(!html.contains(absent), "{absent:?} leaked: {html}");
    }
    assert_eq!(html.matches("class=\"card status-item\"").count(), 3);
    assert_eq!(html.matches("<rect class=\"day").count(), 3 * 90);
    app.stop().await;
}
