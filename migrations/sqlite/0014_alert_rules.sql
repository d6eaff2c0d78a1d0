-- Alert rules (sqlite). Same logical schema as migrations/postgres/0014_alert_rules.sql.
-- Never edit this file once released.

-- A project's alert rules: when (triggers), for what (filters), to whom (actions), at most
-- once per issue per interval_minutes. triggers/filters/actions are JSON documents whose
-- shapes are documented in src/store/alert_rules.rs and the README.
-- builtin: 'default' (the behaviour before rules: new issues, regressions and incidents to
-- every channel) or 'spike' (the CLI's frequency rule); null for rules people made.
create table alert_rules (
    rule_id integer primary key autoincrement,
    project_id bigint not null references projects (project_id),
    name text not null,
    enabled boolean not null default true,
    triggers text not null,
    filters text not null default '{}',
    actions text not null default '{}',
    interval_minutes bigint not null default 0,
    builtin text,
    created_ms bigint not null,
    updated_ms bigint not null
);
create index alert_rules_project on alert_rules (project_id, rule_id);

-- The rule whose trigger wrote an outbox row (frequency, users, every event); null for rows
-- written by ingest and monitors, which every rule of the project considers.
alter table outbox add column rule_id bigint;

-- The behaviour so far becomes each project's default rule ...
insert into alert_rules (project_id, name, enabled, triggers, filters, actions,
    interval_minutes, builtin, created_ms, updated_ms)
select project_id, 'Default', true,
    '[{"kind":"new_issue"},{"kind":"regression"},{"kind":"unignored"},{"kind":"monitor_failing"},{"kind":"monitor_recovering"},{"kind":"uptime_down"},{"kind":"uptime_up"}]',
    '{}', '{"channels":"all","email_assignee":true,"email_subscribers":true}', 0, 'default', created_ms, created_ms
from projects;

-- ... and each frequency rule a spike rule (at most once per issue per its window).
insert into alert_rules (project_id, name, enabled, triggers, filters, actions,
    interval_minutes, builtin, created_ms, updated_ms)
select project_id, 'Spike', true,
    '[{"kind":"frequency","events":' || frequency_events || ',"minutes":' || frequency_minutes || '}]',
    '{}', '{"channels":"all"}', frequency_minutes, 'spike', updated_ms, updated_ms
from notification_rules;

-- notification_rules itself stays, no longer read, so that an upgrade loses no row.

-- Projects a user chose to get e-mail for: rules with `email_subscribers` e-mail them.
create table project_subscriptions (
    user_id bigint not null,
    project_id bigint not null,
    created_ms bigint not null,
    primary key (user_id, project_id)
);

-- Issues a user muted for themselves: no e-mail to that user about that issue (assignee or
-- named-user actions alike). No foreign keys: a row outliving its issue or user is inert, and
-- issue merges and deletions need not know this table.
create table issue_mutes (
    user_id bigint not null,
    issue_id bigint not null,
    created_ms bigint not null,
    primary key (user_id, issue_id)
);
