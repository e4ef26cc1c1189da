-- The write model: each aggregate's current state and version, the outbox of events not yet
-- known to be in Kafka, idempotency keys and uniqueness reservations. Everything a command
-- changes is written in ONE transaction, so a crash at any point loses or half-applies nothing.
create schema if not exists write;

create table write.aggregates (
  aggregate_type text not null,
  aggregate_id text not null,
  tenant_id text,
  version bigint not null check (version > 0),
  state jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (aggregate_type, aggregate_id)
);
create index aggregates_tenant on write.aggregates (tenant_id, aggregate_type);

-- Positions are assigned at insert; one aggregate's events are inserted by successive
-- transactions serialised by the version check, so position order is version order.
create table write.outbox (
  position bigserial primary key,
  event_id uuid not null unique,
  event_type text not null,
  topic text not null,
  -- The Kafka key: the aggregate id, so one stream stays on one partition, in order.
  message_key text not null,
  aggregate_type text not null,
  aggregate_id text not null,
  aggregate_version bigint not null,
  tenant_id text,
  -- Plain Avro binary of the event; the relay prepends the registry's wire-format header.
  payload bytea not null,
  -- W3C trace context and other headers to carry into Kafka.
  headers jsonb not null default '{}',
  created_at timestamptz not null default now(),
  published_at timestamptz
);
create index outbox_unpublished on write.outbox (position) where published_at is null;

-- Wake the relay when events are appended (it also polls slowly, in case a notify is missed).
create function write.notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('deeplens_outbox', '');
  return null;
end $$;
create trigger outbox_appended after insert on write.outbox
  for each statement execute function write.notify_outbox();

-- A retried command with the same key gets the first answer, and appends nothing.
create table write.idempotency_keys (
  scope text not null,
  key text not null,
  request_hash text not null,
  response jsonb not null,
  created_at timestamptz not null default now(),
  primary key (scope, key)
);

-- Values that must be unique across aggregates (a tenant's slug, a user's e-mail): a decider
-- cannot see other aggregates, so the handler reserves them in the same transaction.
create table write.unique_reservations (
  kind text not null,
  value text not null,
  aggregate_id text not null,
  created_at timestamptz not null default now(),
  primary key (kind, value)
);

-- Images and bytes per tenant, kept exact in the same transaction as the image events, so a
-- plan limit can never be overrun by two concurrent uploads.
create table write.tenant_usage (
  tenant_id text primary key,
  images bigint not null default 0,
  bytes bigint not null default 0
);
