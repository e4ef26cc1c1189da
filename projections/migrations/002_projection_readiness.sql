-- Where each projection stands against the log, read by the read API's readiness: `replaying`
-- until it reaches the log end its projector saw at start (or after healing a lost read model),
-- `caught-up`, or `halted` at a record it cannot decode or apply (reason, topic, partition and
-- offset in `detail`). Written by the projector that holds the active generation.
create table projections.readiness (
  projection text primary key,
  state text not null check (state in ('replaying', 'caught-up', 'halted')),
  reason text,
  detail jsonb not null default '{}',
  updated_at timestamptz not null default now()
);
