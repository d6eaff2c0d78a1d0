//! Starting `errata` with a configuration that cannot work (issue #24 item 12), as a child
//! process: each bad setting is refused with a message naming it, before anything is created;
//! a port in use creates no database; only the default `data/` folder is ever created; an
//! unreachable PostgreSQL is reported with its cause.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// `errata ARGS` in `dir` with only `env` set (nothing inherited that could configure it);
/// killed if it has not exited after 30 s.
async fn errata(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("errata exits within 30 s")
        .expect("errata runs")
}

/// [`errata`] that must fail; returns its stdout and stderr.
async fn refused(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let out = errata(dir, args, env).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{args:?} {env:?} succeeded:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// Everything in `dir`, for "nothing was created" checks.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// A port on 127.0.0.1 that nothing listens on (bound once, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_by_name_before_anything_is_created() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}/errata.db", dir.path().display());
    let missing = format!("sqlite://{}/missing/sub/errata.db", dir.path().display());
    let bind = format!("127.0.0.1:{}", free_port());
    for (var, value, named) in [
        ("ERRATA_BASE_URL", "not a url", "base_url (ERRATA_BASE_URL)"),
        (
            "ERRATA_BASE_URL",
            "javascript:alert(1)",
            "base_url (ERRATA_BASE_URL)",
        ),
        (
            "ERRATA_MAX_EVENT_BYTES",
            "0",
            "limits.max_event_bytes (ERRATA_MAX_EVENT_BYTES)",
        ),
        (
            "ERRATA_SMTP_FROM",
            "nope",
            "notify.smtp.from (ERRATA_SMTP_FROM)",
        ),
        (
            "ERRATA_METRICS_ALLOW",
            "10.0.0.0/8,everyone",
            "security.metrics_allow",
        ),
        (
            "DATABASE_URL",
            missing.as_str(),
            "database_url (DATABASE_URL)",
        ),
    ] {
        let mut env = vec![
            ("DATABASE_URL", db.as_str()),
            ("ERRATA_BIND", bind.as_str()),
        ];
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let (_, stderr) = refused(dir.path(), &["serve"], &env).await;
        assert!(
            stderr.contains(&format!("invalid setting {named}")),
            "{var}={value:?}: {stderr}"
        );
        assert!(
            entries(dir.path()).is_empty(),
            "{var}={value:?} created {:?}",
            entries(dir.path())
        );
    }
    // Valid values of the same settings are accepted (the address list split at commas).
    let out = errata(
        dir.path(),
        &["project", "create", "shop", "--create"],
        &[
            ("DATABASE_URL", &db),
            ("ERRATA_BASE_URL", "https://errors.example.com/sub"),
            ("ERRATA_SMTP_FROM", "Errata <errata@example.com>"),
            ("ERRATA_METRICS_ALLOW", "127.0.0.1, 10.0.0.0/8"),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("https://"));
    std::fs::remove_file(dir.path().join("errata.db")).expect("remove");
    for extra in ["errata.db-wal", "errata.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(extra));
    }
    // The missing folder is named.
    let (_, stderr) = refused(
        dir.path(),
        &["project", "list"],
        &[("DATABASE_URL", &missing)],
    )
    .await;
    assert!(stderr.contains("missing/sub does not exist"), "{stderr}");
    assert!(entries(dir.path()).is_empty());
    // The same check holds for the store itself.
    let err = errata_server::store::Store::connect(&missing)
        .await
        .expect_err("a missing folder is refused");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_port_in_use_creates_no_database_and_no_setup_link() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bind = taken.local_addr().expect("addr").to_string();
    // The default database (data/errata.db in the working directory), and an explicit one.
    let explicit = format!("sqlite://{}/errata.db", dir.path().display());
    for env in [
        vec![("ERRATA_BIND", bind.as_str())],
        vec![
            ("ERRATA_BIND", bind.as_str()),
            ("DATABASE_URL", explicit.as_str()),
        ],
    ] {
        let (stdout, stderr) = refused(dir.path(), &["serve"], &env).await;
        assert!(
            stderr.contains(&format!("cannot listen on {bind}")),
            "{stderr}"
        );
        assert!(
            !stdout.contains("Created project") && !stdout.contains("/setup/"),
            "{stdout}"
        );
        assert!(
            entries(dir.path()).is_empty(),
            "created {:?}",
            entries(dir.path())
        );
    }
}

#[tokio::test]
async fn only_the_default_data_folder_is_created() {
    let dir = tempfile::tempdir().expect("dir");
    let out = errata(dir.path(), &["--create", "project", "create", "shop"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/errata.db").is_file());
    // Another folder of the same name elsewhere is not "the default".
    let nested = format!("sqlite://{}/x/data/errata.db", dir.path().display());
    refused(
        dir.path(),
        &["project", "list"],
        &[("DATABASE_URL", &nested)],
    )
    .await;
    assert!(!dir.path().join("x").exists());
}

#[tokio::test]
async fn an_unreachable_postgres_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/errata");
    let (_, stderr) = refused(dir.path(), &["project", "list"], &[("DATABASE_URL", &url)]).await;
    assert!(
        stderr.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("pool timed out"), "{stderr}");
}
