use serde_json::json;

use super::*;
use crate::normalize::{normalize, NormalizeContext};
use crate::store::{NewArtifactFile, NewBundle};

const ORIGINAL: &str = "function fail(message) {\n  throw new Error(message);\n}\nfunction main() {\n  fail(\"x\");\n}\nmain();\n";
const MINIFIED: &str = "function a(b){throw new Error(b)}async function c(){a(\"x\")}c();\n//# sourceMappingURL=app.min.js.map\n";
const DEBUG_ID: &str = "3f6a8e2c-1b2d-4c5e-8f90-a1b2c3d4e5f6";

/// The map of [`MINIFIED`] back to [`ORIGINAL`] (`src/app.js`).
fn map_json() -> Vec<u8> {
    let mut b = sourcemap::SourceMapBuilder::new(Some("app.min.js"));
    let src = b.add_source("../src/app.js");
    b.set_source_contents(src, Some(ORIGINAL));
    for (dst_col, src_line, src_col, name) in [
        (0, 0, 0, None),
        (9, 0, 9, Some("fail")),
        (14, 1, 2, None),
        (33, 3, 0, None),
        (48, 3, 9, Some("main")),
        (52, 4, 2, Some("fail")),
        (59, 6, 0, Some("main")),
    ] {
        b.add(
            0,
            dst_col,
            src_line,
            src_col,
            Some("../src/app.js"),
            name,
            false,
        );
    }
    let mut out = Vec::new();
    b.into_sourcemap().to_writer(&mut out).unwrap();
    out
}

fn event(extra: serde_json::Value) -> Normalized {
    let frame = |function: &str, col: u64| {
        json!({"function": function, "filename": "http://localhost:5000/static/app.min.js",
               "lineno": 1, "colno": col, "in_app": true})
    };
    let mut ev = json!({"platform": "javascript", "exception": {"values": [{"type": "Error", "value": "x",
        "stacktrace": {"frames": [frame("?", 60), frame("c", 53), frame("a", 15),
            {"function": "forEach", "filename": "[native code]", "in_app": true}]}}]}});
    if let (Some(ev), Some(extra)) = (ev.as_object_mut(), extra.as_object()) {
        ev.extend(extra.clone());
    }
    normalize(
        ev,
        &NormalizeContext {
            received_ms: 1_700_000_000_000,
            envelope_event_id: None,
            client_ip: None,
            timestamp_bounds: crate::normalize::TimestampBounds::UNBOUNDED,
        },
    )
}

async fn store_with(files: Vec<NewArtifactFile>, release: Option<&str>) -> (Store, i64) {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let project = store.create_project("web").await.unwrap();
    store
        .insert_bundle(&NewBundle {
            project_ids: &[project.id],
            checksum: "0000000000000000000000000000000000000001",
            release,
            dist: None,
            size: 1,
            files: &files,
            chunks: &[],
        })
        .await
        .unwrap();
    (store, project.id)
}

fn files(debug_id: Option<&str>, map_header: bool) -> Vec<NewArtifactFile> {
    vec![
        NewArtifactFile {
            url: Some("~/static/app.min.js".into()),
            kind: ArtifactKind::MinifiedSource,
            debug_id: debug_id.map(str::to_owned),
            sourcemap: map_header.then(|| "app.min.js.map".to_owned()),
            content: MINIFIED.as_bytes().to_vec(),
        },
        NewArtifactFile {
            url: Some("~/static/app.min.js.map".into()),
            kind: ArtifactKind::SourceMap,
            debug_id: debug_id.map(str::to_owned),
            sourcemap: None,
            content: map_json(),
        },
    ]
}

fn frames(n: &Normalized) -> Vec<Value> {
    n.event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn assert_original(n: &Normalized) {
    let f = frames(n);
    let top = &f[2];
    assert_eq!(top["function"], "fail", "{top}");
    assert_eq!(top["filename"], "src/app.js");
    assert_eq!(top["abs_path"], "http://localhost:5000/src/app.js");
    assert_eq!(
        (top["lineno"].as_u64(), top["colno"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(top["context_line"], "  throw new Error(message);");
    assert_eq!(top["pre_context"], json!(["function fail(message) {"]));
    assert_eq!(top["post_context"][0], "}");
    assert_eq!(
        top["data"]["minified"],
        json!({"abs_path": "http://localhost:5000/static/app.min.js", "function": "a", "lineno": 1, "colno": 15})
    );
    assert_eq!(f[1]["function"], "main");
    assert_eq!(f[1]["lineno"], 5);
    assert!(f[3]["data"].is_null(), "native frames are left alone");
    let raw = &n.event["exception"]["values"][0]["raw_stacktrace"]["frames"][2];
    assert_eq!(raw["function"], "a", "the minified stack is kept");
    assert_eq!(n.fields.culprit.as_deref(), Some("src/app.js in fail"));
}

#[tokio::test]
async fn resolves_by_debug_id() {
    let (store, project) = store_with(files(Some(DEBUG_ID), false), None).await;
    let maps = SourceMaps::new(1 << 20);
    let mut n = event(json!({"debug_meta": {"images": [{"type": "sourcemap",
        "code_file": "http://localhost:5000/static/app.min.js", "debug_id": DEBUG_ID.to_uppercase()}]}}));
    assert!(resolve_event(&store, &maps, project, &mut n).await);
    assert_original(&n);
    assert_eq!(frames(&n)[2]["data"]["resolved_with"], "debug-id");
    assert!(maps.used() > 0, "the parsed map is cached");
    // Another project never resolves with this project's files.
    let mut other = event(json!({"debug_meta": {"images": [{"type": "sourcemap",
        "code_file": "http://localhost:5000/static/app.min.js", "debug_id": DEBUG_ID}]}}));
    assert!(resolve_event(&store, &maps, project + 1, &mut other).await);
    let note = frames(&other)[2]["data"]["sourcemap_error"].clone();
    assert!(
        note.as_str()
            .unwrap()
            .contains("no source map was uploaded with debug ID"),
        "{note}"
    );
    assert_eq!(frames(&other)[2]["function"], "a");
}

#[tokio::test]
async fn resolves_by_release_url_with_header_or_comment() {
    for header in [true, false] {
        let (store, project) = store_with(files(None, header), Some("web@1")).await;
        let maps = SourceMaps::new(1 << 20);
        let mut n = event(json!({"release": "web@1"}));
        assert!(resolve_event(&store, &maps, project, &mut n).await);
        assert_original(&n);
        assert_eq!(frames(&n)[2]["data"]["resolved_with"], "release");
    }
}

#[tokio::test]
async fn missing_maps_are_noted_per_frame_and_later_uploads_are_seen() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let project = store.create_project("web").await.unwrap().id;
    let maps = SourceMaps::new(1 << 20);
    let mut n = event(json!({}));
    assert!(resolve_event(&store, &maps, project, &mut n).await);
    for f in &frames(&n)[..3] {
        let note = f["data"]["sourcemap_error"].as_str().unwrap_or_default();
        assert!(note.contains("no debug ID"), "{note}");
    }
    let mut n = event(json!({"release": "web@2"}));
    resolve_event(&store, &maps, project, &mut n).await;
    let note = frames(&n)[2]["data"]["sourcemap_error"].clone();
    assert!(note.as_str().unwrap().contains("release web@2"), "{note}");
    // The maps arrive: the next event resolves (the cached "none" is forgotten).
    store
        .insert_bundle(&NewBundle {
            project_ids: &[project],
            checksum: "0000000000000000000000000000000000000002",
            release: Some("web@2"),
            dist: None,
            size: 1,
            files: &files(None, true),
            chunks: &[],
        })
        .await
        .unwrap();
    maps.uploaded();
    let mut n = event(json!({"release": "web@2"}));
    resolve_event(&store, &maps, project, &mut n).await;
    assert_original(&n);
}

#[tokio::test]
async fn positions_without_mapping_and_other_platforms() {
    let (store, project) = store_with(files(None, true), Some("web@1")).await;
    let maps = SourceMaps::new(1 << 20);
    let mut n = event(json!({"release": "web@1"}));
    if let Some(f) = n
        .event
        .pointer_mut("/exception/values/0/stacktrace/frames/1")
    {
        f["lineno"] = json!(40);
    }
    resolve_event(&store, &maps, project, &mut n).await;
    let f = frames(&n);
    let note = f[1]["data"]["sourcemap_error"].as_str().unwrap_or_default();
    assert!(note.contains("no mapping for line 40"), "{note}");
    assert_eq!(f[1]["lineno"], 40, "left as it was");
    assert_eq!(
        f[2]["function"], "fail",
        "one bad frame spoils nothing else"
    );
    let mut node = event(json!({"platform": "node"}));
    let before = node.event.clone();
    resolve_event(&store, &maps, project, &mut node).await;
    assert_eq!(node.event, before, "no notes on unresolved Node.js frames");
    let mut py = event(json!({"platform": "python", "release": "web@1"}));
    let before = py.event.clone();
    assert!(!resolve_event(&store, &maps, project, &mut py).await);
    assert_eq!(py.event, before);
}
