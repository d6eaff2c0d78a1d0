-- Initial schema (PostgreSQL). Same logical schema as migrations/sqlite/0001_initial.sql:
-- epoch-ms BIGINT timestamps, TEXT ids and hashes, JSON as TEXT, zstd payload as BLOB.
-- Never edit this file once released; add a new numbered migration instead.

create table projects (
    project_id bigint generated always as identity primary key,
    name text not null,
    active boolean not null default true,
    created_ms bigint not null
);

create table project_keys (
    public_key text primary key,
    project_id bigint not null references projects (project_id),
    active boolean not null default true,
    created_ms bigint not null
);
create index project_keys_project_id on project_keys (project_id);

create table api_tokens (
    token_hash text primary key,
    name text not null,
    created_ms bigint not null
);

create table issues (
    issue_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    title text not null,
    culprit text,
    level text not null,
    status text not null default 'unresolved',
    is_regression boolean not null default false,
    first_seen_ms bigint not null,
    last_seen_ms bigint not null,
    event_count bigint not null default 0,
    user_count bigint not null default 0,
    last_release text,
    environments text not null default '[]',
    grouping_kind text not null,
    fingerprint text not null,
    resolved_ms bigint,
    created_ms bigint not null
);
create index issues_last_seen on issues (project_id, last_seen_ms, issue_id);
create index issues_first_seen on issues (project_id, first_seen_ms, issue_id);
create index issues_event_count on issues (project_id, event_count, issue_id);
create index issues_user_count on issues (project_id, user_count, issue_id);

create table groupings (
    project_id bigint not null references projects (project_id),
    grouping_version text not null,
    hash text not null,
    issue_id bigint not null references issues (issue_id),
    created_ms bigint not null,
    primary key (project_id, grouping_version, hash)
);
create index groupings_issue_id on groupings (issue_id);

create table events (
    event_pk bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    event_id text not null,
    issue_id bigint not null references issues (issue_id),
    timestamp_ms bigint not null,
    received_ms bigint not null,
    level text not null,
    platform text not null,
    title text not null,
    culprit text,
    release text,
    environment text,
    user_key text,
    grouping_version text not null,
    grouping_kind text not null,
    grouping_hash text not null,
    grouping_values text not null,
    payload bytea not null,
    unique (project_id, event_id)
);
create index events_issue_id on events (issue_id, event_pk);

create table issue_users (
    issue_id bigint not null references issues (issue_id),
    user_key text not null,
    primary key (issue_id, user_key)
);

create table issue_tags (
    issue_id bigint not null references issues (issue_id),
    key text not null,
    value text not null,
    count bigint not null,
    first_seen_ms bigint not null,
    last_seen_ms bigint not null,
    primary key (issue_id, key, value)
);
create index issue_tags_key_value on issue_tags (key, value, issue_id);

create table issue_hourly (
    issue_id bigint not null references issues (issue_id),
    hour_ms bigint not null,
    count bigint not null,
    primary key (issue_id, hour_ms)
);

create table outbox (
    outbox_id bigint generated always as identity primary key,
    kind text not null,
    project_id bigint not null references projects (project_id),
    issue_id bigint not null references issues (issue_id),
    event_id text not null,
    created_ms bigint not null,
    state text not null default 'pending',
    attempts bigint not null default 0,
    next_attempt_ms bigint not null,
    last_error text
);
create index outbox_due on outbox (state, next_attempt_ms, outbox_id);
create index outbox_issue_id on outbox (issue_id);
