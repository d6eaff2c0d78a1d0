//! Store conformance of releases, deploys, artifacts and token scopes (issue #17), on SQLite
//! and, when `ERRATA_TEST_POSTGRES_URL` is set, on PostgreSQL.

use anyhow::{ensure, Result};
use errata_server::store::{ArtifactKind, NewArtifactFile, NewBundle, ReleaseUpdate, StoreError};
use serde_json::json;

use crate::store::{event, insert_one, run_postgres, run_sqlite, Ctx};

macro_rules! both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::run_sqlite(super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::run_postgres(super::$name).await
            }
        }
    )*};
}

both!(
    artifacts_round_trip,
    releases_and_their_numbers,
    token_scopes
);

fn file(url: &str, kind: ArtifactKind, debug_id: Option<&str>, content: &[u8]) -> NewArtifactFile {
    NewArtifactFile {
        url: Some(url.to_owned()),
        kind,
        debug_id: debug_id.map(str::to_owned),
        sourcemap: None,
        content: content.to_vec(),
    }
}

async fn artifacts_round_trip(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let a = s.create_project("a").await?.id;
    let b = s.create_project("b").await?.id;
    let chunks = vec![
        ("c1".repeat(20), b"one".to_vec()),
        ("c2".repeat(20), b"two".to_vec()),
    ];
    s.store_chunks(&chunks).await?;
    s.store_chunks(&chunks[..1]).await?;
    let names: Vec<String> = chunks.iter().map(|(n, _)| n.clone()).collect();
    let wanted = vec![names[0].clone(), "ff".repeat(20), names[1].clone()];
    ensure!(s.missing_chunks(&wanted).await? == vec!["ff".repeat(20)]);
    let data = s
        .chunk_data(&[names[1].clone(), names[0].clone(), names[1].clone()])
        .await?;
    ensure!(data == vec![b"two".to_vec(), b"one".to_vec(), b"two".to_vec()]);
    ensure!(matches!(
        s.chunk_data(&wanted).await,
        Err(StoreError::NotFound)
    ));

    let id = "0b5a3c2d-1e4f-4a6b-8c7d-9e0f1a2b3c4d";
    let files = vec![
        file(
            "~/app.min.js",
            ArtifactKind::MinifiedSource,
            Some(id),
            b"function a(){}",
        ),
        file(
            "~/app.min.js.map",
            ArtifactKind::SourceMap,
            Some(id),
            &b"{}".repeat(1000),
        ),
    ];
    let bundle = NewBundle {
        project_ids: &[a, b],
        checksum: &"ab".repeat(20),
        release: Some("r1"),
        dist: Some("web"),
        size: 99,
        files: &files,
        chunks: &names,
    };
    ensure!(!s.bundle_stored(&[a, b], bundle.checksum).await?);
    ensure!(s.insert_bundle(&bundle).await? == 2);
    ensure!(
        s.insert_bundle(&bundle).await? == 0,
        "a second assemble adds nothing"
    );
    ensure!(s.bundle_stored(&[a, b], bundle.checksum).await?);
    ensure!(
        s.missing_chunks(&names).await?.len() == 2,
        "used chunks are deleted"
    );

    let map = s
        .artifact_by_debug_id(a, id, ArtifactKind::SourceMap)
        .await?
        .expect("map");
    ensure!(map.url.as_deref() == Some("~/app.min.js.map") && map.size == 2000);
    ensure!(s.artifact_content(map.file_id).await? == b"{}".repeat(1000));
    let other = s
        .artifact_by_debug_id(b, id, ArtifactKind::SourceMap)
        .await?
        .expect("b's copy");
    ensure!(
        other.file_id != map.file_id,
        "each project has its own copy"
    );
    ensure!(s
        .artifact_by_debug_id(a + b + 1, id, ArtifactKind::SourceMap)
        .await?
        .is_none());
    let urls = vec!["~/app.min.js".to_owned(), "~/nope.js".to_owned()];
    ensure!(s.artifacts_by_url(a, "r1", Some("web"), &urls).await?.len() == 1);
    ensure!(
        s.artifacts_by_url(a, "r1", None, &urls).await?.is_empty(),
        "dist must match"
    );
    ensure!(s
        .artifacts_by_url(a, "r2", Some("web"), &urls)
        .await?
        .is_empty());
    ensure!(s.release_artifacts(a, Some("r1")).await?.len() == 2);
    ensure!(s.release_artifacts(a, None).await?.is_empty());

    s.delete_artifact(a, map.file_id).await?;
    ensure!(matches!(
        s.delete_artifact(a, map.file_id).await,
        Err(StoreError::NotFound)
    ));
    ensure!(s.release_artifacts(a, Some("r1")).await?.len() == 1);

    // Retention: r1 has no release row, so age alone decides.
    let now = errata_server::clock::system_now_ms();
    ensure!(s.purge_artifacts(now - 60_000, now - 60_000).await? == 0);
    s.create_release(b, "r1", None, None).await?;
    ensure!(
        s.purge_artifacts(now + 60_000, now + 60_000).await? == 1,
        "a's bundle only"
    );
    ensure!(s.release_artifacts(a, Some("r1")).await?.is_empty());
    ensure!(
        s.release_artifacts(b, Some("r1")).await?.len() == 2,
        "b's release lives"
    );
    ensure!(s.missing_chunks(&["c3".repeat(20)]).await?.len() == 1);
    Ok(())
}

async fn releases_and_their_numbers(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let p = s.create_project("app").await?.id;
    let (r, created) = s.create_release(p, "1.0", Some("https://x"), None).await?;
    ensure!(created && r.released_ms.is_none() && r.commits == json!([]));
    let (again, created) = s.create_release(p, "1.0", None, Some(5)).await?;
    ensure!(!created && again.id == r.id && again.url.as_deref() == Some("https://x"));
    let commits = json!([{"repository": "acme/shop", "id": "abc"}]);
    let updated = s
        .update_release(
            p,
            "1.0",
            &ReleaseUpdate {
                released_ms: Some(1234),
                commits: Some(commits.clone()),
                ..Default::default()
            },
        )
        .await?;
    ensure!(updated.released_ms == Some(1234) && updated.commits == commits);
    ensure!(matches!(
        s.update_release(p, "9.9", &ReleaseUpdate::default()).await,
        Err(StoreError::NotFound)
    ));
    s.create_deploy(r.id, "staging", None, None, None, Some(10))
        .await?;
    s.create_deploy(r.id, "production", Some("blue"), None, Some(15), Some(20))
        .await?;
    let deploys = s.deploys(&[r.id]).await?;
    ensure!(deploys.len() == 2 && deploys[0].environment == "production");
    ensure!(s.releases_named("1.0").await?.len() == 1);

    // Numbers come from the events' release tags.
    let mut first = event(p, "boom", 0);
    first.fields.release = Some("1.0".into());
    insert_one(s, first).await?;
    let mut second = event(p, "boom", 1000);
    second.fields.release = Some("2.0".into());
    insert_one(s, second).await?;
    let mut other = event(p, "other", 2000);
    other.fields.release = Some("2.0".into());
    let issue = insert_one(s, other).await?.issue_id;
    let stats = s.release_stats(p, &["1.0", "2.0"]).await?;
    ensure!(
        stats["1.0"].events == 1 && stats["1.0"].new_issues == 1,
        "{stats:?}"
    );
    ensure!(
        stats["2.0"].events == 2 && stats["2.0"].new_issues == 1,
        "{stats:?}"
    );
    ensure!(stats["2.0"].first_event_ms < stats["2.0"].last_event_ms);
    let list = s.list_releases(p, 10).await?;
    let versions: Vec<&str> = list.iter().map(|r| r.version.as_str()).collect();
    ensure!(
        versions.contains(&"1.0") && versions.contains(&"2.0"),
        "{versions:?}"
    );
    ensure!(list
        .iter()
        .any(|r| r.version == "1.0" && r.release.is_some()));
    ensure!(list
        .iter()
        .any(|r| r.version == "2.0" && r.release.is_none()));
    let new = s.release_new_issues(p, "2.0", 10).await?;
    ensure!(new.len() == 1 && new[0].0 == issue, "{new:?}");
    ensure!(s.issue_release_span(issue).await? == (Some("2.0".into()), Some("2.0".into())));

    s.delete_release(p, "1.0").await?;
    ensure!(s.deploys(&[r.id]).await?.is_empty());
    ensure!(matches!(
        s.release(p, "1.0").await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}

async fn token_scopes(ctx: Ctx) -> Result<()> {
    let s = &ctx.store;
    let full = s.create_token("full").await?;
    let ci = s.create_scoped_token("ci", "project:releases").await?;
    let scopes = |t: Option<errata_server::store::ApiToken>| t.map(|t| t.scopes);
    ensure!(scopes(s.token_by_secret(&full).await?) == Some(String::new()));
    ensure!(scopes(s.token_by_secret(&ci).await?).as_deref() == Some("project:releases"));
    ensure!(s.token_by_secret("errata_nope").await?.is_none());
    ensure!(s.token_valid(&ci).await?);
    Ok(())
}
