-- Facts a running server records for the command line (SQLite). Same logical schema as
-- migrations/postgres/0015_server_settings.sql. Never edit this file once released.

-- One row per fact: `base_url`, the public base URL `errata serve` runs with, from which the
-- CLI prints DSNs and links (issue #20, item 2).
create table server_settings (
    name text primary key,
    value text not null,
    updated_ms bigint not null
);
