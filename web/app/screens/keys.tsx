import { useEffect, useState } from 'preact/hooks';
import { apiKeyScopes, type ApiKeyScope, type IssuedApiKey, type Usage } from '@deeplens/client/clientTypes';
import { api, describeError, formatBytes, isUnauthorized, type Session } from '../api.ts';

/** A tenant admin's API keys (create — the secret shown once — and revoke), and the tenant's usage. */
export function KeysScreen({ session, onUnauthorized }: { session: Session; onUnauthorized: () => void }) {
  const tenantId = session.tenantId;
  const isAdmin = session.role === 'tenant_admin' || session.role === 'platform_admin';
  const [usage, setUsage] = useState<Usage>();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ApiKeyScope[]>(['images:read', 'search']);
  const [issued, setIssued] = useState<IssuedApiKey>();
  const [keys, setKeys] = useState<{ id: string; name: string; prefix: string; revoked: boolean }[]>([]);
  const [revokeId, setRevokeId] = useState('');
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const [copied, setCopied] = useState(false);

  function fail(e: unknown) {
    if (isUnauthorized(e)) onUnauthorized();
    else setMessage({ text: describeError(e), error: true });
  }

  useEffect(() => {
    if (tenantId) api.usage(tenantId).then(setUsage).catch(fail);
  }, [tenantId]);

  async function create(event: Event) {
    event.preventDefault();
    if (!tenantId) return;
    setMessage(undefined);
    setCopied(false);
    try {
      const key = await api.createApiKey(
        tenantId,
        { scopes, ...(name.trim() ? { name: name.trim() } : {}) },
        { idempotencyKey: crypto.randomUUID() },
      );
      setIssued(key);
      setKeys((old) => [{ id: key.id, name: key.name, prefix: key.prefix, revoked: false }, ...old]);
      setName('');
    } catch (e) {
      fail(e);
    }
  }

  async function revoke(id: string) {
    if (!tenantId || !id) return;
    setMessage(undefined);
    try {
      await api.revokeApiKey(tenantId, id, { idempotencyKey: crypto.randomUUID() });
      setKeys((old) => old.map((k) => (k.id === id ? { ...k, revoked: true } : k)));
      if (issued?.id === id) setIssued(undefined);
      setMessage({ text: `Key ${id} revoked.` });
    } catch (e) {
      fail(e);
    }
  }

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys & usage</h1>
      {!tenantId && <p class="muted">A platform admin belongs to no tenant: sign in as a tenant's user.</p>}
      {usage && (
        <div class="card usage" aria-label="Usage">
          <h2>Usage</h2>
          <p>
            <strong>{usage.images}</strong> images
            {usage.limits?.maxImages ? ` of ${usage.limits.maxImages}` : ''} ·{' '}
            <strong>{formatBytes(usage.bytes)}</strong>
            {usage.limits?.maxBytes ? ` of ${formatBytes(usage.limits.maxBytes)}` : ''}
            {usage.plan ? ` · plan ${usage.plan}` : ''}
          </p>
          {usage.limits?.maxImages ? (
            <progress
              max={usage.limits.maxImages}
              value={usage.images}
              aria-label="Images used of the plan"
            />
          ) : null}
        </div>
      )}
      {tenantId && !isAdmin && <p class="muted">Only a tenant admin manages API keys.</p>}
      {tenantId && isAdmin && (
        <>
          <form class="card" onSubmit={(e) => void create(e)} aria-labelledby="new-key-title">
            <h2 id="new-key-title">New API key</h2>
            <label for="key-name">Name</label>
            <input id="key-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />
            <fieldset>
              <legend>Scopes</legend>
              {apiKeyScopes.map((scope) => (
                <label key={scope} class="check">
                  <input
                    type="checkbox"
                    checked={scopes.includes(scope)}
                    onChange={(e) =>
                      setScopes((old) =>
                        e.currentTarget.checked ? [...old, scope] : old.filter((s) => s !== scope),
                      )
                    }
                  />{' '}
                  {scope}
                </label>
              ))}
            </fieldset>
            <button type="submit" disabled={scopes.length === 0}>
              Create key
            </button>
          </form>
          {issued && (
            <div class="card secret" role="status">
              <h2>Your new key</h2>
              <p>Copy it now: it is shown this once and cannot be retrieved again.</p>
              <div class="row">
                <code class="mono" data-testid="secret">
                  {issued.secret}
                </code>
                <button
                  type="button"
                  onClick={() =>
                    void navigator.clipboard.writeText(issued.secret).then(
                      () => setCopied(true),
                      () =>
                        setMessage({
                          text: 'Copying was not allowed: select the key and copy it.',
                          error: true,
                        }),
                    )
                  }
                >
                  {copied ? 'Copied' : 'Copy'}
                </button>
                <button type="button" class="secondary" onClick={() => setIssued(undefined)}>
                  Done
                </button>
              </div>
            </div>
          )}
          {keys.length > 0 && (
            <div class="card">
              <h2>Keys created here</h2>
              <ul class="keys">
                {keys.map((key) => (
                  <li key={key.id} data-testid="key-row">
                    <span>
                      {key.name || 'unnamed'} <span class="mono muted">{key.prefix}…</span>
                    </span>
                    {key.revoked ? (
                      <span class="badge status-failed">revoked</span>
                    ) : (
                      <button type="button" class="danger" onClick={() => void revoke(key.id)}>
                        Revoke
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            </div>
          )}
          <form
            class="card inline"
            onSubmit={(e) => {
              e.preventDefault();
              void revoke(revokeId.trim());
            }}
          >
            <label for="revoke-id">Revoke a key by id</label>
            <input
              id="revoke-id"
              type="text"
              value={revokeId}
              onInput={(e) => setRevokeId(e.currentTarget.value)}
            />
            <button type="submit" class="danger">
              Revoke
            </button>
          </form>
        </>
      )}
      <div aria-live="polite">
        {message && (
          <p class={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>
            {message.text}
          </p>
        )}
      </div>
    </section>
  );
}
