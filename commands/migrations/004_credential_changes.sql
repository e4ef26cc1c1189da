-- Announces every change of a tenant, user or API key aggregate (what can revoke a credential)
-- on the channel `deeplens_credentials`, from the transaction that makes it (delivered at its
-- commit, in commit order; revoked sessions are announced by
-- `005_sessions.sql`). Both APIs cache what authentication reads per request and
-- empty that cache on each announcement (`platform/src/auth/credentialCache.ts`). These changes are rare (administration, logout), so
-- the NOTIFY's commit-time lock is no cost to the upload path, which writes image aggregates.
-- One payload per kind: PostgreSQL folds identical notifications of one transaction into one,
-- so a write-model recovery rewriting every aggregate sends a handful, not one per row.
-- Idempotent, as a migration applied again (its schema lost) must be.
create or replace function write.notify_credential_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('deeplens_credentials', tg_argv[0]);
  return null;
end $$;

drop trigger if exists credential_aggregate_written on write.aggregates;
create trigger credential_aggregate_written after insert or update on write.aggregates
  for each row when (new.aggregate_type in ('tenant', 'user', 'apiKey'))
  execute function write.notify_credential_change('aggregate');
drop trigger if exists credential_aggregate_removed on write.aggregates;
create trigger credential_aggregate_removed after delete on write.aggregates
  for each row when (old.aggregate_type in ('tenant', 'user', 'apiKey'))
  execute function write.notify_credential_change('aggregate');
drop trigger if exists credential_aggregates_truncated on write.aggregates;
create trigger credential_aggregates_truncated after truncate on write.aggregates
  for each statement execute function write.notify_credential_change('aggregate');
