-- Per-project zstd dictionaries for event payloads (postgres). Same logical schema as the
-- other engine's 0020. Never edit this file once released.

-- A dictionary trained on a project's stored events (src/payloads.rs). `dict_id` is also the
-- id written into the dictionary's header, so a payload frame names the row that decodes it
-- (src/store/payload.rs). The newest row of a project is the one new events are compressed
-- with; older rows stay as long as any payload may name them, and go with their project.
create table payload_dictionaries (
    dict_id bigint generated always as identity primary key,
    project_id bigint not null references projects (project_id),
    created_ms bigint not null,
    sample_count bigint not null,
    dictionary bytea not null
);
create index payload_dictionaries_project on payload_dictionaries (project_id, dict_id);
