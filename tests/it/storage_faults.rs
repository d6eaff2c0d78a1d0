//! Issue #24, items 3, 10 and 11: a database locked by another connection, a database file
//! that is deleted, replaced or cannot be written, and a full disk. A lock delays a commit
//! instead of failing it; otherwise ingestion stops acknowledging (503 with `Retry-After`),
//! `/readyz` says why, the WAL stays bounded, and an outage is logged once per change of state
//! and then once a minute. The faults are real: a lock held by another connection, files
//! removed, `chattr +i`, a small tmpfs (the last two need root; without it they skip, saying
//! why, except in CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use errata_server::clock::Clock;
use serde_json::Value;

use crate::helpers::{error_event, event_envelope, new_event_id, CapturedLogs, TestApp};

async fn send(app: &TestApp) -> reqwest::Response {
    app.post_envelope(event_envelope(&error_event(&new_event_id(), "f", "v")))
        .await
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

fn retry_after(res: &reqwest::Response) -> Option<&str> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
}

/// Skips a test that needs what this machine lacks; in CI that is a failure.
fn skip(reason: &str) {
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipping: {reason}");
}

fn run(cmd: &mut Command) -> Result<(), String> {
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn a_deleted_or_replaced_database_file_stops_acknowledgements() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("errata.db");
    let app = TestApp::spawn_on(&format!("sqlite://{}", path.display()), |c| {
        c.ingest.unavailable_retry_after_secs = 7;
    })
    .await;
    assert_eq!(send(&app).await.status(), 200);
    assert_eq!(readyz(&app).await.0, 200);

    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(dir.path().join(format!("errata.db{suffix}"))).expect("remove");
    }
    let res = send(&app).await;
    assert_eq!(res.status(), 503, "an event written now would be lost");
    assert_eq!(retry_after(&res), Some("7"));
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"], "failing", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&path.display().to_string()) && detail.contains("deleted"),
        "{body}"
    );

    // A file put back at the path (a restore, another server's) is not the one written.
    std::fs::write(&path, b"").expect("replace");
    assert_eq!(send(&app).await.status(), 503);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("replaced")),
        "{body}"
    );
    app.stop().await;
}

/// `chattr +i` on a file until dropped: even open descriptors cannot write it.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Result<Immutable, String> {
        run(Command::new("chattr").arg("+i").arg(path))?;
        Ok(Immutable(path.to_owned()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = run(Command::new("chattr").arg("-i").arg(&self.0));
    }
}

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn an_unwritable_database_file_keeps_the_wal_bounded() {
    const LIMIT: u64 = 512 * 1024;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("errata.db");
    let app = TestApp::spawn_on(&format!("sqlite://{}", path.display()), |c| {
        c.storage.max_wal_bytes = LIMIT;
    })
    .await;
    assert_eq!(send(&app).await.status(), 200);
    let immutable = match Immutable::set(&path) {
        Ok(guard) => guard,
        Err(e) => return skip(&format!("cannot make the database file immutable: {e}")),
    };
    // Checkpoints now fail: every commit lengthens the WAL, until the limit.
    let mut refused = None;
    let mut longest = 0;
    for _ in 0..400 {
        let res = send(&app).await;
        longest = longest.max(wal_len(&path));
        match res.status().as_u16() {
            200 => {}
            503 => {
                refused = Some(res);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refused = refused.expect("commits stop once the WAL is over its limit");
    assert!(retry_after(&refused).is_some());
    for _ in 0..5 {
        assert_eq!(send(&app).await.status(), 503);
    }
    longest = longest.max(wal_len(&path));
    assert!(
        longest < 2 * LIMIT,
        "the WAL stays near its limit: {longest} bytes"
    );
    assert_eq!(readyz(&app).await.0, 503);

    drop(immutable);
    let res = send(&app).await;
    assert_eq!(
        res.status(),
        200,
        "the writer checkpoints the WAL, then commits"
    );
    assert!(wal_len(&path) < LIMIT, "{}", wal_len(&path));
    assert_eq!(readyz(&app).await.0, 200);
    app.stop().await;
}

/// A tmpfs of `size` bytes mounted on a fresh directory until dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()))?;
        Ok(Tmpfs { dir })
    }

    /// Writes a file until the file system is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg("-l").arg(self.dir.path()));
    }
}

#[tokio::test]
async fn a_full_disk_is_answered_with_retry_after_and_logged_once_a_minute() {
    let disk = match Tmpfs::mount(8 << 20) {
        Ok(disk) => disk,
        Err(e) => return skip(&format!("cannot mount a small tmpfs: {e}")),
    };
    let logs = CapturedLogs::default();
    let _capture = logs.install();
    let url = format!("sqlite://{}", disk.dir.path().join("errata.db").display());
    let clock = Clock::manual(1_800_000_000_000);
    let app = TestApp::spawn_on_with_clock(&url, clock.clone(), |c| {
        c.ingest.unavailable_retry_after_secs = 9;
    })
    .await;
    assert_eq!(send(&app).await.status(), 200);

    let filler = disk.fill();
    let mut refused = 0;
    let mut first = None;
    for _ in 0..500 {
        let res = send(&app).await;
        match res.status().as_u16() {
            200 => {}
            503 => {
                refused += 1;
                first.get_or_insert(res);
                if refused == 20 {
                    break;
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let first = first.expect("a full disk refuses events");
    assert_eq!(retry_after(&first), Some("9"));
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["ingest"], "failing", "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("full")),
        "{body}"
    );
    let count = |needle: &str| logs.text().lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("storage unavailable"), 1, "{}", logs.text());
    assert_eq!(
        count("ERROR"),
        1,
        "one line for the change of state, none per refusal: {}",
        logs.text()
    );

    // A minute later, one summary of the minute.
    clock.advance(Duration::from_secs(61));
    assert_eq!(send(&app).await.status(), 503);
    assert_eq!(count("storage still unavailable"), 1, "{}", logs.text());
    assert!(
        logs.text().contains(&format!("refused={refused}")),
        "{}",
        logs.text()
    );

    std::fs::remove_file(filler).expect("free space");
    let mut stored = false;
    for _ in 0..20 {
        if send(&app).await.status() == 200 {
            stored = true;
            break;
        }
    }
    assert!(stored, "events are stored once there is space again");
    assert_eq!(count("storage available again"), 1, "{}", logs.text());
    assert_eq!(readyz(&app).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_locked_database_delays_a_commit_instead_of_failing_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("errata.db");
    let app = TestApp::spawn_on(&format!("sqlite://{}", path.display()), |_| {}).await;
    assert_eq!(send(&app).await.status(), 200);
    // Another connection holds the write lock for longer than the busy timeout (5 s).
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("begin immediate").expect("lock");
        let _ = locked.send(());
        std::thread::sleep(Duration::from_millis(6500));
        conn.execute_batch("commit").expect("unlock");
    });
    is_locked.await.expect("locked");
    let started = Instant::now();
    let res = send(&app).await;
    assert_eq!(
        res.status(),
        200,
        "stored once the lock is free: {:?}",
        res.text().await
    );
    assert!(started.elapsed() > Duration::from_secs(5), "it had to wait");
    holder.join().expect("holder");
    let (events, _) = app.store.counts(None).await.expect("counts");
    assert_eq!(events, 2);
    app.stop().await;
}
