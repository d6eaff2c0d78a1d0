-- Uptime checks (SQLite). Same logical schema as migrations/postgres/0013_uptime.sql. A check
-- (per project) is an HTTP request the server makes every interval (src/monitors/uptime);
-- each result is stored; failures past the threshold open an incident (source 'uptime',
-- src/monitors/incident.rs). Never edit this file once released.

create table uptime_checks (
    uptime_check_id integer primary key autoincrement,
    project_id bigint not null references projects (project_id),
    name text not null,
    -- http(s) URL, checked against the private-target rule when saved and on every request
    url text not null,
    -- GET | HEAD | POST
    method text not null,
    -- JSON array of [name, value] pairs
    headers text not null,
    -- request body (POST only)
    body text,
    interval_seconds bigint not null,
    timeout_seconds bigint not null,
    -- status codes and ranges: "200-399" (default), "200,204", "500-599"
    expected_status text not null,
    -- text the body must contain (or, with keyword_absent, must not)
    keyword text,
    keyword_absent boolean not null default false,
    follow_redirects boolean not null default true,
    -- false: any certificate is accepted (self-signed); its expiry is still read
    verify_tls boolean not null default true,
    failure_threshold bigint not null,
    recovery_threshold bigint not null,
    -- warn this many days before the certificate expires; 0 = never
    cert_warning_days bigint not null,
    is_paused boolean not null default false,
    -- shown on the project's public status page
    is_public boolean not null default false,
    -- unknown | up | down
    status text not null,
    -- when the next check is due; claimed by moving it on (compare-and-set)
    next_check_ms bigint not null,
    last_checked_ms bigint,
    last_response_ms bigint,
    last_error text,
    last_ok_ms bigint,
    consecutive_failures bigint not null default 0,
    consecutive_ok bigint not null default 0,
    -- the open incident, while down
    incident_id bigint,
    created_ms bigint not null,
    updated_ms bigint not null
);
create index uptime_checks_project on uptime_checks (project_id);
create index uptime_checks_due on uptime_checks (next_check_ms);

create table uptime_results (
    uptime_result_id integer primary key autoincrement,
    uptime_check_id bigint not null references uptime_checks (uptime_check_id),
    checked_ms bigint not null,
    ok boolean not null,
    -- the final response's status, when one came
    status_code bigint,
    -- until the body was read (or the failure), ms
    response_ms bigint,
    -- timeout | dns | connection | tls | status | keyword | refused | other (null when ok)
    error_class text,
    -- the failure in words ("503 Service Unavailable", "timed out after 10 s")
    reason text
);
create index uptime_results_check on uptime_results (uptime_check_id, checked_ms, uptime_result_id);

-- Certificates seen per check (warned about at most once each).
create table uptime_certificates (
    uptime_certificate_id integer primary key autoincrement,
    uptime_check_id bigint not null references uptime_checks (uptime_check_id),
    project_id bigint not null references projects (project_id),
    -- SHA-256 of the leaf certificate (DER), hex
    sha256 text not null,
    subject text not null,
    not_after_ms bigint not null,
    first_seen_ms bigint not null,
    -- set once the expiry warning was written (the event of the warning's outbox row)
    warned_ms bigint,
    event_id text,
    unique (uptime_check_id, sha256)
);
create index uptime_certificates_event on uptime_certificates (project_id, event_id);

-- A project's public status page (/status/{slug}): off until enabled; shows the project's
-- checks marked is_public and the cron monitors listed here, without sign-in.
create table status_pages (
    project_id bigint primary key references projects (project_id),
    -- lowercase letters, digits and '-', at most 50 characters
    slug text not null unique,
    title text not null,
    enabled boolean not null default false,
    -- JSON array of monitor ids
    monitor_ids text not null,
    updated_ms bigint not null
);
