-- Announces a session's revocation on the channel `deeplens_credentials`, from the transaction
-- that revokes it (delivered at its commit): the credential caches of both APIs empty at once
-- (`platform/src/auth/credentialCache.ts`; the write model's aggregates announce theirs in
-- `commands/migrations/004_credential_changes.sql`). Idempotent, as a migration applied again
-- must be.
create or replace function auth.notify_session_revoked() returns trigger language plpgsql as $$
begin
  perform pg_notify('deeplens_credentials', 'session');
  return null;
end $$;

drop trigger if exists credential_session_revoked on auth.refresh_tokens;
create trigger credential_session_revoked after update of revoked_at on auth.refresh_tokens
  for each row when (old.revoked_at is null and new.revoked_at is not null)
  execute function auth.notify_session_revoked();
drop trigger if exists credential_sessions_removed on auth.refresh_tokens;
create trigger credential_sessions_removed after delete or truncate on auth.refresh_tokens
  for each statement execute function auth.notify_session_revoked();
