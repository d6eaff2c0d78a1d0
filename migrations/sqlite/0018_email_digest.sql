-- Per-project e-mail digest (sqlite). Same logical schema as the other engine's 0018.
-- Never edit this file once released.

-- At most one e-mail per this many minutes per e-mail channel about the project: the first
-- goes out at once, what follows within the interval is folded into one digest sent when
-- it ends (src/store/deliveries/project_digest.rs). Null or 0: no digest.
alter table projects add column email_digest_minutes bigint;
