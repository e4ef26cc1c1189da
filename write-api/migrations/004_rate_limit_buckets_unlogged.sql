-- Request budgets are spent on every request: an unlogged table spares each of them a WAL flush.
-- A crash empties it, which only hands every tenant a full bucket again.
alter table auth.rate_limit_buckets set unlogged;
