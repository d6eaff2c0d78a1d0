//! Team triage in headless Chromium (`tests/browser/triage.js`), on SQLite and PostgreSQL:
//! assign and "My issues", a Markdown comment whose payloads stay inert, its edit, resolve
//! in the next release (an old-release event keeps it resolved, a newer one reopens it),
//! ignore until 2 more events, the Events page with a search, bulk merge and unmerge. The
//! server's state is checked here after the walk. Screenshots: `target/screenshots/triage-*`.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use errata_server::store::IssueStatus;

use crate::browser::{browser_tools, repo};
use crate::helpers::TestApp;
use crate::store::{run_postgres, Ctx};
use crate::triage::{issue_id_of, post};
use crate::web::{add_admin, EMAIL, PASSWORD};

async fn walk(app: TestApp) -> Result<()> {
    let Some(chromium) = browser_tools() else {
        return Ok(());
    };
    add_admin(&app).await;
    let a = issue_id_of(&app, &post(&app, "checkout", "1.0.0", "u1").await).await;
    let b = issue_id_of(&app, &post(&app, "login", "1.0.0", "u2").await).await;
    let shots = repo().join("target/screenshots");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser/triage.js"))
        .env("ERRATA_BASE_URL", &app.base)
        .env("ERRATA_EMAIL", EMAIL)
        .env("ERRATA_PASSWORD", PASSWORD)
        .env("ERRATA_PROJECT_ID", app.project.id.to_string())
        .env("ERRATA_KEY", &app.project.public_key)
        .env("ERRATA_ISSUE_A", a.to_string())
        .env("ERRATA_ISSUE_B", b.to_string())
        .env("ERRATA_SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .context("the walk finishes within 3 minutes")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    ensure!(
        out.status.success(),
        "triage walk failed:\n{stdout}\n{stderr}"
    );
    ensure!(stdout.contains("triage ok"), "{stdout}");

    // What the browser did is what the server stored.
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("survivor "))
        .context("survivor line")?;
    let mut ids = line.split(" split ").map(str::parse::<i64>);
    let survivor = ids.next().context("survivor")??;
    let split = ids.next().context("split")??;
    let s = &app.store;
    let kept = s.issue(survivor).await?;
    let new = s.issue(split).await?;
    ensure!(kept.count + new.count == 6, "{kept:?} {new:?}");
    ensure!(new.status == IssueStatus::Unresolved && s.issue_hashes(split).await?.len() == 1);
    let me = kept.assignee.as_ref().map(|u| u.email.as_str());
    ensure!(survivor != a || me == Some(EMAIL), "A keeps its assignee");
    let comments: Vec<_> = s
        .issue_activity(a.min(survivor))
        .await?
        .into_iter()
        .filter(|x| x.kind == "comment")
        .collect();
    ensure!(comments.len() == 1, "{comments:?}");
    ensure!(comments[0].body.as_deref() == Some("Fixed by *the next deploy*"));
    ensure!(comments[0].edited_ms.is_some());
    ensure!(
        shots.join("triage-06-unmerged.png").exists(),
        "screenshots written"
    );
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn chromium_triages_on_sqlite() -> Result<()> {
    walk(TestApp::spawn().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_triages_on_postgres() -> Result<()> {
    run_postgres(|ctx: Ctx| async move { walk(TestApp::spawn_on(&ctx.url, |_| {}).await).await })
        .await
}
