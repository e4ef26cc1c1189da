-- The schema of the write API's own plain state (stored idempotent answers, sign-in throttle,
-- rate-limit buckets). Sessions (`auth.refresh_tokens`) are the write model's, migrated by
-- `commands/migrations/005_sessions.sql`; this file was `001_sessions.sql` before they moved.
create schema if not exists auth;
