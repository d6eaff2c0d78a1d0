//! `errata::monitor` and `errata::check_in`: the check-ins a job sends, captured by the test
//! transport: `in_progress` then `ok`/`error` with one id and the duration, an `Err` or a
//! panic as `error` (the panic also an event), defaults from the client's options.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use errata::test::TestTransport;
use errata::{
    CheckIn, CheckInStatus, Client, ClientOptions, Hub, IntervalUnit, MonitorConfig, Scope,
};
use serde_json::Value;

/// Runs `f` on a hub whose client captures envelopes; returns the check-ins and events.
fn captured(f: impl FnOnce()) -> (Vec<Value>, Vec<Value>) {
    let transport = TestTransport::new();
    let t = transport.clone();
    let options = ClientOptions::new()
        .dsn("http://key@127.0.0.1:1/1")
        .environment("staging")
        .release("jobs@1.0")
        .transport(move |_| t.clone());
    let client = Client::new(options);
    errata::panic::install_panic_hook();
    Hub::run(Hub::new(Some(client.clone()), Scope::empty()), f);
    client.flush(Duration::from_secs(10));
    let envelopes = transport.envelopes();
    let items = |ty: &str| envelopes.iter().flat_map(|e| e.json_items(ty)).collect();
    (items("check_in"), items("event"))
}

#[test]
fn a_job_is_two_check_ins_with_one_id() {
    let config = MonitorConfig::crontab("0 2 * * *").timezone("Europe/Berlin");
    let (checkins, events) = captured(|| {
        let out: Result<u32, String> = errata::monitor("nightly", Some(config), || {
            std::thread::sleep(Duration::from_millis(30));
            Ok(7)
        });
        assert_eq!(out, Ok(7));
    });
    assert!(events.is_empty());
    assert_eq!(checkins.len(), 2, "{checkins:?}");
    let (start, end) = (&checkins[0], &checkins[1]);
    assert_eq!(start["status"], "in_progress");
    assert_eq!(end["status"], "ok");
    assert_eq!(start["check_in_id"], end["check_in_id"]);
    assert_eq!(start["check_in_id"].as_str().unwrap().len(), 32);
    assert!(end["duration"].as_f64().unwrap() >= 0.03, "{end}");
    assert_eq!(start["monitor_config"]["timezone"], "Europe/Berlin");
    assert_eq!(
        (&end["environment"], &end["release"]),
        (&Value::from("staging"), &Value::from("jobs@1.0"))
    );
}

#[test]
fn an_err_or_a_panic_is_an_error_check_in() {
    let (checkins, _) = captured(|| {
        let out: Result<(), &str> = errata::monitor("failing", None, || Err("disk full"));
        assert!(out.is_err());
    });
    assert_eq!(checkins[1]["status"], "error");
    assert!(checkins[0].get("monitor_config").is_none());

    let (checkins, events) = captured(|| {
        let caught = std::panic::catch_unwind(|| {
            errata::monitor("panicking", None, || -> () {
                panic!("backup target vanished")
            })
        });
        assert!(caught.is_err(), "the panic goes on");
    });
    assert_eq!(checkins.len(), 2);
    assert_eq!(checkins[1]["status"], "error");
    assert_eq!(events.len(), 1, "the panic is captured too");
    assert_eq!(
        events[0]["exception"]["values"][0]["value"],
        "backup target vanished"
    );
}

#[test]
fn single_check_ins_and_no_client() {
    let (checkins, _) = captured(|| {
        let id = errata::check_in(
            CheckIn::new("hourly", CheckInStatus::Ok)
                .duration(Duration::from_secs(3))
                .environment("production")
                .config(MonitorConfig::interval(1, IntervalUnit::Hour)),
        );
        assert_eq!(id.simple().to_string().len(), 32);
    });
    assert_eq!(
        checkins[0]["environment"], "production",
        "its own environment wins"
    );
    assert_eq!(checkins[0]["duration"], 3.0);
    assert_eq!(checkins[0]["monitor_config"]["schedule"]["unit"], "hour");
    // Without a client: the job still runs, nothing is sent.
    let ran = Hub::run(Hub::new(None, Scope::empty()), || {
        errata::monitor("x", None, || Ok::<_, ()>(5))
    });
    assert_eq!(ran, Ok(5));
}
