-- Teams, per-project access, roles and project-limited API tokens (PostgreSQL). Same logical
-- schema as migrations/sqlite/0017_access.sql. Never edit this file once released.

-- A user's role: 'owner' (everything, every project), 'admin' (their teams' projects, their
-- channels and settings, their teams' members), 'member' (triage in their teams' projects)
-- or 'viewer' (read only). The admins of before become owners; `is_admin` stays in step
-- (true for owners) for readers of the older schema.
alter table users add column role text not null default 'member';
update users set role = 'owner' where is_admin;

-- Teams of users; a project belongs to none (open to every user, as before teams) or to
-- one or more teams (then only their members and the owners see it).
create table teams (
    team_id bigint generated always as identity primary key,
    name text not null unique,
    created_ms bigint not null
);

create table team_members (
    team_id bigint not null references teams (team_id) on delete cascade,
    user_id bigint not null references users (user_id) on delete cascade,
    primary key (team_id, user_id)
);
create index team_members_user on team_members (user_id);

create table project_teams (
    project_id bigint not null references projects (project_id) on delete cascade,
    team_id bigint not null references teams (team_id) on delete cascade,
    primary key (project_id, team_id)
);
create index project_teams_team on project_teams (team_id);

-- The projects an API token is limited to; none: every project its owner may see.
create table token_projects (
    token_id bigint not null references api_tokens (token_id) on delete cascade,
    project_id bigint not null references projects (project_id) on delete cascade,
    primary key (token_id, project_id)
);
create index token_projects_project on token_projects (project_id);

-- Tokens made before scopes could do everything: they keep doing so as org:admin.
update api_tokens set scopes = 'org:admin' where scopes = '';

-- Single sign-on attempts between the redirect to the provider and its callback: the state's
-- SHA-256, the provider, the nonce and PKCE verifier sent, where to go after (src/web/sso).
create table sso_logins (
    state_hash text primary key,
    provider text not null,
    nonce text not null,
    pkce_verifier text not null,
    next text not null,
    created_ms bigint not null,
    expires_ms bigint not null
);
create index sso_logins_expires on sso_logins (expires_ms);
