-- The stored answers to HTTP requests moved to the write model's idempotency keys
-- (`commands/migrations/006_request_answers.sql`): one store, owned by the write model, for the
-- answers of requests and of the commands they run. The answers stored before the move go with
-- them, so a retry of such a request is still answered with its first answer: same caller
-- (scope `http:<actor>`, as the commands' keys), same key, same fingerprint. Claims that never
-- got an answer are left behind: their retries run afresh, into their commands' own keys.
insert into write.idempotency_keys (scope, key, request_hash, response, created_at)
select 'http:' || scope, key, fingerprint,
  jsonb_build_object('status', status, 'headers', coalesce(headers, '{}'::jsonb), 'sealedBody', sealed_body),
  claimed_at
from auth.http_idempotency
where status is not null and sealed_body is not null
on conflict (scope, key) do nothing;

drop table auth.http_idempotency;
