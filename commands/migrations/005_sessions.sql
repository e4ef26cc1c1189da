-- Sign-in sessions: refresh tokens. Plain state, not events (DESIGN §3): a session is not a
-- business fact anyone replays, and a revocation must take effect now, not after a projection.
-- The write model owns them (`commands/src/identity/refreshTokens.ts` and the credential
-- standing query read and write them); until this file they were the write API's migrations
-- `001_sessions.sql` and `005_session_revocations.sql`, so every statement is idempotent: a
-- database that ran those runs this one over the same table and changes nothing.
--
-- A family is one sign-in; every rotation adds a row to it. A token is good only while it is
-- unused, unrevoked, unexpired AND no row of its family is revoked: revoking any row kills the
-- whole family, which keeps a logout racing a refresh from leaving a live token behind.
create schema if not exists auth;

create table if not exists auth.refresh_tokens (
  id uuid primary key,
  family_id uuid not null,
  user_id text not null,
  -- Null for platform admins, who belong to no tenant.
  tenant_id text,
  -- Lower-case hex SHA-256 of the token; the token itself is never stored.
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  issued_at timestamptz not null,
  expires_at timestamptz not null check (expires_at > issued_at),
  used_at timestamptz,
  revoked_at timestamptz,
  -- Set in the same transaction that inserts the successor, hence deferred.
  replaced_by uuid references auth.refresh_tokens (id) on delete set null deferrable initially deferred
);

create index if not exists refresh_tokens_family on auth.refresh_tokens (family_id);
create index if not exists refresh_tokens_family_revoked on auth.refresh_tokens (family_id) where revoked_at is not null;
-- Signing a user out everywhere (disabled, password changed).
create index if not exists refresh_tokens_user on auth.refresh_tokens (user_id) where revoked_at is null;
create index if not exists refresh_tokens_expiry on auth.refresh_tokens (expires_at);

-- Announces a session's revocation on the channel `deeplens_credentials`, from the transaction
-- that revokes it (delivered at its commit): the credential caches of both APIs empty at once
-- (`platform/src/auth/credentialCache.ts`; the aggregates announce theirs in
-- `004_credential_changes.sql`).
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
