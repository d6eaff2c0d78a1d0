//! Issue lists: a project's issues filtered (state, level, release, environment, tags,
//! regressions, feedback, free text) and sorted, with keyset pagination.
//!
//! Cursors are opaque strings to clients: `"<sort>:<value>:<issue_id>"`, the last row of the
//! page in the sort order (newest / largest first). A cursor is only valid with the sort it
//! was made for.

use super::{Issue, IssueRow, IssueStatus, ISSUE_COLUMNS};
use crate::protocol::Level;
use crate::store::db::{arg, like_contains, next_page, page_limit, Arg, Executor};
use crate::store::{Backend, Store, StoreError};

/// Sort order of [`Store::list_issues`]; always descending, ties broken by newer issue id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Newest issues first.
    FirstSeen,
    /// Most events first.
    Count,
    /// Most distinct users first.
    Users,
}

impl IssueSort {
    fn column(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "i.last_seen_ms",
            IssueSort::FirstSeen => "i.first_seen_ms",
            IssueSort::Count => "i.event_count",
            IssueSort::Users => "i.user_count",
        }
    }

    fn cursor_tag(self) -> &'static str {
        match self {
            IssueSort::LastSeen => "ls",
            IssueSort::FirstSeen => "fs",
            IssueSort::Count => "c",
            IssueSort::Users => "u",
        }
    }

    fn value(self, issue: &Issue) -> i64 {
        match self {
            IssueSort::LastSeen => issue.last_seen_ms,
            IssueSort::FirstSeen => issue.first_seen_ms,
            IssueSort::Count => issue.count,
            IssueSort::Users => issue.user_count,
        }
    }
}

/// Who an issue list is narrowed to (`assigned:me`, `assigned:EMAIL`, `is:unassigned`,
/// `is:assigned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned to this user.
    User(i64),
    /// Assigned to nobody.
    Nobody,
    /// Assigned to somebody.
    Anybody,
}

/// Filters and page of [`Store::list_issues`]. All filters combine with AND.
#[derive(Debug, Clone)]
pub struct IssueQuery {
    /// Project to list.
    pub project_id: i64,
    /// Only issues in this state.
    pub status: Option<IssueStatus>,
    /// Only issues whose (newest) level is this.
    pub level: Option<Level>,
    /// Only issues with at least one event of this release.
    pub release: Option<String>,
    /// Only issues with at least one event in this environment.
    pub environment: Option<String>,
    /// Case-insensitive substring of title or culprit (SQLite folds ASCII case only).
    pub query: Option<String>,
    /// Only issues with at least one event carrying each `(key, value)` tag.
    pub tags: Vec<(String, String)>,
    /// Only issues reopened by an event after they were resolved (`is:regressed`).
    pub regressed: bool,
    /// Only issues with this assignee.
    pub assignee: Option<AssigneeFilter>,
    /// Only issues with user feedback (`has:feedback`).
    pub has_feedback: bool,
    /// Order.
    pub sort: IssueSort,
    /// Page size; clamped to 1..=100.
    pub limit: usize,
    /// `next_cursor` of the previous page, for the same sort.
    pub cursor: Option<String>,
}

impl IssueQuery {
    /// All issues of a project, most recently seen first, 25 per page.
    pub fn new(project_id: i64) -> IssueQuery {
        IssueQuery {
            project_id,
            status: None,
            level: None,
            release: None,
            environment: None,
            query: None,
            tags: Vec::new(),
            regressed: false,
            assignee: None,
            has_feedback: false,
            sort: IssueSort::LastSeen,
            limit: 25,
            cursor: None,
        }
    }
}

/// One page of issues.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuePage {
    /// The issues, in the requested order.
    pub issues: Vec<Issue>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

fn parse_issue_cursor(cursor: &str, sort: IssueSort) -> Result<(i64, i64), StoreError> {
    let invalid = || StoreError::InvalidCursor(format!("{cursor:?} is not a cursor of this list"));
    let mut parts = cursor.split(':');
    let (Some(tag), Some(value), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if tag != sort.cursor_tag() {
        return Err(invalid());
    }
    let value = value.parse().map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((value, id))
}

impl Store {
    /// One page of a project's issues, filtered and sorted by `q` (see [`IssueQuery`]).
    ///
    /// Keyset pagination on `(sort value, issue_id)`: pages neither repeat nor skip issues
    /// whose sort value does not change meanwhile. Errors: [`StoreError::InvalidCursor`] for
    /// a cursor not produced by this method with the same sort.
    pub async fn list_issues(&self, q: &IssueQuery) -> Result<IssuePage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!(
            "select {ISSUE_COLUMNS} from issues i where {}",
            self.issue_filters(q, &mut args)
        );
        let column = q.sort.column();
        if let Some(cursor) = q.cursor.as_deref() {
            let (value, id) = parse_issue_cursor(cursor, q.sort)?;
            let value = arg(&mut args, value);
            let id = arg(&mut args, id);
            sql += &format!(" and ({column}, i.issue_id) < ({value}, {id})");
        }
        let limit = page_limit(q.limit);
        sql += &format!(
            " order by {column} desc, i.issue_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let rows = self.db().fetch_all::<IssueRow>(&sql, args).await?;
        let mut issues = rows
            .into_iter()
            .map(Issue::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = next_page(&mut issues, limit)
            .map(|last| format!("{}:{}:{}", q.sort.cursor_tag(), q.sort.value(last), last.id));
        Ok(IssuePage {
            issues,
            next_cursor,
        })
    }

    /// How many issues match `q`'s filters (its sort, page and cursor aside): the number an
    /// issue search shows above its first page.
    pub async fn count_issues(&self, q: &IssueQuery) -> Result<i64, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let sql = format!(
            "select count(*) as id from issues i where {}",
            self.issue_filters(q, &mut args)
        );
        Ok(self
            .db()
            .fetch_one::<crate::store::db::IdRow>(&sql, args)
            .await?
            .id)
    }

    /// The `where` clause of [`Store::list_issues`] and [`Store::count_issues`] without the
    /// cursor, its values pushed to `args`.
    fn issue_filters<'q>(&self, q: &'q IssueQuery, args: &mut Vec<Arg<'q>>) -> String {
        let project = arg(args, q.project_id);
        // With free text most rows are read anyway: `+` keeps SQLite off the sort index so it
        // scans the table in storage order and sorts the (few) matches, instead of visiting
        // every row in random order through the index.
        let project_column = if q.query.is_some() && self.backend() == Backend::Sqlite {
            "+i.project_id"
        } else {
            "i.project_id"
        };
        let mut sql = format!("{project_column} = {project}");
        if let Some(status) = q.status {
            sql += &format!(" and i.status = {}", arg(args, status.as_str()));
        }
        if q.regressed {
            sql += " and i.is_regression = true";
        }
        match q.assignee {
            Some(AssigneeFilter::User(id)) => {
                sql += &format!(" and i.assignee_id = {}", arg(args, id));
            }
            Some(AssigneeFilter::Nobody) => sql += " and i.assignee_id is null",
            Some(AssigneeFilter::Anybody) => sql += " and i.assignee_id is not null",
            None => {}
        }
        if q.has_feedback {
            sql += " and exists (select 1 from user_feedback f where f.issue_id = i.issue_id)";
        }
        if let Some(level) = q.level {
            sql += &format!(" and i.level = {}", arg(args, level.as_str()));
        }
        let fixed = [("release", &q.release), ("environment", &q.environment)];
        let fixed = fixed
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)));
        let free = q.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (key, value) in fixed.chain(free) {
            let key = arg(args, key);
            let value = arg(args, value);
            // The empty value is a key's remainder of folded values, not a value to find.
            sql += &format!(
                " and exists (select 1 from issue_tags t where t.issue_id = i.issue_id \
                 and t.key = {key} and t.value = {value} and t.value <> '')"
            );
        }
        if let Some(text) = q.query.as_deref() {
            match self.backend() {
                // SQLite's LIKE folds ASCII case itself (like `lower()` there), without
                // allocating two lowered copies per row.
                Backend::Sqlite => {
                    let p = arg(args, like_contains(text));
                    sql += &format!(
                        " and (i.title like {p} escape '\\' \
                         or coalesce(i.culprit, '') like {p} escape '\\')"
                    );
                }
                Backend::Postgres => {
                    let p = arg(args, text);
                    sql += &format!(
                        " and (strpos(lower(i.title), lower({p})) > 0 \
                         or strpos(lower(coalesce(i.culprit, '')), lower({p})) > 0)"
                    );
                }
            }
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_cursor_is_tied_to_its_sort() {
        assert_eq!(
            parse_issue_cursor("ls:1700:42", IssueSort::LastSeen).unwrap(),
            (1700, 42)
        );
        assert!(parse_issue_cursor("ls:1700:42", IssueSort::Count).is_err());
        assert!(parse_issue_cursor("ls:x:42", IssueSort::LastSeen).is_err());
        assert!(parse_issue_cursor("ls:1:2:3", IssueSort::LastSeen).is_err());
        assert!(parse_issue_cursor("", IssueSort::LastSeen).is_err());
    }
}
