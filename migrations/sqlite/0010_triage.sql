-- Team triage (SQLite): assignment, conditional resolve / ignore, the activity timeline with
-- comments, and the redirects of merged issues. Same logical schema as
-- migrations/postgres/0010_triage.sql. Never edit this file once released.

-- Who owns an issue; a deleted user leaves the issue unassigned.
alter table issues add column assignee_id bigint references users (user_id) on delete set null;
-- The condition of a resolve or ignore (src/triage/details.rs, stored as JSON); null without
-- one. The ingest batch reads it with the issue's row under lock.
alter table issues add column status_details text;
-- End of an ignore for a duration (epoch ms), for the expiry job's index; null otherwise.
alter table issues add column ignore_until_ms bigint;
create index issues_assignee on issues (assignee_id) where assignee_id is not null;
create index issues_ignore_until on issues (ignore_until_ms) where ignore_until_ms is not null;

-- The timeline of an issue: status changes, assignments, merges, regressions, comments.
-- "first_seen" is not stored: it is the issue's own first_seen_ms.
create table issue_activity (
    activity_id integer primary key autoincrement,
    issue_id bigint not null references issues (issue_id) on delete cascade,
    -- set_status | assigned | unassigned | comment | merge | unmerge | regression
    kind text not null,
    -- Who: 'user' (user_id, null once the user is deleted), 'token' or 'errata'.
    actor_kind text not null,
    user_id bigint references users (user_id) on delete set null,
    -- The user's e-mail or the token's name at the time, kept when the user is deleted.
    actor_name text not null,
    -- What happened, as JSON (status and its condition, assignee, merged issues, release…).
    data text not null default '{}',
    -- A comment's Markdown source; null for other kinds.
    body text,
    created_ms bigint not null,
    edited_ms bigint
);
create index issue_activity_issue on issue_activity (issue_id, activity_id);

-- Issues merged away: their old links lead to the issue they were merged into.
create table issue_redirects (
    issue_id bigint primary key,
    merged_into bigint not null references issues (issue_id) on delete cascade
);
create index issue_redirects_merged_into on issue_redirects (merged_into);

-- A notification for one user (an assignment): its recipient.
alter table outbox add column user_id bigint references users (user_id) on delete set null;
-- A user's own e-mail channel (source 'user'), for assignments and their issues'
-- regressions; never part of a project's or the global fan-out.
alter table notification_channels add column user_id bigint;
