//! Issue #24, item 14: upgrades keep data. The fixtures under `tests/fixtures/upgrade/` were
//! written by the release at migration 0005 (`make.sh`: events, issues with a regression,
//! users, a session, a token, channels, outbox, deliveries and attempts). This binary opens
//! them, runs its migrations, and every row must still be there and readable through the
//! store and the server. A migration that fails leaves the database as it was, and the
//! server refuses to start, naming the migration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use errata_server::store::{IssueQuery, IssueStatus, Store};
use serde_json::Value;
use sqlx::{Connection, Executor};

use crate::helpers::TestApp;
use crate::store::with_fresh_postgres;
use crate::web::{client, post_login};

/// The schema version of the fixtures.
const FIXTURE: &str = "0005";
/// The fixture admin's password (`make.sh`).
const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// A token added to each fixture in its old schema by these tests, in plain text.
const OLD_TOKEN: &str = "upgrade-test-token-0123456789abcdef";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

/// The row count of every table, by engine (`sqlite_rows`, `postgres_rows`).
fn manifest(engine: &str) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(fixtures().join(format!("manifest-{FIXTURE}.json")))
        .expect("manifest");
    let manifest: Value = serde_json::from_str(&text).expect("manifest JSON");
    serde_json::from_value(manifest[format!("{engine}_rows")].clone()).expect("row counts")
}

/// The database of this test, by engine.
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite://{}", path.display()),
            Db::Postgres(url) => url.clone(),
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Runs `sql` outside the store (the old schema, before any migration of this binary).
    async fn execute(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(path) => {
                rusqlite::Connection::open(path)?.execute_batch(sql)?;
            }
            Db::Postgres(url) => {
                sqlx::PgConnection::connect(url).await?.execute(sql).await?;
            }
        }
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        Ok(match self {
            Db::Sqlite(path) => {
                rusqlite::Connection::open(path)?.query_row(sql, [], |row| row.get(0))?
            }
            Db::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await?
            }
        })
    }

    async fn counts(&self, tables: impl Iterator<Item = &String>) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for table in tables {
            let n = self
                .count(&format!("select count(*) from {table}"))
                .await
                .with_context(|| format!("counting {table}"))?;
            out.insert(table.clone(), n);
        }
        Ok(out)
    }

    /// The newest migration applied.
    async fn version(&self) -> Result<i64> {
        self.count("select max(version) from _sqlx_migrations where success")
            .await
    }
}

/// A copy of the SQLite fixture in `dir`.
fn sqlite_fixture(dir: &Path) -> Db {
    let path = dir.join("errata.db");
    std::fs::copy(fixtures().join(format!("errata-{FIXTURE}.sqlite")), &path).expect("copy");
    Db::Sqlite(path)
}

/// The PostgreSQL fixture loaded with `psql` into the fresh database at `url`.
fn postgres_fixture(url: &str) -> Result<Db> {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(fixtures().join(format!("errata-{FIXTURE}.pg.sql")))
        .output()
        .context("psql")?;
    ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Db::Postgres(url.to_owned()))
}

/// Adds a token in the old schema, whose plain text this test knows (the fixture's own
/// token was printed once and not kept).
async fn add_old_token(db: &Db) -> Result<()> {
    let hash = errata_server::store::secret_hash(OLD_TOKEN);
    db.execute(&format!(
        "insert into api_tokens (token_hash, name, created_ms) values ('{hash}', 'upgrade-test', 1)"
    ))
    .await
}

/// The upgrade itself, then every check.
async fn upgrade_keeps_everything(db: Db) -> Result<()> {
    let mut expected = manifest(db.engine());
    add_old_token(&db).await?;
    *expected.get_mut("api_tokens").context("api_tokens")? += 1;
    ensure!(db.version().await? == 5);

    let store = Store::connect(&db.url()).await?;
    ensure!(db.version().await? > 5, "this binary's migrations ran");
    let counts = db.counts(expected.keys()).await?;
    ensure!(
        counts == expected,
        "row counts changed: {counts:?} != {expected:?}"
    );
    // Migration 0021 dates every existing user by its issue (none is 0, the column default).
    let dated = db
        .count(
            "select count(*) from issue_users u join issues i on i.issue_id = u.issue_id \
             where u.first_seen_day = i.first_seen_ms / 86400000 \
             and u.last_seen_day = i.last_seen_ms / 86400000 and u.last_seen_day > 0",
        )
        .await?;
    ensure!(dated == expected["issue_users"], "{dated} users dated");
    readable_through_the_store(&store, &expected).await?;
    store.close().await;

    // The server on the upgraded database: the admin signs in, the old token reads.
    let app = TestApp::spawn_on(&db.url(), |_| {}).await;
    let http = client();
    let res = post_login(&app, &http, "admin@example.com", ADMIN_PASSWORD).await;
    ensure!(res.status() == 303, "sign-in: {}", res.status());
    ensure!(res.headers().get("set-cookie").is_some());
    let shop = shop_project(&app.store).await?;
    let res = app
        .http
        .get(format!(
            "{}/api/v1/projects/{shop}/issues?status=unresolved",
            app.base
        ))
        .bearer_auth(OLD_TOKEN)
        .send()
        .await?;
    ensure!(res.status() == 200, "old token: {}", res.status());
    let page: Value = res.json().await?;
    ensure!(page["issues"].as_array().map(Vec::len) == Some(2), "{page}");
    app.stop().await;
    Ok(())
}

async fn shop_project(store: &Store) -> Result<i64> {
    Ok(store
        .list_projects()
        .await?
        .into_iter()
        .find(|p| p.name == "shop")
        .context("project shop")?
        .id)
}

/// Every kind of row, read back through the store's own API.
async fn readable_through_the_store(store: &Store, expected: &BTreeMap<String, i64>) -> Result<()> {
    let shop = shop_project(store).await?;
    let mut query = IssueQuery::new(shop);
    query.limit = 100;
    let issues = store.list_issues(&query).await?.issues;
    ensure!(issues.len() as i64 == expected["issues"]);
    let regressed: Vec<_> = issues.iter().filter(|i| i.is_regression).collect();
    ensure!(regressed.len() == 1, "one regression: {issues:?}");
    ensure!(regressed[0].title.contains("bad amount again"));
    ensure!(issues.iter().any(|i| i.status == IssueStatus::Ignored));
    let mut events = 0;
    for issue in &issues {
        let page = store.issue_events(issue.id, 100, None).await?;
        for summary in page.events {
            let event = store.event(shop, &summary.event_id).await?;
            ensure!(event.summary.issue_id == issue.id);
            ensure!(
                event.payload["exception"]["values"][0]["type"] == "ValueError",
                "event payload decodes: {}",
                event.payload
            );
            ensure!(!event.grouping_hash.is_empty());
            events += 1;
        }
    }
    ensure!(events == expected["events"], "{events} events");

    let users = store.list_users().await?;
    ensure!(users.len() as i64 == expected["users"]);
    let (admin, hash) = store
        .user_with_password("admin@example.com")
        .await?
        .context("admin")?;
    ensure!(admin.is_admin);
    ensure!(errata_server::web::verify_password(&hash, ADMIN_PASSWORD));
    ensure!(store.token_valid(OLD_TOKEN).await?);

    let channels = store.channels().await?;
    ensure!(channels.len() as i64 == expected["notification_channels"]);
    let status = store.notification_status().await?;
    let delivered: i64 = status.iter().map(|s| s.pending + s.sent + s.failed).sum();
    ensure!(delivered > 0, "deliveries are visible: {status:?}");
    let mut attempts = 0;
    for channel in &channels {
        attempts += store.notification_attempts(channel.id, 1000).await?.len() as i64;
    }
    ensure!(attempts == expected["notification_attempts"]);
    ensure!(store.frequency_rules().await?.len() as i64 == expected["notification_rules"]);
    Ok(())
}

#[tokio::test]
async fn a_sqlite_database_of_release_0005_upgrades_with_every_row() {
    let dir = tempfile::tempdir().expect("dir");
    upgrade_keeps_everything(sqlite_fixture(dir.path()))
        .await
        .expect("upgrade");
}

#[tokio::test]
async fn a_postgres_database_of_release_0005_upgrades_with_every_row() {
    with_fresh_postgres(
        |url| async move { upgrade_keeps_everything(postgres_fixture(&url)?).await },
    )
    .await
    .expect("upgrade");
}

/// A migration that creates a table, fills it, then fails: none of it may stay.
const BROKEN: &str = "create table upgrade_probe (id bigint);\n\
    insert into upgrade_probe values (1);\n\
    insert into no_such_table values (1);\n";

/// The engine's migrations plus a broken one, numbered after them, in a temporary directory.
fn migrations_with_a_broken_one(engine: &str, dir: &Path) -> i64 {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    let mut last = 0;
    for entry in std::fs::read_dir(source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        last = last.max(name[..4].parse::<i64>().expect("numbered"));
        std::fs::copy(&path, dir.join(&name)).expect("copy");
    }
    std::fs::write(dir.join(format!("{:04}_broken.sql", last + 1)), BROKEN).expect("write");
    last
}

/// Runs the migrations with a broken last one on `db` (migrated up to the real ones) and
/// checks that it failed, naming itself, and changed nothing.
async fn a_failing_migration_changes_nothing(db: Db) -> Result<()> {
    let store = Store::connect(&db.url()).await?;
    store.close().await;
    let dir = tempfile::tempdir()?;
    let last = migrations_with_a_broken_one(db.engine(), dir.path());
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await?;
    let err = match &db {
        Db::Sqlite(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await?;
            let err = migrator.run(&pool).await.err();
            pool.close().await;
            err
        }
        Db::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await?;
            let err = migrator.run(&pool).await.err();
            pool.close().await;
            err
        }
    };
    let err = err.context("the broken migration fails")?;
    ensure!(
        matches!(err, sqlx::migrate::MigrateError::ExecuteMigration(_, v) if v == last + 1),
        "{err}"
    );
    ensure!(db.version().await? == last, "no bookkeeping row for it");
    let probe = match &db {
        Db::Sqlite(_) => "select count(*) from sqlite_master where name = 'upgrade_probe'",
        Db::Postgres(_) => {
            "select count(*) from information_schema.tables where table_name = 'upgrade_probe'"
        }
    };
    ensure!(
        db.count(probe).await? == 0,
        "its first statements were rolled back"
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_migration_leaves_a_sqlite_database_as_it_was() {
    let dir = tempfile::tempdir().expect("dir");
    a_failing_migration_changes_nothing(Db::Sqlite(dir.path().join("errata.db")))
        .await
        .expect("rolled back");
}

#[tokio::test]
async fn a_failing_migration_leaves_a_postgres_database_as_it_was() {
    with_fresh_postgres(|url| async move {
        a_failing_migration_changes_nothing(Db::Postgres(url)).await
    })
    .await
    .expect("rolled back");
}

/// `errata serve` on a 0005 database where migration 0006 cannot run (its table exists):
/// the server exits, naming the migration, and the database is as it was.
async fn the_server_refuses_a_failing_migration(db: Db) -> Result<()> {
    db.execute("create table job_leases (job text)").await?;
    let tables = manifest(db.engine());
    let before = db.counts(tables.keys()).await?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("ERRATA_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .env_remove("ERRATA_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .context("the server should have refused to start")??;
    let out = child.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!status.success(), "exit status {status}");
    ensure!(
        stderr.contains("migration 0006 (job leases) failed") && stderr.contains("job_leases"),
        "the message names the migration and its cause: {stderr}"
    );
    ensure!(db.version().await? == 5, "still at 0005");
    ensure!(
        db.counts(tables.keys()).await? == before,
        "nothing was added (no default project, no setup link)"
    );
    ensure!(String::from_utf8_lossy(&out.stdout).is_empty());
    Ok(())
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_failing_sqlite_migration() {
    let dir = tempfile::tempdir().expect("dir");
    the_server_refuses_a_failing_migration(sqlite_fixture(dir.path()))
        .await
        .expect("refused");
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_failing_postgres_migration() {
    with_fresh_postgres(|url| async move {
        the_server_refuses_a_failing_migration(postgres_fixture(&url)?).await
    })
    .await
    .expect("refused");
}
