-- Plain state both APIs share, owned by platform/ where the code that reads and writes it lives
-- (`src/auth/signInThrottle.ts`, `src/auth/sharedRateLimiter.ts`), applied by the start-up of
-- each API (`runPlatformMigrations`), so a read API never waits on a write API's migrations.
-- Not events: nobody replays them. Times are epoch milliseconds from the API's clock.
--
-- Until this file they were the write API's `003_sign_in_throttle.sql` and
-- `004_rate_limit_buckets_unlogged.sql`, so every statement is idempotent: a database that ran
-- those runs this one over the same tables, keeps their rows and changes nothing.
create schema if not exists auth;

-- Failed sign-in attempts, per (account, address) and per address, shared by every write API
-- process (the in-memory limiter counted per process, and by account alone, so anyone could
-- lock an owner out).
create table if not exists auth.sign_in_throttle (
  key text primary key,
  failures int not null check (failures >= 0),
  last_attempt_ms bigint not null,
  -- Until when further attempts under this key are refused (exponential backoff).
  blocked_until_ms bigint
);
create index if not exists sign_in_throttle_last_attempt on auth.sign_in_throttle (last_attempt_ms);

-- Token buckets of the per-tenant request limits of both APIs, shared by every process.
-- Request budgets are spent on every request: an unlogged table spares each of them a WAL flush;
-- a crash empties it, which only hands every tenant a full bucket again.
create unlogged table if not exists auth.rate_limit_buckets (
  key text primary key,
  tokens float8 not null,
  updated_ms bigint not null,
  -- Whether the last request that touched the bucket was let through.
  allowed boolean not null
);
-- A table made by the write API's 003 alone is still logged (no rewrite when it is unlogged).
alter table auth.rate_limit_buckets set unlogged;
create index if not exists rate_limit_buckets_updated on auth.rate_limit_buckets (updated_ms);
