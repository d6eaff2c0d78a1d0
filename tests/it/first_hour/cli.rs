//! Issue #20 items 1–3: which database a command opens, the base URL the server records for
//! the CLI's DSNs, and `--help` that lists only what a command uses.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// `errata ARGS` in `dir` with only `env` set; killed if not done within 30 s.
async fn errata(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("errata exits within 30 s")
        .expect("errata runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn commands_name_their_database_and_create_one_only_when_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let expected = dir.path().join("data/errata.db");
    for args in [
        &["project", "list"][..],
        &["notify", "status"],
        &["user", "list"],
    ] {
        let out = errata(dir.path(), args, &[]).await;
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no Errata database at {}", expected.display())),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("DATABASE_URL is not set") && stderr.contains("--create"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "{args:?} created something"
        );
    }
    // Asked to, it creates one, and says so.
    let out = errata(dir.path(), &["project", "create", "shop", "--create"], &[]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("errata: database {}", expected.display())),
        "{stderr}"
    );
    assert!(expected.is_file());
    // From then on every command opens it, and names it.
    let out = errata(dir.path(), &["project", "list"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\tshop\t"), "{out:?}");
    assert!(text(&out.stderr).contains(&format!("errata: database {}", expected.display())));
    // An explicit URL elsewhere is refused the same way, naming it.
    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}", other.display());
    let out = errata(dir.path(), &["token", "list"], &[("DATABASE_URL", &url)]).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("no Errata database at {}", other.display())),
        "{stderr}"
    );
    assert!(!other.exists());
}

/// `errata serve` in `dir` with `env`, stopped once its first-start DSN is printed; returns
/// the DSN and what it logged.
async fn serve_until_dsn(dir: &Path, env: &[(&str, &str)]) -> (String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("ERRATA_LOG_FORMAT", "text")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start errata serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let dsn = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stdout.next_line().await.expect("read") {
            if line.trim_start().starts_with("http") {
                return line.trim().to_owned();
            }
        }
        panic!("serve ended without a DSN");
    })
    .await
    .expect("a DSN within 30 s");
    child.start_kill().expect("kill");
    let out = child.wait_with_output().await.expect("wait");
    (dsn, text(&out.stderr))
}

#[tokio::test]
async fn the_cli_prints_dsns_with_the_base_url_the_server_runs_with() {
    let dir = tempfile::tempdir().expect("dir");
    // Port 0: the server's real port is only known once it runs; an unspecified address
    // without base_url is warned about and never printed.
    let (dsn, stderr) = serve_until_dsn(dir.path(), &[("ERRATA_BIND", "0.0.0.0:0")]).await;
    assert!(!dsn.contains("0.0.0.0") && !dsn.contains(":0/"), "{dsn}");
    assert!(dsn.contains("@127.0.0.1:"), "{dsn}");
    assert!(
        stderr.contains("without base_url") && stderr.contains("ERRATA_BASE_URL"),
        "{stderr}"
    );
    let out = errata(dir.path(), &["project", "list"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.trim_end().ends_with(&dsn), "{listed} vs {dsn}");
    // A server with base_url records that one; an explicit setting of the CLI still wins.
    let env = [
        ("ERRATA_BIND", "127.0.0.1:0"),
        ("ERRATA_BASE_URL", "https://errors.example.com"),
    ];
    let out = errata(dir.path(), &["project", "create", "shop"], &env[1..]).await;
    assert!(text(&out.stdout).starts_with("https://"), "{out:?}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("serve");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = errata(dir.path(), &["project", "list"], &[]).await;
        if text(&out.stdout).contains("@errors.example.com/") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().expect("kill");
    let _ = child.wait().await;
}

#[tokio::test]
async fn help_lists_server_settings_only_for_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let help = |args: &'static [&'static str]| {
        let dir = dir.path().to_owned();
        async move {
            let out = errata(&dir, args, &[]).await;
            assert!(out.status.success(), "{args:?}: {out:?}");
            text(&out.stdout)
        }
    };
    for args in [
        &["project", "list", "--help"][..],
        &["notify", "status", "--help"],
        &["user", "create", "--help"],
    ] {
        let h = help(args).await;
        for global in ["--database-url", "--config", "--create", "--log-format"] {
            assert!(h.contains(global), "{args:?} lacks {global}: {h}");
        }
        for server in [
            "--bind",
            "--smtp-host",
            "--admins",
            "--metrics-token",
            "--batch-size",
        ] {
            assert!(!h.contains(server), "{args:?} lists {server}: {h}");
        }
    }
    let h = help(&["serve", "--help"]).await;
    for server in ["--bind", "--smtp-host", "--base-url", "--metrics-token"] {
        assert!(h.contains(server), "serve lacks {server}: {h}");
    }
    assert!(dir.path().read_dir().expect("dir").next().is_none());
}

/// Item 1 on PostgreSQL: a database without Errata's tables is "new" too; the recorded base
/// URL is stored and replaced there as on SQLite.
#[tokio::test]
async fn a_fresh_postgres_database_needs_create_and_keeps_the_base_url() -> anyhow::Result<()> {
    crate::store::with_fresh_postgres(|url| async move {
        let dir = tempfile::tempdir()?;
        let env = [("DATABASE_URL", url.as_str())];
        let out = errata(dir.path(), &["project", "list"], &env).await;
        let stderr = text(&out.stderr);
        anyhow::ensure!(!out.status.success(), "{stderr}");
        anyhow::ensure!(
            stderr.contains("no Errata database at postgres://"),
            "{stderr}"
        );
        let out = errata(dir.path(), &["--create", "project", "create", "shop"], &env).await;
        anyhow::ensure!(out.status.success(), "{}", text(&out.stderr));
        let store = errata_server::store::Store::connect(&url).await?;
        let name = errata_server::store::server_settings::BASE_URL;
        anyhow::ensure!(store.server_setting(name).await?.is_none());
        store
            .set_server_setting(name, "http://127.0.0.1:9100", 1)
            .await?;
        store
            .set_server_setting(name, "https://errors.example.com", 2)
            .await?;
        anyhow::ensure!(
            store.server_setting(name).await?.as_deref() == Some("https://errors.example.com")
        );
        store.close().await;
        let out = errata(dir.path(), &["project", "list"], &env).await;
        let listed = text(&out.stdout);
        anyhow::ensure!(listed.contains("@errors.example.com/"), "{listed}");
        Ok(())
    })
    .await
}
