-- Nothing to do on SQLite: this number is kept in step with
-- migrations/postgres/0005_inline_payloads.sql, where PostgreSQL is told to keep the already
-- compressed event payloads in the events row instead of compressing them again into its
-- TOAST table. SQLite stores blobs in the row (and its overflow pages) without compressing
-- them. Never edit this file once released.
select 1;
