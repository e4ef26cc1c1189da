-- Bookkeeping shared by every projector. A projection's read model lives in its own schemas
-- (`platform`, `tenant_<id>`, `usage`, `vector_status`); a generation being rebuilt lives beside
-- the live one under the same names suffixed `__g<N>`, and takes the plain names at the switch.
create schema if not exists projections;

-- One row per generation of a projection; exactly one is `active` (what the read side reads),
-- at most one is `building` (a rebuild from offset 0). Batches lock their generation's row
-- FOR SHARE, so the switch (which updates both rows) waits for batches in flight.
create table projections.generations (
  projection text not null,
  generation int not null check (generation > 0),
  status text not null check (status in ('building', 'active', 'retired')),
  created_at timestamptz not null default now(),
  activated_at timestamptz,
  retired_at timestamptz,
  dropped_at timestamptz,
  primary key (projection, generation)
);
create unique index generations_one_active on projections.generations (projection) where status = 'active';
create unique index generations_one_building on projections.generations (projection) where status = 'building';

-- The last applied offset per topic partition, written in the same transaction as the read
-- model's change: the source of truth for where a projector resumes (Kafka's committed group
-- offsets are only a hint for lag monitoring).
create table projections.checkpoints (
  projection text not null,
  generation int not null,
  topic text not null,
  partition int not null,
  "offset" bigint not null,
  updated_at timestamptz not null default now(),
  primary key (projection, generation, topic, partition)
);

-- Records a projector could not decode or apply. They are skipped (the checkpoint moves past
-- them) so one poison record never blocks its partition; an operator inspects them here.
create table projections.failures (
  projection text not null,
  generation int not null,
  topic text not null,
  partition int not null,
  "offset" bigint not null,
  event_type text,
  error text not null,
  record bytea,
  recorded_at timestamptz not null default now(),
  primary key (projection, generation, topic, partition, "offset")
);
