-- Cron monitors and incidents (PostgreSQL). Same logical schema as
-- migrations/sqlite/0008_monitors.sql. A monitor (per project, by slug) has a status per
-- environment; check-ins come from SDKs and HTTP, `missed` and `timeout` ones from the
-- monitor clock (src/monitors/cron). An incident is a period of failure of something watched
-- (a monitor environment today, an uptime check later); it opens after enough consecutive
-- failures and resolves after enough consecutive successes (src/monitors/incident.rs).
-- Never edit this file once released.

create table monitors (
    monitor_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    -- lowercase letters, digits, '-' and '_', at most 50 characters
    slug text not null,
    name text not null,
    -- JSON: {"type":"crontab","value":"0 2 * * *"} or {"type":"interval","value":2,"unit":"hour"}
    schedule text not null,
    -- minutes
    checkin_margin bigint not null,
    max_runtime bigint not null,
    -- IANA name
    timezone text not null,
    failure_issue_threshold bigint not null,
    recovery_threshold bigint not null,
    is_paused boolean not null default false,
    created_ms bigint not null,
    updated_ms bigint not null,
    unique (project_id, slug)
);

create table monitor_environments (
    monitor_environment_id bigint generated always as identity primary key,
    monitor_id bigint not null references monitors (monitor_id),
    environment text not null,
    -- new | ok | error | in_progress | missed | timeout
    status text not null,
    -- start of the latest check-in (any status but missed)
    last_checkin_ms bigint,
    -- the next expected check-in, and the time after which it is missed (+ margin)
    next_checkin_ms bigint,
    next_checkin_latest_ms bigint,
    -- start of the latest ok check-in ("last good run")
    last_ok_ms bigint,
    consecutive_failures bigint not null default 0,
    consecutive_ok bigint not null default 0,
    -- the open incident, if failing
    incident_id bigint,
    created_ms bigint not null,
    unique (monitor_id, environment)
);
create index monitor_environments_due on monitor_environments (next_checkin_latest_ms);

create table monitor_checkins (
    checkin_id bigint generated always as identity primary key,
    monitor_id bigint not null references monitors (monitor_id),
    monitor_environment_id bigint not null references monitor_environments (monitor_environment_id),
    -- the client's check_in_id (32 hex); for a missed check-in one derived from
    -- (environment, expected time), which makes recording it idempotent
    guid text not null,
    -- in_progress | ok | error | unknown | missed | timeout
    status text not null,
    started_ms bigint not null,
    updated_ms bigint not null,
    duration_ms bigint,
    -- an in_progress check-in times out after this
    timeout_at_ms bigint,
    -- the scheduled time this check-in answered (missed: the one that was missed)
    expected_ms bigint,
    release text,
    trace_id text,
    -- the issue event recorded for this failure, if any
    event_id text,
    unique (monitor_id, guid)
);
create index monitor_checkins_history on monitor_checkins (monitor_environment_id, started_ms);
create index monitor_checkins_monitor on monitor_checkins (monitor_id, started_ms, checkin_id);
create index monitor_checkins_running on monitor_checkins (status, timeout_at_ms);

create table incidents (
    incident_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    -- what failed: 'cron' (source_id = monitor_environment_id)
    source text not null,
    source_id bigint not null,
    opened_ms bigint not null,
    resolved_ms bigint,
    -- the failure that opened it, in words ("missed its check-in due 02:00 Europe/Berlin")
    reason text not null,
    -- the last success before it opened
    last_ok_ms bigint,
    -- the issue that shows it (no foreign key: deleting the issue leaves the incident), and
    -- the event that opened it (outbox rows of the incident carry it)
    issue_id bigint,
    event_id text not null
);
-- At most one open incident per watched thing: opening one is exactly-once.
create unique index incidents_open on incidents (source, source_id) where resolved_ms is null;
create index incidents_event on incidents (project_id, event_id);
create index incidents_source on incidents (source, source_id, opened_ms);
