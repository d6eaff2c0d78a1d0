-- Event storage layout (postgres). Same logical schema as the other engine's 0019.
-- Never edit this file once released.

-- Payloads in a table of their own, keyed by the event's key (issue #23): the `events` rows
-- stay small, so their table and its scans (event lists, retention, roll-ups) read a few
-- dense pages, and the payloads fill their own pages in arrival order. Deleting an event
-- deletes its payload. As for `events.payload` before (0005): the zstd frames are stored
-- as they are (no pglz attempt), in the row up to ~8 KB.
create table event_payloads (
    event_pk bigint primary key references events (event_pk) on delete cascade,
    payload bytea not null
);
alter table event_payloads alter column payload set storage external;
alter table event_payloads set (toast_tuple_target = 8160);
insert into event_payloads (event_pk, payload) select event_pk, payload from events;
alter table events drop column payload;

-- The grouping values once per grouping, not once per event: every event of a hash has the
-- same values (the hash is computed from them), and as a JSON array they were the largest
-- column of an event row after the payload (~600 bytes of the generator's ~4.2 KB rows).
alter table groupings add column grouping_values text;
update groupings set grouping_values = (select e.grouping_values from events e
    where e.issue_id = groupings.issue_id and e.grouping_version = groupings.grouping_version
    and e.grouping_hash = groupings.hash limit 1);
alter table events drop column grouping_values;
