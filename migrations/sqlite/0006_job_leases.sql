-- Leases and shared schedules of the maintenance runner's jobs (SQLite). Same logical schema
-- as migrations/postgres/0006_job_leases.sql. One row per job that runs on one server at a
-- time (src/jobs, src/store/leases.rs); a server claims the row when the job is due and
-- nobody holds an unexpired lease. Never edit this file once released.
create table job_leases (
    -- The job's name (`notify`, `retention`, …).
    job text primary key,
    -- The runner holding the lease, while a pass runs; null when released.
    holder text,
    -- The lease ends here (epoch ms); another runner may claim the job after it.
    lease_until_ms bigint not null,
    -- When the next pass is due (epoch ms), shared by every runner.
    next_run_ms bigint not null,
    -- Start of the last pass that was claimed, and end of the last one that finished.
    last_started_ms bigint,
    last_finished_ms bigint,
    -- Start of the last pass that succeeded: a job catches up from here after a failure
    -- or a restart.
    last_ok_ms bigint,
    -- Error of the last pass, null when it succeeded.
    last_error text
);
