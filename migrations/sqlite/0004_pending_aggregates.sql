-- Issue aggregates not applied yet (SQLite). Same logical schema as migrations/postgres/0004_pending_aggregates.sql.
-- Under load, ingestion commits an event with one row here instead of updating its issue's
-- counters, tags and users in the same transaction; a roll-up applies many at once and
-- deletes their rows (src/store/aggregate.rs). Never edit this file once released.
create table pending_aggregates (
    -- The event (no foreign key: deleting an issue deletes its pending rows first, and a
    -- roll-up drops rows whose event is gone).
    event_pk integer primary key,
    -- The event's tag pairs as counted in issue_tags: JSON [[key, value], ...].
    tags text not null
);
