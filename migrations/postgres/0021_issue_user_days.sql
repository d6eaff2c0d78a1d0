-- When each distinct user of an issue was first and last seen (postgres). Same logical schema
-- as the other engine's 0021. Never edit this file once released.

-- Days since the epoch (UTC) of the event timestamps: retention forgets a user an issue has
-- not seen within the project's age (src/store/retention/idle_users.rs), and the roll-up
-- tells a new user from a returning one by `first_seen_day = last_seen_day` on the rows its
-- upsert returns (src/store/batch/aggregate.rs). Existing rows take their issue's days, so
-- that nobody is forgotten before the issue itself has been idle that long.
alter table issue_users
    add column first_seen_day bigint not null default 0,
    add column last_seen_day bigint not null default 0;
update issue_users u set first_seen_day = i.first_seen_ms / 86400000,
    last_seen_day = i.last_seen_ms / 86400000
from issues i where i.issue_id = u.issue_id;
