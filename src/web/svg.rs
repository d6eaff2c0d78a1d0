//! Inline SVG charts drawn on the server: the issue list's 24-hour sparklines and the issue
//! page's events-over-time bars. Only numbers and server-made labels go into the markup, so
//! the output is safe to embed unescaped: [`Svg`] is the only markup a template emits raw.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::clock::{DAY_MS, HOUR_MS};

/// Markup made here from numbers and fixed labels. A view-model field of this type reaches
/// the template as a safe string (not escaped); nothing else may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    /// Wraps markup that the caller built from numbers and fixed labels only, like the
    /// charts here (the monitor pages' charts, `web/monitors/charts.rs`). Never pass text
    /// that came from a user or an event.
    pub(crate) fn trusted(markup: String) -> Svg {
        Svg(markup)
    }

    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Svg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        minijinja::Value::from_safe_string(self.0.clone()).serialize(serializer)
    }
}

/// Dense per-bucket counts for `buckets` buckets of `width_ms` ending with the bucket that
/// contains `now_ms`, from sparse `(bucket start, count)` hours (several hours may fall in
/// one bucket).
pub fn bucketize(hours: &[(i64, i64)], now_ms: i64, width_ms: i64, buckets: usize) -> Vec<i64> {
    let mut out = vec![0; buckets];
    let last_start = now_ms.div_euclid(width_ms) * width_ms;
    let n = i64::try_from(buckets).unwrap_or(0);
    let first_start = last_start - (n - 1) * width_ms;
    for &(hour, count) in hours {
        if hour < first_start || hour >= last_start + width_ms {
            continue;
        }
        if let Ok(i) = usize::try_from((hour - first_start) / width_ms) {
            if let Some(slot) = out.get_mut(i) {
                *slot += count;
            }
        }
    }
    out
}

/// A 24-bar sparkline (one bar per hour, oldest left) with an accessible label.
pub fn sparkline(counts: &[i64]) -> Svg {
    let (w, h) = (96.0, 24.0);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = counts.len().max(1) as f64;
    let bw = w / n;
    let total: i64 = counts.iter().sum();
    let mut s = format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"{total} events in the last 24 hours\"><title>{total} events in 24 h</title>"
    );
    for (i, &c) in counts.iter().enumerate() {
        let bh = if c > 0 {
            (c as f64 / max * (h - 2.0)).max(2.0)
        } else {
            1.0
        };
        let class = if c > 0 { "bar" } else { "zero" };
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"/>",
            i as f64 * bw + 0.5,
            h - bh,
            (bw - 1.0).max(0.5),
            bh
        );
    }
    s.push_str("</svg>");
    Svg(s)
}

/// The chart ranges of the issue page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// 24 hourly bars.
    Day,
    /// 30 daily bars.
    Month,
}

impl Range {
    /// `(bucket width ms, bucket count)`.
    pub fn buckets(self) -> (i64, usize) {
        match self {
            Range::Day => (HOUR_MS, 24),
            Range::Month => (DAY_MS, 30),
        }
    }

    /// How far back the data must reach, ms.
    pub fn span_ms(self) -> i64 {
        let (w, n) = self.buckets();
        w * i64::try_from(n).unwrap_or(0)
    }
}

/// A bar chart of events over time with a max label and start/end labels.
///
/// The bars' SVG stretches to the card's width at a fixed height (`preserveAspectRatio=
/// "none"`, `svg.chart` in `app.css`): a viewBox kept at its aspect ratio left empty gutters
/// beside the bars on a wide page (issue #20, item 9). The labels are HTML around it, so
/// stretching never distorts them.
pub fn chart(counts: &[i64], range: Range) -> Svg {
    let (w, h) = (600.0, 100.0);
    let max = counts.iter().copied().max().unwrap_or(0);
    let scale = max.max(1) as f64;
    let n = counts.len().max(1) as f64;
    let bw = w / n;
    let total: i64 = counts.iter().sum();
    let (start, end) = match range {
        Range::Day => ("24 h ago", "now"),
        Range::Month => ("30 days ago", "today"),
    };
    let mut s = format!(
        "<div class=\"chart-box\"><span class=\"chart-max\">max {max}</span>\
         <svg class=\"chart\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{total} events, at most {max} per bar\">"
    );
    for (i, &c) in counts.iter().enumerate() {
        let bh = if c > 0 {
            (c as f64 / scale * h).max(2.0)
        } else {
            1.0
        };
        let class = if c > 0 { "bar" } else { "zero" };
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\">\
             <title>{c}</title></rect>",
            i as f64 * bw + 1.0,
            h - bh,
            (bw - 2.0).max(1.0),
            bh
        );
    }
    let _ = write!(
        s,
        "</svg><div class=\"chart-axis\"><span>{start}</span><span>{end}</span></div></div>"
    );
    Svg(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_now() {
        let now = 10 * HOUR_MS + 5;
        let hours = [(10 * HOUR_MS, 3), (9 * HOUR_MS, 2), (HOUR_MS * -20, 9)];
        let b = bucketize(&hours, now, HOUR_MS, 24);
        assert_eq!(b.len(), 24);
        assert_eq!(b[23], 3);
        assert_eq!(b[22], 2);
        assert_eq!(b.iter().sum::<i64>(), 5, "out-of-range hours are dropped");
        let days = bucketize(&[(0, 1), (HOUR_MS, 1)], now, DAY_MS, 30);
        assert_eq!(days[29], 2, "hours of today add up in the last day");
    }

    #[test]
    fn sparkline_has_a_bar_per_hour() {
        let s = sparkline(&[0, 1, 5]);
        assert_eq!(s.as_str().matches("<rect").count(), 3);
        assert!(s.as_str().contains("6 events in the last 24 hours"));
        let c = chart(&[1; 30], Range::Month);
        assert_eq!(c.as_str().matches("<rect").count(), 30);
        assert!(c.as_str().contains("30 days ago"));
        assert!(
            c.as_str().contains("preserveAspectRatio=\"none\""),
            "the bars fill the width"
        );
    }

    #[test]
    fn svg_reaches_templates_unescaped() {
        #[derive(Serialize)]
        struct Page {
            chart: Svg,
            label: &'static str,
        }
        let mut env = minijinja::Environment::new();
        env.add_template("t.html", "{{ chart }}{{ label }}")
            .unwrap();
        let page = Page {
            chart: sparkline(&[1]),
            label: "<b>",
        };
        let out = env.get_template("t.html").unwrap().render(page).unwrap();
        assert!(out.starts_with("<svg class=\"spark\""), "{out}");
        assert!(out.ends_with("&lt;b&gt;"), "{out}");
    }
}
