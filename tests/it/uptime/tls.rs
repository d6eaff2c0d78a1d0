//! A self-signed TLS server whose certificate expires 3 days after the (manual) clock's now:
//! with `verify_tls` off the check is up and warns once about the certificate; with it on
//! the check fails as a TLS error.

use std::sync::Arc;

use errata_server::store::ChannelKind;
use serde_json::json;
use time::OffsetDateTime;
use tokio_rustls::rustls;

use super::*;
use crate::notify::{wait_for, Hook};

const DAY_MS: i64 = 86_400_000;

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time")
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1 valid until `not_after_ms`.
fn acceptor(not_after_ms: i64) -> tokio_rustls::TlsAcceptor {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.not_before = at(T0 - 30 * DAY_MS);
    params.not_after = at(not_after_ms);
    let cert = params.self_signed(&key).expect("self-signed");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn a_certificate_expiring_in_three_days_is_warned_about_once() {
    let hook = Hook::start().await;
    let app = app(|_| {}).await;
    app.store
        .add_channel(app.project.id, ChannelKind::Slack, &hook.url)
        .await
        .expect("channel");
    let expires = T0 + 3 * DAY_MS + 3_600_000;
    let site = Target::start_with(Reply::Status(200, "ok"), Some(acceptor(expires))).await;
    let url = site.url("/");
    let lenient = create_ok(
        &app,
        &json!({"url": url, "interval_seconds": 10, "timeout_seconds": 2, "verify_tls": false}),
    )
    .await;
    let strict = create_ok(
        &app,
        &json!({"url": url, "interval_seconds": 10, "timeout_seconds": 2}),
    )
    .await;
    for _ in 0..3 {
        step(&app, 10).await;
    }
    let r = latest(&app, lenient).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = latest(&app, strict).await;
    assert_eq!(r["error_class"], "tls", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLS handshake failed")),
        "{r}"
    );

    let warnings = || {
        hook.accepted()
            .into_iter()
            .filter(|p| {
                p["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("CERTIFICATE EXPIRING"))
            })
            .collect::<Vec<Value>>()
    };
    let posts = wait_for("the certificate warning", || {
        let p = warnings();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(
        posts[0]["text"],
        format!(
            "[fixtures] CERTIFICATE EXPIRING: TLS certificate of {url} expires in 3 days \
             (2026-01-13 01:00:00 UTC)"
        )
    );
    let blocks = posts[0]["attachments"][0]["blocks"].to_string();
    assert!(
        blocks.contains("CN=") || blocks.contains("rcgen"),
        "{blocks}"
    );
    // The strict check is down (its TLS failures), which is a message of its own.
    wait_for("the strict check's DOWN message", || {
        hook.accepted()
            .iter()
            .any(|p| p["text"].as_str().is_some_and(|t| t.contains("DOWN: ")))
            .then_some(())
    })
    .await;
    for _ in 0..3 {
        app.jobs.run_now("notify").await.expect("notify pass");
    }
    assert_eq!(warnings().len(), 1, "once per certificate");
    let issues = app.all_issues().await;
    assert!(
        issues.iter().any(|i| i["level"] == "warning"
            && i["title"]
                .as_str()
                .is_some_and(|t| t.contains("expires in 3 days"))),
        "{issues:?}"
    );
    app.stop().await;
}
