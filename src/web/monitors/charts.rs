//! The monitor pages' SVG: a strip of the latest check-ins coloured by status, and a bar
//! chart of check-in durations. Only numbers, status names from a fixed set and
//! server-formatted times go into the markup (see [`Svg::trusted`]).

use std::fmt::Write as _;

use crate::store::StoredCheckIn;
use crate::timefmt::rfc3339_ms;
use crate::web::svg::Svg;

/// How many check-ins the strip shows.
pub const STRIP: usize = 30;

/// A strip of up to [`STRIP`] check-ins, oldest left; `checkins` come newest first.
pub fn strip(checkins: &[&StoredCheckIn]) -> Svg {
    let (cell, gap, h) = (8.0, 2.0, 16.0);
    let w = STRIP as f64 * (cell + gap);
    let shown: Vec<&&StoredCheckIn> = checkins.iter().take(STRIP).collect();
    let mut s = format!(
        "<svg class=\"strip\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"last {} check-ins\">",
        shown.len()
    );
    // Right-aligned, so the newest is always at the right edge.
    let offset = STRIP - shown.len();
    for (i, c) in shown.iter().rev().enumerate() {
        let _ = write!(
            s,
            "<rect class=\"ci {status}\" x=\"{:.1}\" y=\"0\" width=\"{cell}\" height=\"{h}\" \
             rx=\"1.5\"><title>{status} {}</title></rect>",
            (offset + i) as f64 * (cell + gap),
            rfc3339_ms(c.fields.started_ms),
            status = c.fields.status.as_str(),
        );
    }
    s.push_str("</svg>");
    Svg::trusted(s)
}

/// Seconds as a short duration: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 10 min`.
pub fn seconds_text(ms: i64) -> String {
    match ms {
        ..=999 => format!("{} ms", ms.max(0)),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => crate::monitors::incident::duration_words(ms),
    }
}

/// A bar chart of the durations of `checkins` (newest first; drawn oldest left), each bar
/// coloured by status; check-ins without a duration (missed, still running) are thin marks
/// on the base line.
pub fn durations(checkins: &[StoredCheckIn]) -> Svg {
    let (w, h, top, bottom) = (600.0, 160.0, 16.0, 18.0);
    let max = checkins
        .iter()
        .filter_map(|c| c.fields.duration_ms)
        .max()
        .unwrap_or(0);
    let scale = max.max(1) as f64;
    let n = checkins.len().max(1) as f64;
    let bw = w / n;
    let plot = h - top - bottom;
    let mut s = format!(
        "<svg class=\"chart durations\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"durations of the last {} check-ins, longest {}\">",
        checkins.len(),
        seconds_text(max)
    );
    for (i, c) in checkins.iter().rev().enumerate() {
        let bh = match c.fields.duration_ms {
            Some(d) if d > 0 => (d as f64 / scale * plot).max(2.0),
            _ => 2.0,
        };
        let label = match c.fields.duration_ms {
            Some(d) => seconds_text(d),
            None => "no duration".to_owned(),
        };
        let _ = write!(
            s,
            "<rect class=\"ci {status}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\">\
             <title>{status}, {label}, {}</title></rect>",
            i as f64 * bw + 1.0,
            top + plot - bh,
            (bw - 2.0).max(1.0),
            bh,
            rfc3339_ms(c.fields.started_ms),
            status = c.fields.status.as_str(),
        );
    }
    let (first, last) = match (checkins.last(), checkins.first()) {
        (Some(a), Some(b)) => (
            rfc3339_ms(a.fields.started_ms),
            rfc3339_ms(b.fields.started_ms),
        ),
        _ => (String::new(), String::new()),
    };
    let _ = write!(
        s,
        "<text x=\"2\" y=\"11\" class=\"label\">max {}</text>\
         <text x=\"2\" y=\"{:.0}\" class=\"label\">{first}</text>\
         <text x=\"{:.0}\" y=\"{:.0}\" class=\"label end\">{last}</text></svg>",
        seconds_text(max),
        h - 4.0,
        w - 2.0,
        h - 4.0
    );
    Svg::trusted(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitors::cron::CheckInStatus;

    fn checkin(status: CheckInStatus, duration_ms: Option<i64>) -> StoredCheckIn {
        StoredCheckIn {
            id: 1,
            fields: crate::store::CheckInFields {
                guid: "g".into(),
                monitor_id: 1,
                monitor_environment_id: 1,
                status,
                started_ms: 0,
                updated_ms: 0,
                duration_ms,
                timeout_at_ms: None,
                expected_ms: None,
                release: Some("<img src=x>".into()),
                trace_id: None,
            },
            environment: "<script>".into(),
            event_id: None,
        }
    }

    #[test]
    fn charts_draw_one_mark_per_check_in_and_no_user_text() {
        let list = vec![
            checkin(CheckInStatus::Ok, Some(2_000)),
            checkin(CheckInStatus::Missed, None),
            checkin(CheckInStatus::Error, Some(500)),
        ];
        let refs: Vec<&StoredCheckIn> = list.iter().collect();
        let s = strip(&refs);
        assert_eq!(s.as_str().matches("<rect").count(), 3);
        assert!(s.as_str().contains("class=\"ci missed\""));
        let d = durations(&list);
        assert_eq!(d.as_str().matches("<rect").count(), 3);
        assert!(d.as_str().contains("max 2.0 s"));
        for svg in [s.as_str(), d.as_str()] {
            assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
        }
        assert_eq!(seconds_text(850), "850 ms");
        assert_eq!(seconds_text(245_000), "4 min 5 s");
    }
}
