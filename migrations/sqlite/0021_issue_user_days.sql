-- When each distinct user of an issue was first and last seen (sqlite). Same logical schema as
-- the other engine's 0021. Never edit this file once released.

-- Days since the epoch (UTC) of the event timestamps: retention forgets a user an issue has
-- not seen within the project's age (src/store/retention/idle_users.rs), and the roll-up
-- tells a new user from a returning one by `first_seen_day = last_seen_day` on the rows its
-- upsert returns (src/store/batch/aggregate.rs). Existing rows take their issue's days, so
-- that nobody is forgotten before the issue itself has been idle that long.
alter table issue_users add column first_seen_day bigint not null default 0;
alter table issue_users add column last_seen_day bigint not null default 0;
update issue_users set
    first_seen_day = (select i.first_seen_ms / 86400000 from issues i
                      where i.issue_id = issue_users.issue_id),
    last_seen_day = (select i.last_seen_ms / 86400000 from issues i
                     where i.issue_id = issue_users.issue_id);
