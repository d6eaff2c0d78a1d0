-- Releases, deploys, source-map artifacts and scoped API tokens (PostgreSQL). Same logical schema
-- as migrations/sqlite/0012_releases_artifacts.sql. Never edit this file once released.

-- Space-separated scopes of an API token; '' = every permission (the tokens made before
-- scopes existed). `project:releases` allows only uploads and the releases API.
alter table api_tokens add column scopes text not null default '';

-- Releases created by the releases API (`sentry-cli releases new`); releases that only
-- appear on events are read from issue_tags instead.
create table releases (
    release_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    version text not null,
    url text,
    created_ms bigint not null,
    -- `dateReleased` (finalize); null while open.
    released_ms bigint,
    -- JSON list of {repository, id, previousId?, message?, author?}.
    commits text not null default '[]',
    unique (project_id, version)
);

create table deploys (
    deploy_id bigint generated always as identity primary key,
    release_id bigint not null references releases (release_id) on delete cascade,
    environment text not null,
    name text,
    url text,
    started_ms bigint,
    finished_ms bigint not null
);
create index deploys_release on deploys (release_id, finished_ms);

-- Chunks of a `sentry-cli` upload, by SHA-1, until an assemble uses them.
create table upload_chunks (
    checksum text primary key,
    size bigint not null,
    data bytea not null,
    created_ms bigint not null
);

-- An artifact bundle (the ZIP `sentry-cli sourcemaps upload` builds) or a legacy release file
-- upload, per project.
create table artifact_bundles (
    bundle_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    -- SHA-1 of the ZIP (legacy uploads: of name and content).
    checksum text not null,
    release text,
    dist text,
    -- Bytes of the uploaded ZIP and of its files.
    size bigint not null,
    file_count bigint not null,
    created_ms bigint not null,
    unique (project_id, checksum)
);
create index artifact_bundles_release on artifact_bundles (project_id, release);
create index artifact_bundles_created on artifact_bundles (created_ms);

-- The files of a bundle: minified sources and their source maps, zstd-compressed.
create table artifact_files (
    file_id bigint generated always as identity primary key,
    bundle_id bigint not null references artifact_bundles (bundle_id) on delete cascade,
    project_id bigint not null,
    -- `~/app.min.js`-style URL from the manifest, null when it gave none.
    url text,
    -- minified_source | source_map | source
    kind text not null,
    -- Lowercase hyphenated UUID, null without one.
    debug_id text,
    -- The minified file's `Sourcemap` header (the map's URL, maybe relative).
    sourcemap text,
    release text,
    dist text,
    -- Uncompressed bytes.
    size bigint not null,
    content bytea not null
);
create index artifact_files_bundle on artifact_files (bundle_id);
create index artifact_files_debug_id on artifact_files (project_id, debug_id);
create index artifact_files_release_url on artifact_files (project_id, release, url);
