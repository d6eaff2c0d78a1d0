//! The target rule with private targets not allowed (the default): loopback, private,
//! link-local and metadata addresses, and a name resolving to loopback, are refused when a
//! check is saved, with an error naming the setting; a check whose name resolves to loopback
//! only at run time (its DNS changed) is refused then, and nothing is ever requested.

use errata_server::monitors::uptime::CheckConfig;
use serde_json::json;

use super::*;

/// A name other than `localhost` that this machine resolves to loopback only (its host
/// name, or Debian's `ip6-localhost`), if there is one.
async fn loopback_name() -> Option<String> {
    let mut candidates = vec!["ip6-localhost".to_owned(), "ip6-loopback".to_owned()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        candidates.insert(0, h.trim().to_owned());
    }
    for name in candidates {
        if name.is_empty() || name.contains("localhost.") || name == "localhost" {
            continue;
        }
        let addrs: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host((name.as_str(), 80)).await {
                Ok(found) => found.collect(),
                Err(_) => continue,
            };
        if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
            return Some(name);
        }
    }
    None
}

#[tokio::test]
async fn private_targets_are_refused_with_a_clear_error_and_nothing_requested() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    let site = Target::start(Reply::Status(200, "ok")).await;
    let port = site.addr.port();
    let mut cases = vec![
        (format!("http://127.0.0.1:{port}/"), "a loopback address"),
        (format!("http://localhost:{port}/"), "a loopback name"),
        ("http://10.1.2.3/health".to_owned(), "a private address"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "a cloud metadata address",
        ),
        ("http://[::1]/".to_owned(), "a loopback address"),
    ];
    let name = loopback_name().await;
    match &name {
        Some(n) => cases.push((format!("http://{n}:{port}/"), "a loopback address")),
        None => println!("no name resolving to loopback only here: its case is skipped"),
    }
    for (url, reason) in &cases {
        let (status, body) = create(&app, &json!({"url": url})).await;
        assert_eq!(status, 400, "{url}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("url: "), "{detail}");
        assert!(detail.contains(reason), "{url}: {detail}");
        if *reason != "a cloud metadata address" {
            assert!(
                detail
                    .contains("uptime.allow_private_targets (ERRATA_UPTIME_ALLOW_PRIVATE_TARGETS)"),
                "{detail}"
            );
        }
    }
    let list = app
        .api(&format!(
            "/api/v1/projects/{}/uptime-checks",
            app.project.id
        ))
        .await;
    assert_eq!(list["uptime_checks"], json!([]));

    // A name that passed when saved but resolves to loopback now: refused after DNS, on
    // the first request and on a redirect hop alike.
    if let Some(n) = &name {
        let direct = app
            .store
            .create_uptime_check(
                app.project.id,
                &CheckConfig::for_url(&format!("http://{n}:{port}/")),
                false,
                T0,
                T0,
            )
            .await
            .expect("stored");
        step(&app, 1).await;
        let r = latest(&app, direct.id).await;
        assert_eq!(r["error_class"], "refused", "{r}");
        assert!(
            r["reason"].as_str().is_some_and(|t| t.contains("loopback")),
            "{r}"
        );
    }
    assert_eq!(site.hits(), 0, "nothing was requested");
    app.stop().await;
}
