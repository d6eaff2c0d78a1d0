-- User feedback, API token management, password resets and the audit log (PostgreSQL).
-- Same logical schema as migrations/sqlite/0011_feedback_and_audit.sql. Never edit this file
-- once released.

-- What the people who hit an error wrote: `feedback` envelope items (captureFeedback, the
-- feedback widget) and legacy `user_report` items (src/ingest/items/feedback.rs).
create table user_feedback (
    feedback_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id) on delete cascade,
    -- One row per report: a `feedback` item's own event id, or the event id a `user_report`
    -- is about (a repeated report of one event replaces the earlier one).
    report_id text not null,
    -- 'feedback' or 'user_report'.
    kind text not null,
    -- The event the feedback is about (32 hex), when the SDK named one.
    event_id text,
    -- The event's issue, once that event is stored (linked on arrival of either; the
    -- feedback_links job links feedback that came first). Null when the issue goes away.
    issue_id bigint references issues (issue_id) on delete set null,
    name text not null,
    email text not null,
    message text not null,
    -- The page the feedback was given on (feedback widget).
    url text,
    created_ms bigint not null,
    unique (project_id, report_id)
);
create index user_feedback_issue on user_feedback (issue_id, feedback_id);
create index user_feedback_project on user_feedback (project_id, feedback_id);
create index user_feedback_unlinked on user_feedback (created_ms)
    where issue_id is null and event_id is not null;

-- API tokens get an id (to revoke them by), an owner (tokens made on the admin page belong
-- to the admin who made them and go with their account), a hint (the last four characters,
-- to tell tokens apart) and their last use (updated at most once a minute).
alter table api_tokens add column token_id bigint generated always as identity;
alter table api_tokens add constraint api_tokens_token_id unique (token_id);
alter table api_tokens add column user_id bigint references users (user_id) on delete cascade;
alter table api_tokens add column token_hint text;
alter table api_tokens add column last_used_ms bigint;
create index api_tokens_user on api_tokens (user_id);

-- One-time links an admin makes for a user to set a new password (SHA-256 stored).
create table password_resets (
    token_hash text primary key,
    user_id bigint not null references users (user_id) on delete cascade,
    created_ms bigint not null,
    expires_ms bigint not null
);
create index password_resets_user on password_resets (user_id);

-- Who did what to accounts and access, newest last (src/store/audit.rs). Actor and target
-- are copied as they were (ids are not foreign keys), so entries outlive what they name.
create table audit_log (
    audit_id bigint generated always as identity primary key,
    created_ms bigint not null,
    -- 'user', 'token', 'cli' or 'system'; id and label (e-mail, token name) as they were.
    actor_kind text not null,
    actor_id bigint,
    actor_label text not null,
    -- The client address of a web or API request.
    ip text,
    -- 'token.create', 'user.delete', … (AuditAction).
    action text not null,
    target_kind text,
    target_id bigint,
    target_label text,
    -- Details as a JSON object.
    data text not null default '{}'
);
create index audit_log_action on audit_log (action, audit_id);
