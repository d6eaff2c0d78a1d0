//! JavaScript end to end (issue #17): a small multi-file app bundled and minified by the real
//! esbuild, source maps uploaded by the real `sentry-cli` (npm `@sentry/cli`, 3.x; the legacy
//! `releases files … upload-sourcemaps` by 2.x), the bundle loaded in headless Chromium with the
//! real `@sentry/browser`, the stored event read back through the read API; the releases API
//! as CI uses it; bad uploads refused with nothing stored.
//!
//! Needs `tests/js/node_modules` (`npm ci --prefix tests/js`, done by scripts/test) and
//! chromium; skips with a printed reason outside CI, fails in CI.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::web::{add_admin, EMAIL, PASSWORD};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Chromium (as the browser tests find it) and the packages of `tests/js`, or `None` with a
/// printed reason (a panic in CI).
fn tools() -> Option<PathBuf> {
    let chromium = crate::browser::browser_tools()?;
    if js_dir().join("node_modules/@sentry/cli").exists() {
        return Some(chromium);
    }
    let reason = "tests/js/node_modules missing (npm ci --prefix tests/js)";
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipping: {reason}");
    None
}

/// Runs a program from `tests/js/node_modules` with a time limit; panics when it cannot start.
async fn run(program: &Path, args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env("SENTRY_DISABLE_UPDATE_CHECK", "true")
        .env("SENTRY_LOG_LEVEL", "info")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} finishes within 2 minutes", program.display()))
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The CLI as a CI job runs it: `SENTRY_URL`, `SENTRY_AUTH_TOKEN`, `SENTRY_ORG`,
/// `SENTRY_PROJECT`, a home without a `.sentryclirc`.
struct Cli<'a> {
    app: &'a TestApp,
    token: String,
    home: tempfile::TempDir,
}

impl Cli<'_> {
    async fn run_with(&self, binary: &str, args: &[&str], cwd: &Path) -> Output {
        let bin = js_dir().join(binary);
        let home = self.home.path().display().to_string();
        run(
            &bin,
            args,
            &[
                ("SENTRY_URL", &self.app.base),
                ("SENTRY_AUTH_TOKEN", &self.token),
                ("SENTRY_ORG", "errata"),
                ("SENTRY_PROJECT", &self.app.project.name),
                ("HOME", &home),
            ],
            cwd,
        )
        .await
    }

    /// `sentry-cli` 3.x; panics unless it succeeds.
    async fn ok(&self, args: &[&str], cwd: &Path) -> String {
        let out = self
            .run_with("node_modules/@sentry/cli/bin/sentry-cli", args, cwd)
            .await;
        assert!(out.status.success(), "sentry-cli {args:?}: {}", text(&out));
        text(&out)
    }
}

/// A token that may only upload and use the releases API, as CI gets.
async fn ci_token(app: &TestApp) -> String {
    app.store
        .create_scoped_token("ci", "project:releases")
        .await
        .expect("scoped token")
}

async fn cli(app: &TestApp) -> Cli<'_> {
    Cli {
        app,
        token: ci_token(app).await,
        home: tempfile::tempdir().expect("home"),
    }
}

/// `GET {base}{path}` with a bearer token: status and JSON body.
async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let res = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A page's HTML for a signed-in browser.
async fn page(app: &TestApp, web: &reqwest::Client, cookie: &str, path: &str) -> String {
    web.get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html")
}

/// A fresh build directory under `tests/js/app/dist/` (removed on drop): beside `src/`, as in
/// a real project, so the maps list the sources as `../../src/…`.
fn work_dir() -> tempfile::TempDir {
    let root = js_dir().join("app/dist");
    std::fs::create_dir_all(&root).expect("dist dir");
    tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(root)
        .expect("work dir")
}

/// Bundles `tests/js/app/src/<entry>` with esbuild into `<out>/app.min.js` + map.
async fn build(entry: &str, out: &Path) {
    let app = js_dir().join("app");
    let outfile = out.join("app.min.js").display().to_string();
    let res = run(
        &js_dir().join("node_modules/.bin/esbuild"),
        &[
            &format!("src/{entry}"),
            "--bundle",
            "--minify",
            "--sourcemap",
            "--format=iife",
            "--log-level=warning",
            &format!("--outfile={outfile}"),
        ],
        &[],
        &app,
    )
    .await;
    assert!(res.status.success(), "esbuild: {}", text(&res));
}

/// Loads the bundle in Chromium; returns the event id the SDK reported and the driver's
/// output.
async fn throw_in_chromium(
    app: &TestApp,
    chromium: &Path,
    dist: &Path,
    release: Option<&str>,
    issue_page: Option<&str>,
) -> (String, String) {
    let mut env: Vec<(&str, String)> = vec![
        ("ERRATA_DIST", dist.display().to_string()),
        ("ERRATA_DSN", app.dsn()),
        ("CHROMIUM", chromium.display().to_string()),
        ("ERRATA_EMAIL", EMAIL.to_owned()),
        ("ERRATA_PASSWORD", PASSWORD.to_owned()),
    ];
    if let Some(r) = release {
        env.push(("ERRATA_RELEASE", r.to_owned()));
    }
    if let Some(url) = issue_page {
        env.push(("ERRATA_ISSUE_URL", url.to_owned()));
        let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        let _ = std::fs::create_dir_all(&shot);
        env.push((
            "ERRATA_SCREENSHOT",
            shot.join("sourcemaps-issue.png").display().to_string(),
        ));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(
        Path::new("node"),
        &[&js_dir().join("run_in_chromium.js").display().to_string()],
        &env_refs,
        &js_dir(),
    )
    .await;
    let stdout = text(&out);
    assert!(out.status.success(), "chromium driver: {stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("event "))
        .map(|s| s.trim().replace('-', ""))
        .filter(|s| s.len() == 32)
        .unwrap_or_else(|| panic!("no event id: {stdout}"));
    (id, stdout)
}

/// The stored event, once the API has it.
async fn stored(app: &TestApp, id: &str) -> Value {
    for _ in 0..50 {
        let res = app
            .api_raw(&format!("/api/v1/projects/{}/events/{id}", app.project.id))
            .await;
        if res.status() == 200 {
            return res.json().await.expect("json");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("event {id} was not stored");
}

fn top_frames(event: &Value) -> Vec<Value> {
    let values = event["event"]["exception"]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let frames = values
        .last()
        .and_then(|e| e["stacktrace"]["frames"].as_array().cloned())
        .unwrap_or_default();
    frames.into_iter().rev().collect()
}

fn frame_named<'a>(frames: &'a [Value], function: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| f["function"] == function)
        .unwrap_or_else(|| panic!("no frame {function}: {frames:#?}"))
}

#[tokio::test]
async fn sentry_cli_upload_then_chromium_error_resolves_and_groups_across_builds() {
    let Some(chromium) = tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    let cli = cli(&app).await;
    let work = work_dir();
    let dist1 = work.path().join("build1");
    build("main.js", &dist1).await;
    let dist = dist1.display().to_string();
    let out = cli.ok(&["sourcemaps", "inject", &dist], work.path()).await;
    assert!(out.contains("debug") || out.contains("Debug"), "{out}");
    let out = cli.ok(&["sourcemaps", "upload", &dist], work.path()).await;
    assert!(
        out.contains("Uploaded files") || out.contains("processing complete"),
        "{out}"
    );
    // Uploading the same bundle again stores nothing new and succeeds.
    cli.ok(&["sourcemaps", "upload", &dist], work.path()).await;

    let (id1, log) = throw_in_chromium(&app, &chromium, &dist1, None, None).await;
    assert!(log.contains("envelope statuses 200"), "{log}");
    let ev1 = stored(&app, &id1).await;
    let frames = top_frames(&ev1);
    let top = &frames[0];
    assert_eq!(top["function"], "applyCoupon", "{top:#}");
    assert_eq!(top["filename"], "src/pricing.js");
    assert_eq!(top["lineno"], 4);
    assert_eq!(top["colno"], 11);
    assert_eq!(
        top["context_line"],
        "    throw new TypeError(`coupon missing for total ${total}`);"
    );
    assert_eq!(top["pre_context"].as_array().map(Vec::len), Some(3));
    assert_eq!(top["in_app"], true);
    assert_eq!(top["data"]["resolved_with"], "debug-id");
    let minified = &top["data"]["minified"];
    assert!(minified["abs_path"]
        .as_str()
        .unwrap_or_default()
        .ends_with("/static/app.min.js"));
    assert!(
        minified["lineno"].as_u64().is_some() && minified["colno"].as_u64() > Some(100),
        "{minified}"
    );
    assert_ne!(minified["function"], "applyCoupon", "{minified}");
    let checkout = frame_named(&frames, "startCheckout");
    assert_eq!(checkout["filename"], "src/checkout.js");
    assert_eq!(checkout["lineno"], 6);
    let run_test = frame_named(&frames, "runTest");
    assert_eq!(run_test["filename"], "src/main.js");
    // Browser contexts from the User-Agent.
    assert_eq!(ev1["event"]["contexts"]["browser"]["name"], "Chrome");
    let tags = ev1["event"]["tags"].as_array().cloned().unwrap_or_default();
    assert!(tags.contains(&json!(["browser", "Chrome"])), "{tags:?}");
    assert!(tags.contains(&json!(["os", "Linux"])), "{tags:?}");

    // A second build names everything differently, and groups with the first.
    let dist2 = work.path().join("build2");
    build("main_v2.js", &dist2).await;
    let dist = dist2.display().to_string();
    cli.ok(&["sourcemaps", "inject", &dist], work.path()).await;
    cli.ok(&["sourcemaps", "upload", &dist], work.path()).await;
    let issue1 = ev1["issue_id"].as_i64().expect("issue id");
    let page = format!("{}/issues/{issue1}", app.base);
    let (id2, log) = throw_in_chromium(&app, &chromium, &dist2, None, Some(&page)).await;
    let ev2 = stored(&app, &id2).await;
    let f2 = top_frames(&ev2);
    assert_ne!(
        f2[0]["data"]["minified"]["function"], top["data"]["minified"]["function"],
        "the builds' minified names differ"
    );
    assert_eq!(f2[0]["function"], "applyCoupon");
    assert_eq!(
        ev2["issue_id"], ev1["issue_id"],
        "both builds group into one issue"
    );

    // The issue page shows the original source and the minified position on demand.
    let shown = log
        .lines()
        .find_map(|l| l.strip_prefix("issue page "))
        .unwrap_or_else(|| panic!("{log}"));
    let shown: Value = serde_json::from_str(shown).expect("page summary");
    let summaries = shown["frames"].to_string();
    assert!(
        summaries.contains("applyCoupon") && summaries.contains("src/pricing.js"),
        "{shown}"
    );
    assert!(
        shown["current"].to_string().contains("throw new TypeError"),
        "{shown}"
    );
    assert!(
        shown["minified"].to_string().contains("app.min.js"),
        "{shown}"
    );
    assert!(
        shown["contexts"].to_string().contains("Context: browser"),
        "{shown}"
    );
}

#[tokio::test]
async fn legacy_release_files_and_the_releases_api_as_ci_uses_them() {
    let Some(chromium) = tools() else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.releases.repositories = vec!["acme/shop".into()]).await;
    let cli = cli(&app).await;
    let work = work_dir();
    let dist = work.path().join("dist");
    build("main.js", &dist).await;
    let dist_s = dist.display().to_string();
    let version = "shop@1.4.0";
    let out = cli.ok(&["releases", "new", version], work.path()).await;
    assert!(out.contains(version), "{out}");
    // sentry-cli 2.x's legacy command: release files with `~/` URLs, no debug IDs.
    let out = cli
        .run_with(
            "node_modules/sentry-cli-v2/bin/sentry-cli",
            &[
                "releases",
                "files",
                version,
                "upload-sourcemaps",
                &dist_s,
                "--url-prefix",
                "~/static",
            ],
            work.path(),
        )
        .await;
    assert!(out.status.success(), "legacy upload: {}", text(&out));
    cli.ok(
        &[
            "releases",
            "set-commits",
            version,
            "--commit",
            "acme/shop@0a1b2c3d..4e5f6a7b",
        ],
        work.path(),
    )
    .await;
    let out = cli
        .run_with(
            "node_modules/@sentry/cli/bin/sentry-cli",
            &[
                "releases",
                "set-commits",
                version,
                "--commit",
                "other/repo@abc",
            ],
            work.path(),
        )
        .await;
    assert!(
        !out.status.success(),
        "an unknown repository is refused: {}",
        text(&out)
    );
    cli.ok(&["releases", "finalize", version], work.path())
        .await;
    cli.ok(
        &[
            "deploys",
            "new",
            "--release",
            version,
            "-e",
            "production",
            "-n",
            "blue",
        ],
        work.path(),
    )
    .await;
    cli.ok(
        &["deploys", "new", "--release", version, "-e", "staging"],
        work.path(),
    )
    .await;
    let out = cli.ok(&["releases", "list"], work.path()).await;
    assert!(out.contains(version), "{out}");
    let out = cli
        .ok(&["deploys", "list", "--release", version], work.path())
        .await;
    assert!(
        out.contains("production") && out.contains("staging"),
        "{out}"
    );

    let (id, _) = throw_in_chromium(&app, &chromium, &dist, Some(version), None).await;
    let ev = stored(&app, &id).await;
    let frames = top_frames(&ev);
    assert_eq!(frames[0]["function"], "applyCoupon", "{:#}", frames[0]);
    assert_eq!(frames[0]["filename"], "src/pricing.js");
    assert_eq!(frames[0]["data"]["resolved_with"], "release");

    // What the API and the pages say about the release.
    let version_path = crate::helpers::urlencode(version);
    let (status, release) = get_json(
        &app,
        &format!("/api/0/organizations/errata/releases/{version_path}/"),
        &cli.token,
    )
    .await;
    assert_eq!(status, 200);
    assert!(release["dateReleased"].is_string(), "{release}");
    assert_eq!(release["newGroups"], 1, "{release}");
    assert!(release["lastEvent"].is_string(), "{release}");
    assert_eq!(release["deployCount"], 2);
    assert_eq!(release["lastCommit"]["id"], "4e5f6a7b");
    assert_eq!(release["lastCommit"]["previousId"], "0a1b2c3d");
    let (_, files) = get_json(
        &app,
        &format!(
            "/api/0/projects/errata/{}/releases/{version_path}/files/",
            app.project.name
        ),
        &cli.token,
    )
    .await;
    let names: Vec<&str> = files
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"~/static/app.min.js") && names.contains(&"~/static/app.min.js.map"),
        "{names:?}"
    );

    add_admin(&app).await;
    let web = crate::web::client();
    let cookie = crate::web::sign_in(&app, &web).await;
    let releases = page(
        &app,
        &web,
        &cookie,
        &format!("/projects/{}/releases", app.project.id),
    )
    .await;
    // (Templates escape `/` as `&#x2f;`.)
    for needle in [
        version,
        "production",
        "staging",
        "shop@4e5f6a7b",
        "app.min.js.map",
        "KiB",
        "finalized",
    ] {
        assert!(releases.contains(needle), "releases page lacks {needle}");
    }
    let issue = ev["issue_id"].as_i64().expect("issue");
    let search = |q: &str| format!("/projects/{}/issues?q={q}", app.project.id);
    let found = page(&app, &web, &cookie, &search("browser%3AChrome")).await;
    assert!(
        found.contains("coupon missing"),
        "browser:Chrome finds the issue"
    );
    let other = page(&app, &web, &cookie, &search("browser%3AFirefox")).await;
    assert!(
        !other.contains("coupon missing"),
        "browser:Firefox does not"
    );
    let page = page(&app, &web, &cookie, &format!("/issues/{issue}")).await;
    assert!(
        page.contains("id=\"issue-releases\"") && page.contains("production"),
        "issue page shows deploys"
    );
}

/// A `multipart/form-data` body: `(field, file name, content)` parts; returns the content
/// type and the body.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "errata-test-boundary-7d1f";
    let mut body = Vec::new();
    for (field, file, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let file = file
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{field}\"{file}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn post_form(
    app: &TestApp,
    url: &str,
    token: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> reqwest::Response {
    let (content_type, body) = multipart(parts);
    app.http
        .post(url)
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

/// A chunk upload request with one part per chunk (`file`, named by the checksum given).
async fn post_chunks(
    app: &TestApp,
    token: &str,
    parts: Vec<(String, Vec<u8>)>,
) -> reqwest::Response {
    let url = format!("{}/api/0/organizations/errata/chunk-upload/", app.base);
    let parts: Vec<(&str, Option<&str>, &[u8])> = parts
        .iter()
        .map(|(n, d)| ("file", Some(n.as_str()), d.as_slice()))
        .collect();
    post_form(app, &url, token, &parts).await
}

async fn assemble(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app
        .http
        .post(format!(
            "{}/api/0/organizations/errata/artifactbundle/assemble/",
            app.base
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

fn sha1(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).expect("entry");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

fn manifest() -> Vec<u8> {
    serde_json::to_vec(&json!({"org": "errata", "files": {
        "files/_/_/app.min.js.map": {"url": "~/app.min.js.map", "type": "source_map",
            "headers": {"debug-id": "0b5a3c2d-1e4f-4a6b-8c7d-9e0f1a2b3c4d"}}}}))
    .expect("json")
}

/// Uploads `zip` as one chunk and assembles it; returns assemble's answer.
async fn upload_bundle(app: &TestApp, token: &str, zip: Vec<u8>) -> Value {
    let sum = sha1(&zip);
    let first = assemble(
        app,
        token,
        json!({"checksum": sum, "chunks": [sum], "projects": [app.project.name]}),
    )
    .await;
    assert_eq!(first["state"], "not_found", "{first}");
    assert_eq!(
        first["missingChunks"],
        json!([sum]),
        "asked for before the upload"
    );
    let res = post_chunks(app, token, vec![(sum.clone(), zip)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        assemble(
            app,
            token,
            json!({"checksum": sum, "chunks": [sum], "projects": [app.project.name]})
        )
        .await["missingChunks"],
        json!([])
    );
    assemble(
        app,
        token,
        json!({"checksum": sum, "chunks": [sum], "projects": [app.project.name]}),
    )
    .await
}

/// Assemble's answer for a bundle it refused, naming why.
fn refused(answer: &Value, why: &str) {
    assert_eq!(answer["state"], "error", "{answer}");
    let detail = answer["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "{answer}");
}

async fn stored_files(app: &TestApp) -> usize {
    app.store
        .release_artifacts(app.project.id, None)
        .await
        .expect("artifacts")
        .len()
}

#[tokio::test]
async fn bad_uploads_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.releases.max_file_bytes = 1 << 20;
        c.releases.max_unpacked_bytes = 2 << 20;
    })
    .await;
    let token = ci_token(&app).await;

    // The scope allows uploads and releases, nothing else.
    let (status, body) = get_json(&app, "/api/v1/projects", &token).await;
    assert_eq!(status, 403);
    assert!(
        body["detail"]
            .to_string()
            .contains("lacks the scope project:read"),
        "{body}"
    );
    let options_path = "/api/0/organizations/errata/chunk-upload/";
    assert_eq!(get_json(&app, options_path, "errata_wrong").await.0, 401);
    let (_, options) = get_json(&app, options_path, &token).await;
    let chunk = options["chunkSize"].as_u64().expect("chunkSize");
    assert!(chunk.is_power_of_two(), "{options}");
    assert!(options["accept"].to_string().contains("artifact_bundles"));

    // A chunk whose name is not its SHA-1.
    let res = post_chunks(&app, &token, vec![(sha1(b"other"), b"content".to_vec())]).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("checksum mismatch"),
        "{body}"
    );
    let missing = app
        .store
        .missing_chunks(&[sha1(b"other"), sha1(b"content")])
        .await
        .expect("chunks");
    assert_eq!(missing.len(), 2, "nothing stored");

    // Chunks that do not add up to the checksum.
    let part = b"part one".to_vec();
    assert_eq!(
        post_chunks(&app, &token, vec![(sha1(&part), part.clone())])
            .await
            .status(),
        200
    );
    let answer = assemble(
        &app,
        &token,
        json!({"checksum": sha1(b"something else"), "chunks": [sha1(&part)], "projects": [app.project.name]}),
    )
    .await;
    refused(&answer, "do not add up");

    // A corrupt ZIP, a map that is not JSON, a ZIP bomb.
    let answer = upload_bundle(&app, &token, b"PK\x03\x04 this is no zip".to_vec()).await;
    refused(&answer, "not a valid ZIP");
    let not_json = zip_of(&[
        ("manifest.json", &manifest()),
        ("files/_/_/app.min.js.map", b"<html>oops</html>"),
    ]);
    let answer = upload_bundle(&app, &token, not_json).await;
    refused(&answer, "not a valid source map");
    let bomb_data = vec![b'a'; 50 << 20];
    let bomb = zip_of(&[
        ("manifest.json", &manifest()),
        ("files/_/_/app.min.js.map", &bomb_data),
    ]);
    assert!(bomb.len() < 1 << 20, "50 MiB in {} bytes", bomb.len());
    let answer = upload_bundle(&app, &token, bomb).await;
    refused(&answer, "larger than the limit");
    assert_eq!(stored_files(&app).await, 0, "no bad bundle left anything");

    // Unknown projects are named.
    let res = app
        .http
        .post(format!(
            "{}/api/0/organizations/errata/artifactbundle/assemble/",
            app.base
        ))
        .bearer_auth(&token)
        .json(&json!({"checksum": sha1(b"x"), "chunks": [sha1(b"x")], "projects": ["nope"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);

    // A good bundle then goes through, once.
    let map =
        br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","sourcesContent":["x"]}"#;
    let good = zip_of(&[
        ("manifest.json", &manifest()),
        ("files/_/_/app.min.js.map", map),
    ]);
    let answer = upload_bundle(&app, &token, good.clone()).await;
    assert_eq!(answer["state"], "ok", "{answer}");
    assert_eq!(stored_files(&app).await, 1);
    let again = assemble(
        &app,
        &token,
        json!({"checksum": sha1(&good), "chunks": [sha1(&good)], "projects": [app.project.name]}),
    )
    .await;
    assert_eq!(again["state"], "ok");
    assert_eq!(stored_files(&app).await, 1);

    // Legacy single-file upload: the release must exist, a second upload of the name is 409.
    let url = format!(
        "{}/api/0/projects/errata/{}/releases/r1/files/",
        app.base, app.project.name
    );
    let legacy = |name: &'static str, content: &'static [u8]| {
        [
            ("file", Some("app.min.js"), content),
            ("name", None, name.as_bytes()),
            ("header", None, b"Sourcemap: app.min.js.map".as_slice()),
        ]
    };
    let res = post_form(&app, &url, &token, &legacy("~/app.min.js", b"x()")).await;
    assert_eq!(res.status(), 404);
    app.store
        .create_release(app.project.id, "r1", None, None)
        .await
        .expect("release");
    let res = post_form(&app, &url, &token, &legacy("~/app.min.js", b"x()")).await;
    assert_eq!(res.status(), 201);
    let file: Value = res.json().await.expect("json");
    assert_eq!(file["headers"]["Sourcemap"], "app.min.js.map");
    let res = post_form(&app, &url, &token, &legacy("~/app.min.js", b"y()")).await;
    assert_eq!(res.status(), 409);
    let res = post_form(&app, &url, &token, &legacy("~/app.min.js.map", b"{nope")).await;
    assert_eq!(res.status(), 400);

    // Retention: gone only once old enough and without a live release.
    let now = errata_server::clock::system_now_ms();
    assert_eq!(
        app.store
            .purge_artifacts(now - 1000, now)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        app.store
            .purge_artifacts(now + 1000, now)
            .await
            .expect("purge"),
        1,
        "the release-less bundle"
    );
    assert_eq!(
        app.store
            .release_artifacts(app.project.id, Some("r1"))
            .await
            .expect("files")
            .len(),
        1,
        "r1 still exists"
    );
    app.store
        .delete_release(app.project.id, "r1")
        .await
        .expect("delete");
    assert_eq!(
        app.store
            .purge_artifacts(now + 1000, now)
            .await
            .expect("purge"),
        1
    );
    assert!(app
        .store
        .release_artifacts(app.project.id, Some("r1"))
        .await
        .expect("files")
        .is_empty());
}
