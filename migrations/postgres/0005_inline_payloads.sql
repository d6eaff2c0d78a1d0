-- Event payloads stay in the events row, uncompressed by PostgreSQL (PostgreSQL only; SQLite
-- stores blobs inline already, see migrations/sqlite/0005_inline_payloads.sql).
-- A payload is already a zstd frame (src/store/mod.rs, encode_payload), ~3 KB for a 12 KB
-- event. By default PostgreSQL tries pglz on every value over ~2 KB and then moves it to the
-- TOAST table: a failed compression plus a second heap insert and a TOAST index insert for
-- every event. `external` skips the compression; a tuple target of 8160 bytes (the largest
-- allowed) keeps payloads up to ~8 KB in the row itself. Both statements change the catalog
-- only: rows already stored keep their form, new rows get the new one. Never edit this file
-- once released.
alter table events alter column payload set storage external;
alter table events set (toast_tuple_target = 8160);
