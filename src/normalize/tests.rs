//! Whole-pipeline normalization tests.

use serde_json::{json, Value};

use super::{normalize, NormalizeContext, MAX_STRING_BYTES};
use crate::protocol::{EventId, Level};

const RECEIVED_MS: i64 = 1_795_000_000_123;

fn ctx() -> NormalizeContext {
    NormalizeContext {
        received_ms: RECEIVED_MS,
        envelope_event_id: None,
        client_ip: "198.51.100.7".parse().ok(),
        timestamp_bounds: Default::default(),
    }
}

fn errors(ev: &Value) -> Vec<(String, String)> {
    ev["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn defaults_for_an_empty_event() {
    let n = normalize(json!({}), &ctx());
    assert_eq!(n.fields.level, Level::Error);
    assert_eq!(n.fields.platform, "other");
    assert_eq!(n.fields.timestamp_ms, RECEIVED_MS);
    assert_eq!(n.fields.received_ms, RECEIVED_MS);
    assert_eq!(n.fields.title, "<unlabeled event>");
    assert_eq!(n.fields.culprit, None);
    assert_eq!(n.event["event_id"], n.fields.event_id.simple());
    assert_eq!(n.event["timestamp"], "2026-11-18T11:06:40.123000Z");
    assert_eq!(n.event["received"], "2026-11-18T11:06:40.123000Z");
    assert_eq!(n.event["level"], "error");
    assert_eq!(n.event["platform"], "other");
    assert!(n.event.get("errors").is_none());
}

#[test]
fn event_id_precedence() {
    let header: EventId = "9ec79c33ec9942ab8353589fcb2e04dc"
        .parse()
        .expect("valid id");
    let payload = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE";
    let mut c = ctx();
    c.envelope_event_id = Some(header);
    let n = normalize(json!({ "event_id": payload }), &c);
    assert_eq!(n.fields.event_id, header);
    assert_eq!(n.event["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
    let n = normalize(json!({ "event_id": payload }), &ctx());
    assert_eq!(n.event["event_id"], "aaaaaaaabbbb4ccc8dddeeeeeeeeeeee");
    let n = normalize(json!({ "event_id": "nope" }), &ctx());
    assert_eq!(n.event["event_id"].as_str().map(str::len), Some(32));
    assert_eq!(
        errors(&n.event),
        [("invalid_data".to_owned(), "event_id".to_owned())]
    );
}

#[test]
fn timestamp_forms() {
    // Four days after RECEIVED_MS: the forms, not the bounds, are under test here.
    let ctx = || NormalizeContext {
        timestamp_bounds: super::TimestampBounds::UNBOUNDED,
        ..self::ctx()
    };
    let n = normalize(
        json!({"timestamp": "2026-11-22T04:33:10.625591+01:00"}),
        &ctx(),
    );
    assert_eq!(n.event["timestamp"], "2026-11-22T03:33:10.625591Z");
    assert_eq!(n.fields.timestamp_ms, 1_795_318_390_625);
    let n = normalize(json!({"timestamp": 1_795_318_390.625_591}), &ctx());
    assert_eq!(n.event["timestamp"], "2026-11-22T03:33:10.625591Z");
    let n = normalize(json!({"timestamp": 1_795_318_390}), &ctx());
    assert_eq!(n.event["timestamp"], "2026-11-22T03:33:10.000000Z");
    let n = normalize(json!({"timestamp": "garbage"}), &ctx());
    assert_eq!(n.fields.timestamp_ms, RECEIVED_MS);
    assert_eq!(
        errors(&n.event),
        [("invalid_data".to_owned(), "timestamp".to_owned())]
    );
}

#[test]
fn far_future_timestamps_become_the_receive_time_with_an_error() {
    let n = normalize(json!({"timestamp": 253_402_300_799_i64}), &ctx());
    assert_eq!(n.fields.timestamp_ms, RECEIVED_MS);
    assert_eq!(n.event["timestamp"], "2026-11-18T11:06:40.123000Z");
    assert_eq!(
        errors(&n.event),
        [("future_timestamp".to_owned(), "timestamp".to_owned())]
    );
    assert_eq!(n.event["errors"][0]["value"], 253_402_300_799_i64);
}

#[test]
fn level_aliases_and_integers() {
    assert_eq!(
        normalize(json!({"level": 40}), &ctx()).fields.level,
        Level::Error
    );
    assert_eq!(
        normalize(json!({"level": 30}), &ctx()).fields.level,
        Level::Warning
    );
    assert_eq!(
        normalize(json!({"level": "critical"}), &ctx()).fields.level,
        Level::Fatal
    );
    let n = normalize(json!({"level": "log"}), &ctx());
    assert_eq!(
        (n.fields.level, &n.event["level"]),
        (Level::Info, &json!("info"))
    );
}

#[test]
fn tags_both_forms() {
    let n = normalize(json!({"tags": {"region": "eu", "ok": false}}), &ctx());
    let mut tags = n.fields.tags.clone();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("ok".to_owned(), "False".to_owned()),
            ("region".to_owned(), "eu".to_owned())
        ]
    );
    let n = normalize(json!({"tags": [["a b", " 1 "], ["c", 2]]}), &ctx());
    assert_eq!(n.event["tags"], json!([["a-b", "1"], ["c", "2"]]));
}

#[test]
fn logentry_formatting_and_title() {
    let n = normalize(
        json!({"logentry": {"message": "User %s exceeded quota %d", "params": ["alice", 5]}}),
        &ctx(),
    );
    assert_eq!(
        n.event["logentry"]["formatted"],
        "User alice exceeded quota 5"
    );
    assert_eq!(n.event["logentry"]["message"], "User %s exceeded quota %d");
    assert_eq!(n.fields.title, "User alice exceeded quota 5");
    let n = normalize(json!({"message": "Nightly export finished"}), &ctx());
    assert_eq!(
        n.event["logentry"],
        json!({"formatted": "Nightly export finished"})
    );
    assert!(n.event.get("message").is_none());
    assert_eq!(n.fields.title, "Nightly export finished");
}

#[test]
fn legacy_interfaces_and_exception_title() {
    let n = normalize(
        json!({
            "sentry.interfaces.Exception": {"type": "ZeroDivisionError", "value": "division by zero"},
            "sentry.interfaces.Message": {"message": "boom", "formatted": null},
            "culprit": "legacy",
            "platform": "python",
            "level": 40,
        }),
        &ctx(),
    );
    assert_eq!(n.fields.title, "ZeroDivisionError: division by zero");
    assert_eq!(
        n.event["exception"],
        json!({"values": [{"type": "ZeroDivisionError", "value": "division by zero"}]})
    );
    assert_eq!(n.event["logentry"], json!({"message": "boom"}));
    assert_eq!(n.event["culprit"], "legacy");
}

#[test]
fn user_auto_ip_and_key() {
    let n = normalize(
        json!({"user": {"id": 42, "ip_address": "{{auto}}"}}),
        &ctx(),
    );
    assert_eq!(n.fields.user_key.as_deref(), Some("id:42"));
    assert_eq!(
        n.event["user"],
        json!({"id": "42", "ip_address": "198.51.100.7"})
    );
}

#[test]
fn strings_trimmed_with_marker() {
    let n = normalize(
        json!({"extra": {"payload": "x".repeat(MAX_STRING_BYTES * 2)}, "release": "  r1  "}),
        &ctx(),
    );
    let s = n.event["extra"]["payload"].as_str().unwrap_or("");
    assert!(s.len() <= MAX_STRING_BYTES && s.ends_with('…'));
    assert_eq!(n.fields.release.as_deref(), Some("r1"));
    assert_eq!(
        errors(&n.event),
        [("value_too_long".to_owned(), "extra.payload".to_owned())]
    );
}

#[test]
fn nan_nulls_are_absent_values() {
    // The lenient JSON layer turns Python's NaN/Infinity into null before we see the event.
    let n = normalize(
        json!({"timestamp": null, "level": null, "release": null, "tags": {"t": null},
               "extra": {"ratio": null}, "exception": {"values": [{"type": "E", "value": null,
               "stacktrace": {"frames": [{"function": "f", "lineno": null, "vars": {"x": null}}]}}]}}),
        &ctx(),
    );
    assert_eq!(n.fields.timestamp_ms, RECEIVED_MS);
    assert_eq!(n.fields.level, Level::Error);
    assert_eq!(n.fields.release, None);
    assert!(n.fields.tags.is_empty());
    assert_eq!(n.fields.title, "E");
    assert!(n.event.get("errors").is_none(), "{}", n.event["errors"]);
    assert_eq!(n.event["extra"]["ratio"], Value::Null);
}

#[test]
fn garbage_fields_are_recorded_and_the_event_kept() {
    let n = normalize(
        json!({
            "platform": 7, "release": {"v": 1}, "tags": "x", "user": "bob", "contexts": [1],
            "fingerprint": [{}], "exception": {"values": "x"}, "breadcrumbs": 3,
            "logentry": {"message": "still here"}, "custom_key": {"kept": true},
            "errors": [{"type": "sdk_error"}],
        }),
        &ctx(),
    );
    let names: Vec<String> = errors(&n.event).into_iter().map(|(_, name)| name).collect();
    for want in [
        "platform",
        "release",
        "tags",
        "user",
        "contexts",
        "fingerprint",
        "exception.values",
        "breadcrumbs",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert_eq!(n.event["errors"][0], json!({"type": "sdk_error"}));
    assert_eq!(n.event["custom_key"], json!({"kept": true}));
    assert_eq!(n.fields.title, "still here");
    assert_eq!(n.fields.platform, "other");
    let n = normalize(json!([1, 2]), &ctx());
    assert_eq!(
        errors(&n.event),
        [("invalid_data".to_owned(), String::new())]
    );
}

#[test]
fn frames_in_app_resolved_and_culprit() {
    let n = normalize(
        json!({"platform": "python", "transaction": "", "exception": {"values": [{"type": "E",
        "stacktrace": {"frames": [
            {"module": "app.views", "function": "index", "in_app": true},
            {"module": "requests.api", "function": "get", "abs_path": "/venv/lib/site-packages/requests/api.py", "in_app": true},
        ]}}]}}),
        &ctx(),
    );
    let frames = &n.event["exception"]["values"][0]["stacktrace"]["frames"];
    assert_eq!(frames[1]["in_app"], false);
    assert_eq!(frames[1]["in_app_sdk"], true);
    assert_eq!(n.fields.culprit.as_deref(), Some("app.views in index"));
    assert_eq!(n.transaction, None);
}

#[test]
fn normalizing_is_idempotent_for_grouping() {
    let raw = json!({"platform": "native", "exception": [{"type": "panic", "stacktrace": {"frames": [
        {"function": "main", "in_app": true}, {"function": "app::run", "in_app": true}]}}]});
    let once = normalize(raw, &ctx());
    let twice = normalize(once.event.clone(), &ctx());
    let grouping = crate::grouping::group(&once.view());
    assert_eq!(grouping, crate::grouping::group(&twice.view()));
    assert_eq!(grouping.values, ["type:panic", "fn:app::run"]);
    let frame = &twice.event["exception"]["values"][0]["stacktrace"]["frames"][0];
    assert_eq!(
        (&frame["in_app"], &frame["in_app_sdk"]),
        (&json!(false), &json!(true))
    );
}

/// Normalizing the bytes (`normalize_payload`: read members parsed, the rest passed through as
/// text) gives the same stored event, the same indexed fields and the same grouping as
/// normalizing the whole tree (`parse_lenient` + `normalize`), and refuses the same inputs.
/// Returns how many members passed through.
fn same_as_whole_tree(payload: &[u8]) -> usize {
    let mut c = ctx();
    c.envelope_event_id = "9ec79c33ec9942ab8353589fcb2e04dc".parse().ok();
    let old = match crate::protocol::json::parse_lenient(payload) {
        Ok(Value::Object(map)) => Ok(normalize(Value::Object(map), &c)),
        Ok(_) => Err("not an object".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    let new = super::normalize_payload(payload, &c).map_err(|e| match e {
        super::PayloadError::Json(e) => e.to_string(),
        super::PayloadError::NotObject => "not an object".to_owned(),
    });
    let text = String::from_utf8_lossy(payload);
    let (old, new) = match (old, new) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "same refusal for {text}");
            return 0;
        }
        (old, new) => panic!("old {:?} vs new {:?} for {text}", old.err(), new.err()),
    };
    let stored = new.to_value();
    if stored.is_null() {
        // Deeper than serde_json reads back (a list form made `{"values": …}` adds a level):
        // then the same bytes, which the tree path stores just as unreadable.
        let mut bytes = Vec::new();
        new.write_json(&mut bytes);
        let old_bytes = serde_json::to_vec(&old.event).expect("serializes");
        assert!(bytes == old_bytes, "stored event for {text}");
    } else {
        // Both as stored: written and read back (serde_json's floats need not round-trip).
        let old_stored: Value = serde_json::to_vec(&old.event)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        let mut differ = Vec::new();
        differences(&stored, &old_stored, "", &mut differ);
        assert!(
            differ.is_empty(),
            "stored event differs at {differ:?} for {text:.300}"
        );
    }
    assert_eq!(format!("{:?}", new.fields), format!("{:?}", old.fields));
    assert_eq!(new.transaction, old.transaction);
    let grouping = crate::grouping::group(&old.view());
    assert_eq!(
        crate::grouping::group(&new.view()),
        grouping,
        "grouping for {text}"
    );
    // Kept frames brought into the tree (before source-map resolution) are the same frames.
    let mut whole = new.clone();
    whole.frames_into_tree();
    assert!(whole.frame_text.is_empty());
    assert_eq!(whole.to_value(), stored, "frames into the tree for {text}");
    assert_eq!(crate::grouping::group(&whole.view()), grouping);
    new.passthrough.len()
}

/// The paths where `a` and `b` differ, with both values cut short (an event's whole JSON in
/// a failure message hides the difference).
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(va, vb, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}.{i}"), out);
            }
        }
        _ if a != b => out.push(format!(
            "{path}: {:.120} vs {:.120}",
            a.to_string(),
            b.to_string()
        )),
        _ => {}
    }
}

/// The `event` items of every recorded SDK envelope.
fn fixture_events() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(crate::protocol::PYTHON_FIXTURES);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "envelope") {
            continue;
        }
        let body = std::fs::read(&path).expect("fixture");
        if let Ok(envelope) = crate::protocol::envelope::Envelope::parse(body.into()) {
            out.extend(
                envelope
                    .payloads(&crate::protocol::envelope::ItemType::Event)
                    .map(|p| p.to_vec()),
            );
        }
    }
    out
}

#[test]
fn normalizing_bytes_equals_normalizing_the_whole_tree() {
    let events = fixture_events();
    assert!(events.len() >= 20, "only {} fixture events", events.len());
    let long = "é".repeat(MAX_STRING_BYTES);
    // Members added to every fixture: each passes through or must not.
    let additions = [
        String::new(),
        r#","modules":5,"extra":"x","sdk":null,"_meta":[1]"#.to_owned(),
        format!(r#","blob":"{long}","extra":{{"k":"{long}"}}"#),
        r#","extra":{"a":1e400}"#.to_owned(),
        r#","extra":{"s":"\ud83d!"},"zz":"\ud83d\ude00""#.to_owned(),
        r#","extra":{"n":NaN},"other":[Infinity]"#.to_owned(),
        r#","extra":{"a":1},"extra":{"b":2},"modules":{"m":"1"},"modules":7"#.to_owned(),
        r#","sentry.interfaces.Http":{"url":"http://x/"},"contexts":{"a":1,"b":{}}"#.to_owned(),
        r#", "spans" : [ {"op":"db"} ] , "measurements":{ "lcp": {"value": 1.5} } "#.to_owned(),
        format!(r#","deep":{}{}"#, "[".repeat(130), "]".repeat(130)),
        format!(r#","deep":{}{}"#, "[".repeat(126), "]".repeat(126)),
        format!(r#","deep":{}{}"#, "[".repeat(127), "]".repeat(127)),
        format!(r#","deep":{{"k":{}1{}}}"#, "[".repeat(125), "]".repeat(125)),
        format!(r#","deep":{{"k":{}1{}}}"#, "[".repeat(126), "]".repeat(126)),
        r#","breadcrumbs":{"values":[{"message":"a"},null,7]}"#.to_owned(),
        r#","breadcrumbs":[{"message":"a"}],"sentry.interfaces.Breadcrumbs":{"values":[]}"#
            .to_owned(),
        r#","breadcrumbs":{"values":[{"m":"a"}]},"sentry.interfaces.Breadcrumbs":{"values":[]}"#
            .to_owned(),
        r#","sentry.interfaces.Breadcrumbs":{"values":[{"m":"b"}]}"#.to_owned(),
        r#","breadcrumbs":{"values":[{"m":"a"}],"x":1}"#.to_owned(),
        r#","breadcrumbs":{"values":[{"m":"a"}]},"breadcrumbs":null"#.to_owned(),
        format!(r#","breadcrumbs":{{"values":[{}{{}}]}}"#, "{},".repeat(150)),
        r#","breadcrumbs":{"values":[{"\ud800":1}]},"extra":{"\udfff":2}"#.to_owned(),
        r#","n":123456789012345678901234567890,"f":1.0e2,"u":"\u00e9\n""#.to_owned(),
        // Brackets and quotes inside strings, surrogate escapes that pair, numbers just inside
        // and past `f64`'s range: what a check of kept members short of a parse could misjudge.
        r#","extra":{"s":"]]}}[[{{\"\\","t":["\ud7ff\ue000"]}"#.to_owned(),
        format!(
            r#","extra":{{"n":{}}},"m":[-{}]"#,
            "9".repeat(299),
            "9".repeat(300)
        ),
        format!(r#","extra":{{"n":{}}}"#, "9".repeat(310)),
        r#","extra":{"max":1.7976931348623157e308,"over":[1.8e308]}"#.to_owned(),
    ];
    let mut passed_through = 0;
    for event in &events {
        let text = std::str::from_utf8(event).expect("fixture is UTF-8");
        let body = text.trim_end().strip_suffix('}').expect("an object");
        for add in &additions {
            passed_through += same_as_whole_tree(format!("{body}{add}}}").as_bytes());
        }
        passed_through += same_as_whole_tree(event);
    }
    // The SDK's `modules`, `sdk`, `extra`, … and the added members: the split was exercised.
    assert!(
        passed_through > 4 * events.len(),
        "{passed_through} passed through"
    );
    for odd in [
        "[1]",
        "{}",
        "null",
        r#"{"a":1} x"#,
        "{\"a\":\"\u{1}\"}",
        "\u{feff}{}",
        r#"{"extra":{"a":1}}"#,
    ] {
        same_as_whole_tree(odd.as_bytes());
    }
    same_as_whole_tree(b"{\"extra\":{\"a\":\"\xff\"}}");
}

/// Frames kept as text (`frame_text`) give the same stored event, fields and grouping as the
/// whole tree, in every form a stack trace comes in, on every platform whose in-app rules read
/// frames, at the nesting limit, with what the checks refuse and with frames of both kinds in
/// one stack.
#[test]
fn frames_kept_as_text_equal_the_whole_tree() {
    let long = "é".repeat(MAX_STRING_BYTES);
    let frame_members = [
        r#""pre_context":["a","b"],"context_line":"c","post_context":["d"],"vars":{"x":[1,{"y":null}]}"#.to_owned(),
        r#""vars":{"a":1},"vars":{"b":2},"pre_context":[],"pre_context":null"#.to_owned(),
        format!(r#""vars":{{"big":"{long}"}},"pre_context":["{long}"]"#),
        format!(r#""vars":{{"a":1}},"vars":"{long}""#),
        r#""vars":{"n":1e400}"#.to_owned(),
        r#""vars":{"s":"\ud83d"},"post_context":["\ud83d\ude00"]"#.to_owned(),
        r#""vars":{"n":NaN}"#.to_owned(),
        r#""\u0000errata_frame_text":1,"vars":{}"#.to_owned(),
        r#""in_app":true,"vars":7,"post_context":"x""#.to_owned(),
        // Kept frames' own members: escapes, in-app forms, numbers, types and repeats that the
        // tree reads in its own way.
        r#""function":"r\u00e9un","abs_path":"C:\\app\\main.py","filename":"\/x.py""#.to_owned(),
        r#""in_app":1,"in_app2":true"#.to_owned(),
        r#""in_app":null,"in_app_sdk":true"#.to_owned(),
        r#""in_app":"yes","context_line":"""#.to_owned(),
        r#""in_app_sdk":false,"in_app":true,"platform":"native""#.to_owned(),
        r#""function":"_start","package":0,"platform":"native""#.to_owned(),
        r#""function":"_start","package":[1],"platform":"native""#.to_owned(),
        r#""function":"main","package":"","platform":"native","in_app":true"#.to_owned(),
        r#""abs_path":"/rustc/x/src/lib.rs","platform":"native","function":"app::f""#.to_owned(),
        r#""abs_path":"chrome-extension://x/a.js","platform":"javascript","in_app":true"#
            .to_owned(),
        r#""filename":"node:internal/x","in_app":true"#.to_owned(),
        r#""lineno":-0,"colno":12.0"#.to_owned(),
        r#""lineno":1e2,"colno":123456789012345678901"#.to_owned(),
        r#""lineno":"3","colno":null,"module":7"#.to_owned(),
        r#""function":"a","function":"b""#.to_owned(),
        r#""function":{"n":1},"raw_function":"raw""#.to_owned(),
        r#""context_line":"x\ty","pre_context":["\u0000"]"#.to_owned(),
    ];
    // `vars` of a frame in `{"exception": {"values": [...]}}` sits at level 8 of the event.
    let deep = |n: usize| format!(r#""vars":{}1{}"#, "[".repeat(n), "]".repeat(n));
    let frame_members = frame_members
        .into_iter()
        .chain((118..=122).map(deep))
        .collect::<Vec<_>>();
    let mut kept = 0;
    for members in &frame_members {
        let frame = format!(r#"{{"function":"run","module":"app.main","lineno":3,{members}}}"#);
        // The frame twice (a recursion for grouping), then frames that are empty, not
        // objects, and a twin of the first that goes into the tree (too long).
        let twin = format!(
            r#"{{"function":"run","module":"app.main","lineno":3,"vars":{{"k":"{long}"}}}}"#
        );
        let frames = format!(
            r#"{{"frames":[{frame},{frame},{{}},null,{twin},{{"function":"run","module":"app.main","lineno":3}},{{"function":"f","vars":{{"k":"v"}}}}]}}"#
        );
        for event in [
            format!(
                r#"{{"platform":"python","exception":{{"values":[{{"type":"E","value":"v","stacktrace":{frames}}}]}}}}"#
            ),
            format!(
                r#"{{"exception":[{{"type":"E","raw_stacktrace":{frames},"stacktrace":{frames}}}]}}"#
            ),
            format!(r#"{{"exception":{{"type":"E","stacktrace":{frames}}}}}"#),
            format!(
                r#"{{"threads":{{"values":[{{"id":1,"stacktrace":{frames}}}]}},"message":"m"}}"#
            ),
            format!(r#"{{"stacktrace":{frames},"message":"m","extra":{{"k":1}}}}"#),
            format!(
                r#"{{"platform":"native","exception":{{"values":[{{"type":"panic","stacktrace":{frames}}}]}}}}"#
            ),
            format!(
                r#"{{"platform":"javascript","exception":{{"values":[{{"type":"E","stacktrace":{frames}}}]}},"sentry.interfaces.Exception":{{"values":[{{"stacktrace":{frames}}}]}}}}"#
            ),
            format!(
                r#"{{"sentry.interfaces.Exception":{{"values":[{{"type":"E","stacktrace":{frames}}}]}}}}"#
            ),
            format!(
                r#"{{"sentry.interfaces.Stacktrace":{frames},"exception":{{"values":{{"type":"E"}},"stacktrace":{frames}}}}}"#
            ),
            format!(
                r#"{{"exception":{{"values":[{{"type":"E","stacktrace":{{"frames":{frame}}}}}]}}}}"#
            ),
        ] {
            same_as_whole_tree(event.as_bytes());
            if let Ok(n) = super::normalize_payload(event.as_bytes(), &ctx()) {
                kept += usize::from(!n.frame_text.is_empty());
            }
        }
    }
    assert!(kept > 150, "frames kept as text in only {kept} events");
}

#[test]
fn every_stored_event_reads_back_however_deep_its_input() {
    // An interface sent as a bare list or a single entry is stored as `{"values": [...]}`, one
    // or two levels deeper than sent: an event at serde_json's nesting limit must still be
    // stored as a document it can read, whether the deep value went into the tree (`data`) or
    // was kept as text (a frame's `vars`).
    let frame = r#"{"frames":[{"function":"f","vars":DEEP,"data":DEEP}]}"#;
    let exception = format!(r#"{{"type":"E","mechanism":{{"data":DEEP}},"stacktrace":{frame}}}"#);
    let thread = format!(r#"{{"id":1,"stacktrace":{frame}}}"#);
    let forms = [
        r#"{"breadcrumbs":[{"data":DEEP}]}"#.to_owned(),
        format!(r#"{{"exception":[{exception}]}}"#),
        format!(r#"{{"exception":{exception}}}"#),
        format!(r#"{{"exception":{{"values":[{exception}]}}}}"#),
        format!(r#"{{"threads":[{thread}]}}"#),
        format!(r#"{{"threads":{thread}}}"#),
    ];
    let mut stored = 0;
    for form in &forms {
        for depth in 110..=130 {
            let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let body = form.replace("DEEP", &deep);
            let Ok(n) = super::normalize_payload(body.as_bytes(), &ctx()) else {
                continue;
            };
            let mut out = Vec::new();
            n.write_json(&mut out);
            let read: Result<Value, _> = serde_json::from_slice(&out);
            assert!(
                read.is_ok(),
                "{form} at depth {depth}: stored JSON unreadable: {:?}",
                read.err()
            );
            stored += 1;
        }
    }
    assert!(stored > 60, "only {stored} of the deep events were stored");
}
