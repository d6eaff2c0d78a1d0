-- Notifications (SQLite). Same logical schema as migrations/postgres/0002_notifications.sql.
-- The ingest transaction writes one `outbox` row per (trigger, issue); the delivery worker
-- fans each out into one `notification_deliveries` row per channel, and records every send
-- in `notification_attempts`. Never edit this file once released.

-- Where notifications go: one e-mail recipient or one Slack incoming webhook.
-- project_id null = global (the admins of the configuration file / ERRATA_ADMINS).
create table notification_channels (
    channel_id integer primary key autoincrement,
    project_id bigint references projects (project_id),
    kind text not null,
    target text not null,
    -- 'config' (synced from the configuration at start) or 'cli'.
    source text not null,
    -- '<project_id or global>|<kind>|<target>': unique, since SQL unique ignores nulls.
    channel_key text not null unique,
    active boolean not null default true,
    consecutive_failures bigint not null default 0,
    failing_since_ms bigint,
    last_success_ms bigint,
    last_failure_ms bigint,
    last_error text,
    created_ms bigint not null
);
create index notification_channels_project on notification_channels (project_id);

-- Per-project frequency alert: more than frequency_events events in frequency_minutes.
create table notification_rules (
    project_id bigint primary key references projects (project_id),
    frequency_events bigint not null,
    frequency_minutes bigint not null,
    updated_ms bigint not null
);

-- Last time each trigger fired per issue: "at most once per issue per trigger window".
create table notification_triggers (
    issue_id bigint not null references issues (issue_id),
    kind text not null,
    last_fired_ms bigint not null,
    primary key (issue_id, kind)
) without rowid;

-- One message for one channel. state: pending | sent | failed (dead letter) | folded (carried
-- by the digest delivery folded_into) | skipped (issue ignored or channel removed).
create table notification_deliveries (
    delivery_id integer primary key autoincrement,
    outbox_id bigint not null references outbox (outbox_id),
    channel_id bigint not null references notification_channels (channel_id),
    state text not null default 'pending',
    is_digest boolean not null default false,
    folded_into bigint references notification_deliveries (delivery_id),
    -- When storm control counted it as a single message or made it a digest carrier.
    planned_ms bigint,
    attempts bigint not null default 0,
    next_attempt_ms bigint not null,
    -- Lease: a claimer that dies leaves the row claimable again after this time.
    claimed_until_ms bigint,
    claim_token text,
    last_error text,
    created_ms bigint not null,
    sent_ms bigint,
    unique (outbox_id, channel_id)
);
create index notification_deliveries_due on notification_deliveries (state, next_attempt_ms);
create index notification_deliveries_channel on notification_deliveries (channel_id, state, next_attempt_ms);
create index notification_deliveries_planned on notification_deliveries (channel_id, planned_ms);
create index notification_deliveries_folded on notification_deliveries (folded_into);

-- Every send attempt: SMTP reply or HTTP status, latency, error.
create table notification_attempts (
    attempt_id integer primary key autoincrement,
    delivery_id bigint not null references notification_deliveries (delivery_id),
    channel_id bigint not null references notification_channels (channel_id),
    at_ms bigint not null,
    ok boolean not null,
    status text,
    latency_ms bigint not null,
    error text
);
create index notification_attempts_delivery on notification_attempts (delivery_id);
create index notification_attempts_channel on notification_attempts (channel_id, at_ms);
