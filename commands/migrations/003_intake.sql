-- Intake's side of the write model. Neither table is a source of truth the log cannot rebuild
-- from: outcomes mirror the events (ImageUploaded by request id, IntakeRejected) for the
-- per-request status API, and uploads are bytes not yet registered by any event.

-- The outcome of each intake record, by the integration's request id, per tenant. An accepted
-- outcome is final: a later refusal of the same request id (a forged or conflicting record)
-- does not overwrite it.
create table write.intake_outcomes (
  tenant_id text not null,
  request_id text not null,
  status text not null check (status in ('accepted', 'rejected')),
  command text,
  image_id text,
  code text,
  reason text,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, request_id)
);

-- Bytes put with POST /v1/uploads: intake registers only these, and checks them itself.
-- Never registered by `expires_at`, the object is deleted.
create table write.intake_uploads (
  tenant_id text not null,
  object_key text not null,
  sha256 text not null,
  mime text not null,
  bytes bigint not null,
  width int not null,
  height int not null,
  expires_at timestamptz not null,
  registered_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, object_key)
);
create index intake_uploads_expiring on write.intake_uploads (expires_at) where registered_at is null;
