//! Read-API checks: did the server *store* what it acknowledged?
//!
//! A 200 from ingestion is only a promise. After the run we compare, through the read API
//! (`Authorization: Bearer <token>`):
//! - the sum of the project's issue counts against its value before the run plus the number
//!   of acknowledged events (plus at most the ambiguous ones, which may or may not be stored);
//! - the number of issues against its value before the run plus the distinct issues among the
//!   acknowledged events (every run has its own issues, see `payload`);
//! - a sample (or all) of the acknowledged event ids: each must be fetchable (200).
//!
//! Visibility: [`probe`] polls one freshly acknowledged event at a time until the read API
//! returns it and records how long that took after the acknowledgement.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::run::Acked;

/// A read-API client for one project.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Url,
    token: String,
    project_id: i64,
}

/// Issue ids and counts of a project (all statuses).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// issue id → count.
    pub counts: BTreeMap<i64, i64>,
}

impl Snapshot {
    /// Sum of the issues' event counts.
    pub fn total_events(&self) -> i64 {
        self.counts.values().sum()
    }
}

/// The outcome of the post-run check.
#[derive(Debug, Serialize)]
pub struct Verification {
    /// True when every check passed.
    pub ok: bool,
    /// Human-readable reasons when not ok.
    pub problems: Vec<String>,
    /// Issues before the run.
    pub issues_before: usize,
    /// Issues after the run.
    pub issues_after: usize,
    /// Distinct issues among acknowledged events.
    pub issues_expected_new: usize,
    /// Sum of issue counts after minus before.
    pub events_stored: i64,
    /// Acknowledged events.
    pub events_acknowledged: u64,
    /// Events given up on after an ambiguous failure (may legitimately be stored).
    pub events_ambiguous: u64,
    /// Acknowledged ids looked up one by one.
    pub sampled: usize,
    /// Of those, not found.
    pub sample_missing: usize,
    /// A few missing ids.
    pub missing_examples: Vec<String>,
    /// Time from the end of the run until the counts matched (they should at once).
    pub converged_after_ms: Option<u64>,
}

impl Api {
    /// `base` is the server root (`http://host:port`, with any path prefix).
    pub fn new(client: reqwest::Client, base: Url, token: String, project_id: i64) -> Self {
        Api {
            client,
            base,
            token,
            project_id,
        }
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(base.join(path.trim_start_matches('/'))?)
    }

    async fn get(&self, url: Url) -> anyhow::Result<(StatusCode, String)> {
        let resp = self
            .client
            .get(url.clone())
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        Ok((status, resp.text().await?))
    }

    /// Every issue of the project with its count, across all statuses.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut snap = Snapshot::default();
        for status in ["unresolved", "resolved", "ignored"] {
            let mut cursor: Option<String> = None;
            for page in 0.. {
                if page > 100_000 {
                    bail!("issue list did not end after 100,000 pages");
                }
                let mut url = self.url(&format!("api/v1/projects/{}/issues", self.project_id))?;
                url.query_pairs_mut()
                    .append_pair("limit", "100")
                    .append_pair("status", status);
                if let Some(c) = &cursor {
                    url.query_pairs_mut().append_pair("cursor", c);
                }
                let (code, body) = self.get(url.clone()).await?;
                if code != StatusCode::OK {
                    bail!(
                        "GET {url}: {code}: {}",
                        body.chars().take(300).collect::<String>()
                    );
                }
                let v: Value = serde_json::from_str(&body).with_context(|| format!("GET {url}"))?;
                let issues = v["issues"]
                    .as_array()
                    .with_context(|| format!("GET {url}: no \"issues\" array"))?;
                for i in issues {
                    let id = i["id"].as_i64().context("issue without numeric id")?;
                    let count = i["count"].as_i64().context("issue without numeric count")?;
                    if snap.counts.insert(id, count).is_some() {
                        bail!("issue {id} listed twice (status {status}, page {page})");
                    }
                }
                match v["next_cursor"].as_str() {
                    Some(c) if !issues.is_empty() => {
                        if cursor.as_deref() == Some(c) {
                            bail!("issue list cursor {c:?} repeats");
                        }
                        cursor = Some(c.to_owned());
                    }
                    _ => break,
                }
            }
        }
        Ok(snap)
    }

    /// Status of `GET /api/v1/projects/{pid}/events/{event_id}`.
    pub async fn event_status(&self, event_id: &str) -> anyhow::Result<StatusCode> {
        let url = self.url(&format!(
            "api/v1/projects/{}/events/{event_id}",
            self.project_id
        ))?;
        Ok(self.get(url).await?.0)
    }
}

/// Compares the project after the run with `before` and the acknowledged ids.
pub async fn verify(
    api: &Api,
    before: &Snapshot,
    acked: &[([u8; 32], u32)],
    acknowledged: u64,
    ambiguous: u64,
    sample: usize,
    timeout: Duration,
) -> anyhow::Result<Verification> {
    let expected_new: usize = {
        let mut seen: Vec<u32> = acked.iter().map(|(_, k)| *k).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    let started = Instant::now();
    let counts_ok = |after: &Snapshot| {
        let stored = after.total_events() - before.total_events();
        let issues_ok = after.counts.len() == before.counts.len() + expected_new;
        let events_ok =
            stored >= acknowledged as i64 && stored <= (acknowledged + ambiguous) as i64;
        issues_ok && events_ok
    };
    let mut after = api.snapshot().await?;
    let mut converged_after_ms = None;
    loop {
        if counts_ok(&after) {
            converged_after_ms = Some(started.elapsed().as_millis() as u64);
            break;
        }
        if started.elapsed() >= timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = api.snapshot().await?;
    }

    let mut problems = Vec::new();
    let stored = after.total_events() - before.total_events();
    if stored < acknowledged as i64 {
        problems.push(format!(
            "LOST EVENTS: issue counts grew by {stored} but {acknowledged} events were acknowledged"
        ));
    } else if stored > (acknowledged + ambiguous) as i64 {
        problems.push(format!(
            "issue counts grew by {stored}, more than the {acknowledged} acknowledged + {ambiguous} ambiguous events"
        ));
    }
    let issues_new = after.counts.len() as i64 - before.counts.len() as i64;
    if issues_new != expected_new as i64 {
        problems.push(format!(
            "{issues_new} new issues, expected {expected_new} (distinct issues among acknowledged events)"
        ));
    }
    for (id, count) in &before.counts {
        match after.counts.get(id) {
            Some(c) if c >= count => {}
            Some(c) => problems.push(format!("issue {id} count went down from {count} to {c}")),
            None => problems.push(format!("issue {id} disappeared")),
        }
    }

    // Check acknowledged ids one by one, a few at a time.
    let mut ids: Vec<&[u8; 32]> = acked.iter().map(|(id, _)| id).collect();
    if sample > 0 && sample < ids.len() {
        ids.shuffle(&mut rand::rng());
        ids.truncate(sample);
    }
    let mut missing = Vec::new();
    for chunk in ids.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for id in chunk {
            let id = String::from_utf8_lossy(*id).into_owned();
            let api = api.clone();
            set.spawn(async move { (api.event_status(&id).await, id) });
        }
        while let Some(r) = set.join_next().await {
            let (status, id) = r?;
            match status? {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => missing.push(id),
                other => bail!("GET event {id}: unexpected {other}"),
            }
        }
    }
    if !missing.is_empty() {
        problems.push(format!(
            "LOST EVENTS: {} of {} sampled acknowledged event ids are not in the read API",
            missing.len(),
            ids.len()
        ));
    }
    Ok(Verification {
        ok: problems.is_empty(),
        problems,
        issues_before: before.counts.len(),
        issues_after: after.counts.len(),
        issues_expected_new: expected_new,
        events_stored: stored,
        events_acknowledged: acknowledged,
        events_ambiguous: ambiguous,
        sampled: ids.len(),
        sample_missing: missing.len(),
        missing_examples: missing.into_iter().take(5).collect(),
        converged_after_ms,
    })
}

/// Visibility samples, µs from acknowledgement to the first 200 from the read API; `None` for
/// an event still invisible after 5 s.
pub async fn probe(api: Api, mut rx: mpsc::Receiver<Acked>) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    while let Some((id, acked_at)) = rx.recv().await {
        let visible = loop {
            match api.event_status(&id).await {
                Ok(StatusCode::OK) => break Some(acked_at.elapsed().as_micros() as u32),
                _ if acked_at.elapsed() > Duration::from_secs(5) => break None,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        out.push(visible);
        // Sample a few times per second; then take a fresh acknowledgement, not one that
        // waited in the channel (its age would inflate the figure).
        tokio::time::sleep(Duration::from_millis(200)).await;
        while rx.try_recv().is_ok() {}
    }
    out
}
