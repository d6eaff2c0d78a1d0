-- Data lifecycle (PostgreSQL): per-project retention and quota settings, discarded grouping
-- hashes, pruning marks and the record of retention passes. Same logical schema as
-- migrations/sqlite/0007_retention.sql (src/retention, src/store/retention/). Never edit
-- this file once released.

-- Per-project overrides; null = the configuration's `[retention]` value (or no limit).
alter table projects add column retention_days bigint;
alter table projects add column max_events_per_issue bigint;
-- Events per minute a project may send; null = no limit.
alter table projects add column rate_limit_per_minute bigint;
-- Set when `errata project delete` (or the admin page) started deleting the project: it takes
-- no more events and disappears from lists; a retention pass finishes the deletion.
alter table projects add column deleted_ms bigint;

-- The issue's `event_count` when the cap per issue was last applied to it, and that cap: an
-- issue whose count has not grown since, under the same cap, has nothing new to prune.
alter table issues add column capped_at_count bigint not null default 0;
alter table issues add column capped_with bigint not null default 0;

-- Age: the events of a project by receive time (server clock), oldest first.
create index events_project_received on events (project_id, received_ms);

-- "Delete and discard future events": grouping hashes whose events are dropped at ingest.
create table discarded_groupings (
    project_id bigint not null references projects (project_id),
    grouping_version text not null,
    hash text not null,
    -- What the deleted issue was, for the project settings page (undo).
    issue_title text not null,
    discarded_ms bigint not null,
    primary key (project_id, grouping_version, hash)
);

-- One row per retention pass: what it deleted and the database size after it.
create table retention_runs (
    run_id bigint generated always as identity primary key,
    started_ms bigint not null,
    finished_ms bigint not null,
    deleted_age bigint not null,
    deleted_cap bigint not null,
    deleted_budget bigint not null,
    deleted_issues bigint not null,
    deleted_projects bigint not null,
    database_bytes bigint not null,
    -- True when a disk budget is set and the pass could not get under it.
    over_budget boolean not null,
    -- Error of a pass that failed part way (what it deleted before is counted).
    error text
);
