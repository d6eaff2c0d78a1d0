//! Transport behaviour against a local HTTP server: rate limits, retries, queue overflow,
//! flush timeouts, the offline spool and envelope framing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{Reply, TestServer};
use errata::{Client, ClientOptions, Hub, Level, Scope};

fn client_for(
    server_dsn: &str,
    f: impl FnOnce(ClientOptions) -> ClientOptions,
) -> std::sync::Arc<Client> {
    let options = ClientOptions::new()
        .dsn(server_dsn)
        .retry_backoff(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_millis(500));
    // These tests time deliveries; loading debug info would delay the first event.
    #[cfg(feature = "auto-locals")]
    let options = options.auto_locals(false);
    Client::new(f(options))
}

fn capture_with(client: &std::sync::Arc<Client>, msg: &str) -> errata::EventId {
    let hub = Hub::new(Some(client.clone()), Scope::empty());
    Hub::run(hub, || errata::capture_message(msg, Level::Error))
}

#[test]
fn envelope_over_http_is_gzipped_authenticated_and_framed() {
    let server = TestServer::start();
    let client = client_for(&server.dsn(), |o| o);
    let id = capture_with(&client, "hello");
    assert!(client.flush(Duration::from_secs(10)));
    let got = server.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "x-sentry-auth" && v.contains("sentry_key=publickey")));
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "gzip"));
    assert_eq!(r.envelope.header["event_id"], id.to_string());
    for (h, payload) in &r.envelope.items {
        assert_eq!(h["length"].as_u64().unwrap() as usize, payload.len());
    }
    let ev = &r.envelope.json_items("event")[0];
    assert_eq!(ev["message"], "hello");
    assert_eq!(ev["platform"], "native");
    assert!(ev["contexts"]["os"]["name"].is_string());
    assert!(ev["contexts"]["runtime"]["version"].is_string());
}

#[test]
fn rate_limits_stop_sends_until_deadline() {
    let server = TestServer::start();
    server.push(
        Reply::status(429)
            .header("Retry-After", "1")
            .header("X-Sentry-Rate-Limits", "1:error:project:quota_exceeded"),
    );
    let client = client_for(&server.dsn(), |o| o);
    // The deadline is at least one second after this instant.
    let before_first = Instant::now();
    capture_with(&client, "first");
    assert!(client.flush(Duration::from_secs(10)));
    assert_eq!(server.received().len(), 1);

    // Inside the window: dropped before sending, and no lone client report either.
    capture_with(&client, "second");
    assert!(client.flush(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.received().len(), 1, "no send before the deadline");

    std::thread::sleep(Duration::from_millis(1100).saturating_sub(before_first.elapsed()));
    capture_with(&client, "third");
    assert!(client.flush(Duration::from_secs(5)));
    let got = server.received();
    assert!(got.len() >= 2);
    for r in &got[1..] {
        assert!(r.at >= before_first + Duration::from_secs(1));
    }
    let messages: Vec<_> = server
        .events()
        .iter()
        .map(|e| e["message"].clone())
        .collect();
    assert_eq!(messages, ["first", "third"]);
    let reports = server.client_reports();
    let backoff: u64 = reports
        .iter()
        .flat_map(|r| {
            r["discarded_events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|d| d["reason"] == "ratelimit_backoff")
        .map(|d| d["quantity"].as_u64().unwrap())
        .sum();
    assert_eq!(
        backoff, 2,
        "the 429'd and the filtered event are reported: {reports:?}"
    );
}

#[test]
fn retries_after_server_error() {
    let server = TestServer::start();
    server.push(Reply::status(500));
    let client = client_for(&server.dsn(), |o| o);
    let id = capture_with(&client, "retry me");
    assert!(client.flush(Duration::from_secs(10)));
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].envelope.header["event_id"], id.to_string());
    assert_eq!(got[1].envelope.header["event_id"], id.to_string());
}

#[test]
fn queue_overflow_is_counted_and_reported() {
    let server = TestServer::start();
    server.push(Reply::status(200).delay(Duration::from_millis(400)));
    let client = client_for(&server.dsn(), |o| o.queue_size(1));
    for i in 0..10 {
        capture_with(&client, &format!("burst {i}"));
    }
    assert!(client.flush(Duration::from_secs(10)));
    capture_with(&client, "after");
    assert!(client.flush(Duration::from_secs(10)));
    let delivered = server.events().len() as u64;
    let overflow: u64 = server
        .client_reports()
        .iter()
        .flat_map(|r| {
            r["discarded_events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|d| d["reason"] == "queue_overflow" && d["category"] == "error")
        .map(|d| d["quantity"].as_u64().unwrap())
        .sum();
    assert!(overflow >= 1, "some events overflowed");
    assert_eq!(delivered + overflow, 11);
}

#[test]
fn flush_honours_its_timeout() {
    let server = TestServer::start();
    server.push(Reply::status(200).delay(Duration::from_secs(3)));
    let client = client_for(&server.dsn(), |o| {
        o.shutdown_timeout(Duration::from_millis(100))
    });
    capture_with(&client, "slow");
    let t = Instant::now();
    assert!(!client.flush(Duration::from_millis(300)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let t = Instant::now();
    drop(client);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn spool_delivers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then free it so the first client finds the server down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dsn = format!("http://publickey@127.0.0.1:{port}/1");
    let ids = {
        let client = client_for(&dsn, |o| o.spool_dir(dir.path()));
        let ids = vec![
            capture_with(&client, "offline 1"),
            capture_with(&client, "offline 2"),
        ];
        assert!(client.flush(Duration::from_secs(10)));
        ids
        // dropped here: "process exit"
    };
    let spooled = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(spooled, 2, "both envelopes are on disk");

    let server = TestServer::start_on(&format!("127.0.0.1:{port}"));
    let client = client_for(&dsn, |o| o.spool_dir(dir.path()));
    assert!(
        server.wait_for(2, Duration::from_secs(10)),
        "spooled envelopes replayed"
    );
    let got: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.envelope.header["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got,
        ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        "oldest first"
    );
    let end = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(dir.path()).unwrap().count() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    drop(client);
}

#[test]
fn test_transport_envelopes_parse_with_correct_lengths() {
    let transport = errata::test::TestTransport::new();
    let t = transport.clone();
    let client = Client::new(ClientOptions::new().transport(move |_| t.clone()));
    capture_with(&client, "multi\nline\r\nmessage");
    assert!(client.flush(Duration::from_secs(10)));
    let raw = transport.raw();
    assert_eq!(raw.len(), 1);
    let parsed = errata::protocol::parse_envelope(&raw[0]).unwrap();
    for (h, p) in &parsed.items {
        assert_eq!(h["length"].as_u64().unwrap() as usize, p.len());
        serde_json::from_slice::<serde_json::Value>(p).unwrap();
    }
    assert!(raw[0].ends_with(b"\n"));
}
