//! Per-issue statistics the ingest batch keeps: tag counts (`issue_tags`, facets; the keys
//! include `release`, `environment` and `level`) and event counts per hour (`issue_hourly`,
//! sparklines).

use std::collections::HashMap;

use crate::clock::HOUR_MS;
use crate::store::db::{arg, Arg, Executor};
use crate::store::{Store, StoreError};

row! {
    struct FacetRow {
        key: String,
        value: String,
        count: i64,
    }
}

row! {
    struct KeyTotalRow {
        key: String,
        total: i64,
    }
}

row! {
    struct HourRow {
        hour_ms: i64,
        count: i64,
    }
}

row! {
    struct IssueHourRow {
        issue_id: i64,
        hour_ms: i64,
        count: i64,
    }
}

impl Store {
    /// Tag distribution of an issue: per key (sorted), its `top_n` most frequent values with
    /// their event counts, most frequent first. Keys include `level`, `release` and
    /// `environment`. Values idle past the retention age are not among them (their counts
    /// sit in the key's remainder row, empty value: `store/retention/idle_tag_values.rs`); a
    /// key all of whose values went that way is listed with none, its events all "other"
    /// ([`Store::issue_tag_key_totals`]). An unknown issue yields an empty list.
    pub async fn issue_tag_facets(
        &self,
        issue_id: i64,
        top_n: usize,
    ) -> Result<Vec<(String, Vec<(String, i64)>)>, StoreError> {
        let top_n = i64::try_from(top_n).unwrap_or(i64::MAX);
        let rows = self
            .db()
            .fetch_all::<FacetRow>(
                "select key, value, count from (\
                   select key, value, count, row_number() over \
                     (partition by key order by value = '', count desc, value) as rn \
                   from issue_tags where issue_id = $1) ranked \
                 where rn <= $2 order by key, value = '', count desc, value",
                vec![issue_id.into(), top_n.into()],
            )
            .await?;
        // The remainder ranks after every value: it names its key, and is not a value.
        let mut facets: Vec<(String, Vec<(String, i64)>)> = Vec::new();
        for row in rows {
            if facets.last().is_none_or(|(key, _)| *key != row.key) {
                facets.push((row.key, Vec::new()));
            }
            if let Some((_, values)) = facets.last_mut().filter(|_| !row.value.is_empty()) {
                values.push((row.value, row.count));
            }
        }
        Ok(facets)
    }

    /// Events of an issue carrying each tag key, whatever the value, folded ones included
    /// (the rest lack the tag: the facets' "(not set)"). An unknown issue yields an empty map.
    pub async fn issue_tag_key_totals(
        &self,
        issue_id: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<KeyTotalRow>(
                "select key, cast(sum(count) as bigint) as total from issue_tags \
                 where issue_id = $1 group by key",
                vec![issue_id.into()],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.key, r.total)).collect())
    }

    /// Event counts per hour (`(hour start epoch ms, count)`, oldest first) from the hour
    /// containing `since_ms` on; hours without events are absent.
    pub async fn issue_hourly(
        &self,
        issue_id: i64,
        since_ms: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<HourRow>(
                "select hour_ms, count from issue_hourly where issue_id = $1 and hour_ms >= $2 \
                 order by hour_ms",
                vec![
                    issue_id.into(),
                    (since_ms.div_euclid(HOUR_MS) * HOUR_MS).into(),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.hour_ms, r.count)).collect())
    }

    /// Hourly event counts of several issues at once (sparklines of a list page), from the
    /// hour containing `since_ms` on; per issue `(hour start epoch ms, count)`, oldest first.
    pub async fn hourly_for_issues(
        &self,
        issue_ids: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, Vec<(i64, i64)>>, StoreError> {
        let mut out: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        if issue_ids.is_empty() {
            return Ok(out);
        }
        let mut args: Vec<Arg<'_>> = Vec::new();
        let since = arg(&mut args, since_ms.div_euclid(HOUR_MS) * HOUR_MS);
        let ids: Vec<String> = issue_ids.iter().map(|id| arg(&mut args, *id)).collect();
        let sql = format!(
            "select issue_id, hour_ms, count from issue_hourly \
             where issue_id in ({}) and hour_ms >= {since} order by issue_id, hour_ms",
            ids.join(", ")
        );
        for r in self.db().fetch_all::<IssueHourRow>(&sql, args).await? {
            out.entry(r.issue_id)
                .or_default()
                .push((r.hour_ms, r.count));
        }
        Ok(out)
    }
}
