-- Answers to HTTP requests sent with an Idempotency-Key, so a retry gets the first answer
-- (status, headers and body; the body is sealed because it may hold a secret shown once).
-- A row is claimed before the request runs; a claim older than a minute with no answer is
-- from a process that died, and may be taken over (the commands below it are idempotent too).
create table auth.http_idempotency (
  scope text not null,
  key text not null,
  fingerprint text not null,
  claimed_at timestamptz not null default now(),
  status int,
  headers jsonb,
  sealed_body text,
  primary key (scope, key)
);
