-- Failed sign-in attempts, per (account, address) and per address, shared by every write API
-- process (the in-memory limiter counted per process, and by account alone, so anyone could
-- lock an owner out). Plain state, not events: nobody replays it. Times are epoch milliseconds
-- from the API's clock.
create table auth.sign_in_throttle (
  key text primary key,
  failures int not null check (failures >= 0),
  last_attempt_ms bigint not null,
  -- Until when further attempts under this key are refused (exponential backoff).
  blocked_until_ms bigint
);
create index sign_in_throttle_last_attempt on auth.sign_in_throttle (last_attempt_ms);

-- Token buckets of the per-tenant request limits of both APIs, shared by every process.
create table auth.rate_limit_buckets (
  key text primary key,
  tokens float8 not null,
  updated_ms bigint not null,
  -- Whether the last request that touched the bucket was let through.
  allowed boolean not null
);
create index rate_limit_buckets_updated on auth.rate_limit_buckets (updated_ms);
