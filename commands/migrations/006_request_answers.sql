-- The answers to HTTP requests sent with an Idempotency-Key live here too, beside the keys of
-- the commands they ran: one store for every retry. A request's row is keyed by its bare key
-- (its commands' rows by `<method> <path> <key>#<index>`, which holds spaces a key cannot) and
-- is claimed before the request runs, with no response yet; its answer (status, headers, the
-- body sealed) is stored when it succeeds. A claim older than a minute with no answer is from a
-- process that died, and may be taken over (`claimRequest` in `commandHandler.ts`).
-- Until this file they were the write API's own table, `auth.http_idempotency`.
alter table write.idempotency_keys alter column response drop not null;
