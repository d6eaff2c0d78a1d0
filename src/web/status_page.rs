//! The public status page, `GET /status/{slug}`: no sign-in. It shows the project's checks
//! marked `is_public` and the cron monitors chosen in its settings
//! (`PUT /api/v1/projects/{id}/status-page`), each with its current state and 90 daily bars,
//! and nothing internal: a check is shown by its name (by its host when its name is its URL),
//! never its URL, error, status code or response body; a monitor by its name. A project
//! without an enabled page answers 404, as an unknown slug does. Names are escaped by the
//! template; the bars are numbers only.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::svg::Svg;
use super::{WebError, WebState};
use crate::clock::DAY_MS;
use crate::monitors::cron::MonitorStatus;
use crate::monitors::uptime::CheckStatus;
use crate::store::DayTally;

/// Days of bars.
pub const DAYS: i64 = 90;

/// One thing on the page.
#[derive(Debug, Serialize)]
struct Item {
    name: String,
    /// `up`, `down`, `unknown`: picks the colour.
    state: &'static str,
    /// "Operational", "Down", "No data".
    label: &'static str,
    bars: Svg,
    /// Over the 90 days, or `–`.
    uptime: String,
}

/// What `status.html` shows.
#[derive(Debug, Serialize)]
struct StatusPageView {
    title: String,
    all_up: bool,
    items: Vec<Item>,
}

/// 90 bars, one per UTC day ending today, coloured by that day's share of good results.
fn bars(days: &[DayTally], now: i64) -> (Svg, String) {
    let today = now.div_euclid(DAY_MS);
    let (w, h, bw) = (DAYS as f64 * 4.0, 28.0, 4.0);
    let mut s = format!(
        "<svg class=\"days\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"the last {DAYS} days\">"
    );
    let (mut total, mut good) = (0, 0);
    for i in 0..DAYS {
        let day = today - (DAYS - 1 - i);
        let found = days.iter().find(|d| d.day_ms.div_euclid(DAY_MS) == day);
        let (class, title) = match found {
            Some(d) if d.total > 0 => {
                total += d.total;
                good += d.good;
                let share = d.good as f64 / d.total as f64;
                let class = if d.good == d.total {
                    "up"
                } else if share >= 0.5 {
                    "partial"
                } else {
                    "down"
                };
                (class, format!("{:.2} %", share * 100.0))
            }
            _ => ("none", "no data".to_owned()),
        };
        let date = crate::timefmt::rfc3339_ms(day * DAY_MS);
        let _ = write!(
            s,
            "<rect class=\"day {class}\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{h}\" \
             rx=\"1\"><title>{}: {title}</title></rect>",
            i as f64 * bw,
            bw - 1.0,
            date.get(..10).unwrap_or_default(),
        );
    }
    s.push_str("</svg>");
    let uptime = if total > 0 {
        format!("{:.2} %", good as f64 * 100.0 / total as f64)
    } else {
        "–".to_owned()
    };
    (Svg::trusted(s), uptime)
}

/// A check's public name: its name, or its host when the name is the URL.
fn public_name(name: &str, url: &str) -> String {
    if name != url {
        return name.to_owned();
    }
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Check".to_owned())
}

/// `GET /status/{slug}`.
pub async fn show(
    State(state): State<WebState>,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let Some(page) = store
        .status_page_by_slug(&slug)
        .await?
        .filter(|p| p.enabled)
    else {
        return Err(WebError::NotFound);
    };
    let since = (now.div_euclid(DAY_MS) - (DAYS - 1)) * DAY_MS;
    let mut items = Vec::new();
    for c in store.uptime_checks(page.project_id).await? {
        if !c.config.is_public {
            continue;
        }
        let (bars, uptime) = bars(&store.uptime_days(c.id, since).await?, now);
        let (state, label) = match (c.is_paused, c.status) {
            (true, _) | (_, CheckStatus::Unknown) => ("unknown", "No data"),
            (false, CheckStatus::Up) => ("up", "Operational"),
            (false, CheckStatus::Down) => ("down", "Down"),
        };
        items.push(Item {
            name: public_name(&c.config.name, &c.config.url),
            state,
            label,
            bars,
            uptime,
        });
    }
    let monitors = store.monitors(page.project_id).await?;
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let envs = store.monitor_environments(&ids).await?;
    for m in monitors.iter().filter(|m| page.monitor_ids.contains(&m.id)) {
        let status = MonitorStatus::of_monitor(
            m.is_paused,
            envs.iter()
                .filter(|e| e.monitor_id == m.id)
                .map(|e| e.status),
        );
        let (state, label) = match status {
            MonitorStatus::Ok | MonitorStatus::InProgress => ("up", "Operational"),
            MonitorStatus::Error | MonitorStatus::Missed | MonitorStatus::Timeout => {
                ("down", "Down")
            }
            MonitorStatus::New | MonitorStatus::Paused => ("unknown", "No data"),
        };
        let (bars, uptime) = bars(&store.checkin_days(m.id, since).await?, now);
        items.push(Item {
            name: m.name.clone(),
            state,
            label,
            bars,
            uptime,
        });
    }
    let view = StatusPageView {
        title: page.title,
        all_up: items.iter().all(|i| i.state != "down"),
        items,
    };
    Ok(state.templates.render("status.html", view)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_colour_days_by_their_share() {
        let now = 100 * DAY_MS + 5;
        let days = [
            DayTally {
                day_ms: 100 * DAY_MS,
                total: 10,
                good: 10,
            },
            DayTally {
                day_ms: 99 * DAY_MS,
                total: 10,
                good: 6,
            },
            DayTally {
                day_ms: 98 * DAY_MS,
                total: 4,
                good: 1,
            },
        ];
        let (svg, uptime) = bars(&days, now);
        let s = svg.as_str();
        assert_eq!(s.matches("<rect").count(), 90);
        assert_eq!(s.matches("day up").count(), 1);
        assert_eq!(s.matches("day partial").count(), 1);
        assert_eq!(s.matches("day down").count(), 1);
        assert_eq!(uptime, "70.83 %");
        assert_eq!(
            public_name("https://a.example/x", "https://a.example/x"),
            "a.example"
        );
        assert_eq!(public_name("Shop", "https://a.example/x"), "Shop");
    }
}
