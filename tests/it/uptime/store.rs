//! The claim that runs each due check once, on both engines: two pools on one database (two
//! servers) race for the same due time and exactly one wins; state and results round-trip.

use anyhow::{ensure, Result};
use errata_server::monitors::uptime::probe::Outcome;
use errata_server::monitors::uptime::runner::settle;
use errata_server::monitors::uptime::{CheckConfig, ErrorClass, ExpectedStatus};
use errata_server::store::{StatusPage, StoreError};

use crate::store::{run_postgres, run_sqlite, Ctx};

async fn each_due_check_is_claimed_once(ctx: Ctx) -> Result<()> {
    let store = ctx.store.clone();
    let other = ctx.second_store().await?;
    let project = store.create_project("shop").await?;
    let mut config = CheckConfig::for_url("https://shop.example.com/healthz");
    config.expected_status = ExpectedStatus::parse("200,204").map_err(anyhow::Error::msg)?;
    config.headers = vec![("X-Token".into(), "s3cret".into())];
    let check = store
        .create_uptime_check(project.id, &config, false, 1_000, 500)
        .await?;
    ensure!(check.config == config, "{:?}", check.config);
    ensure!(store.due_uptime_checks(999, 10).await?.is_empty());
    ensure!(store.due_uptime_checks(1_000, 10).await? == vec![(check.id, 1_000)]);
    let (a, b) = tokio::join!(
        store.claim_uptime_check(check.id, 1_000, 61_000),
        other.claim_uptime_check(check.id, 1_000, 61_000),
    );
    ensure!(a? ^ b?, "exactly one claim wins");
    ensure!(store.due_uptime_checks(60_999, 10).await?.is_empty());
    let paused = store
        .update_uptime_check(check.id, &config, true, None, 2_000)
        .await?;
    ensure!(paused.is_paused && paused.next_check_ms == 61_000);
    ensure!(
        store.due_uptime_checks(100_000, 10).await?.is_empty(),
        "paused"
    );
    ensure!(!store.claim_uptime_check(check.id, 61_000, 121_000).await?);
    store.delete_uptime_check(check.id).await?;
    ensure!(matches!(
        store.uptime_check(check.id).await,
        Err(StoreError::NotFound)
    ));
    other.close().await;
    Ok(())
}

/// Results, an incident with its issue, and a status page go with their project.
async fn deleting_a_project_takes_its_checks(ctx: Ctx) -> Result<()> {
    let store = ctx.store.clone();
    let project = store.create_project("gone").await?;
    let mut config = CheckConfig::for_url("https://93.184.216.34/");
    config.failure_threshold = 1;
    let check = store
        .create_uptime_check(project.id, &config, false, 0, 0)
        .await?;
    let down = Outcome {
        status_code: Some(503),
        response_ms: 12,
        error: Some((ErrorClass::Status, "503 Service Unavailable".into())),
        certificate: None,
    };
    settle(&store, check.id, 1_000, &down).await?;
    let after = store.uptime_check(check.id).await?;
    ensure!(
        after.incident_id.is_some(),
        "down after one failure: {after:?}"
    );
    ensure!(
        store
            .uptime_results(check.id, 10, None)
            .await?
            .results
            .len()
            == 1
    );
    store
        .save_status_page(
            &StatusPage {
                project_id: project.id,
                slug: "gone".into(),
                title: "Gone".into(),
                enabled: true,
                monitor_ids: vec![],
            },
            2_000,
        )
        .await?;
    errata_server::retention::delete_project(&store, project.id, 3_000).await?;
    ensure!(matches!(
        store.uptime_check(check.id).await,
        Err(StoreError::NotFound)
    ));
    ensure!(store.status_page_by_slug("gone").await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deleting_a_project_takes_its_checks() -> Result<()> {
    run_sqlite(deleting_a_project_takes_its_checks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deleting_a_project_takes_its_checks() -> Result<()> {
    run_postgres(deleting_a_project_takes_its_checks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_due_check_is_claimed_once() -> Result<()> {
    run_sqlite(each_due_check_is_claimed_once).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_each_due_check_is_claimed_once() -> Result<()> {
    run_postgres(each_due_check_is_claimed_once).await
}
