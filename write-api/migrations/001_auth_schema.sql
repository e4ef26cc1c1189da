-- The schema of the write API's own plain state (stored idempotent answers; the sign-in
-- throttle and rate-limit buckets are platform/'s, `platform/migrations/`). Sessions
-- (`auth.refresh_tokens`) are the write model's, migrated by
-- `commands/migrations/005_sessions.sql`; this file was `001_sessions.sql` before they moved.
create schema if not exists auth;
