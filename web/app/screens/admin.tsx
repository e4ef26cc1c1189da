import { useState } from 'preact/hooks';
import type { Plan, Role, Tenant, Usage } from '@deeplens/client/clientTypes';
import { api, describeError, formatBytes, isUnauthorized, type Session } from '../api.ts';

const key = () => ({ idempotencyKey: crypto.randomUUID() });

/** Users (tenant and platform admins) and tenants (platform admins): create, look up, suspend, delete. */
export function AdminScreen({ session, onUnauthorized }: { session: Session; onUnauthorized: () => void }) {
  const platform = session.role === 'platform_admin';
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();

  function fail(e: unknown) {
    if (isUnauthorized(e)) onUnauthorized();
    else setMessage({ text: describeError(e), error: true });
  }
  const say = (text: string) => setMessage({ text });

  if (!platform && session.role !== 'tenant_admin')
    return (
      <section>
        <h1>Administration</h1>
        <p class="muted">Only a tenant admin or a platform admin administers users.</p>
      </section>
    );

  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Administration</h1>
      <div aria-live="polite">
        {message && (
          <p class={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>
            {message.text}
          </p>
        )}
      </div>
      {platform && <Tenants fail={fail} say={say} />}
      <NewUser platform={platform} fail={fail} say={say} />
    </section>
  );
}

type Report = { fail: (e: unknown) => void; say: (text: string) => void };

function Tenants({ fail, say }: Report) {
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [plan, setPlan] = useState<Plan>('free');
  const [lookup, setLookup] = useState('');
  const [tenant, setTenant] = useState<Tenant>();
  const [usage, setUsage] = useState<Usage>();
  const [reason, setReason] = useState('');
  const [confirmDelete, setConfirmDelete] = useState(false);

  async function show(id: string) {
    try {
      const [loaded, used] = await Promise.all([api.getTenant(id), api.usage(id).catch(() => undefined)]);
      setTenant(loaded);
      setUsage(used);
      setConfirmDelete(false);
    } catch (e) {
      setTenant(undefined);
      fail(e);
    }
  }

  return (
    <>
      <form
        class="card"
        aria-labelledby="new-tenant-title"
        onSubmit={(e) => {
          e.preventDefault();
          api
            .createTenant({ slug: slug.trim(), name: name.trim(), plan }, key())
            .then((created) => {
              say(`Tenant ${created.slug} provisioned: ${created.id}`);
              setSlug('');
              setName('');
              setLookup(created.id);
              setTenant(created);
              setUsage(undefined);
            })
            .catch(fail);
        }}
      >
        <h2 id="new-tenant-title">Provision a tenant</h2>
        <label for="tenant-slug">Slug</label>
        <input id="tenant-slug" required value={slug} onInput={(e) => setSlug(e.currentTarget.value)} />
        <label for="tenant-name">Name</label>
        <input id="tenant-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="tenant-plan">Plan</label>
        <select id="tenant-plan" value={plan} onChange={(e) => setPlan(e.currentTarget.value as Plan)}>
          <option value="free">free</option>
          <option value="pro">pro</option>
          <option value="enterprise">enterprise</option>
        </select>
        <div class="row">
          <button type="submit">Provision</button>
        </div>
      </form>
      <form
        class="card inline"
        onSubmit={(e) => {
          e.preventDefault();
          void show(lookup.trim());
        }}
      >
        <label for="tenant-id">Tenant id</label>
        <input id="tenant-id" value={lookup} onInput={(e) => setLookup(e.currentTarget.value)} />
        <button type="submit" class="secondary">
          Look up
        </button>
      </form>
      {tenant && (
        <div class="card" data-testid="tenant" aria-label={`Tenant ${tenant.slug}`}>
          <h2>
            {tenant.name} <span class="muted">({tenant.slug})</span>{' '}
            <span class={`badge ${tenant.status === 'active' ? 'status-indexed' : 'status-failed'}`}>
              {tenant.status}
            </span>
          </h2>
          <p class="mono">{tenant.id}</p>
          <p>
            Plan {tenant.plan}: up to {tenant.limits.maxImages} images, {formatBytes(tenant.limits.maxBytes)},{' '}
            {tenant.limits.requestsPerMinute} requests a minute.
            {usage && ` Uses ${usage.images} images, ${formatBytes(usage.bytes)}.`}
          </p>
          <div class="row">
            {tenant.status === 'active' ? (
              <>
                <label for="suspend-reason" class="inline-label">
                  Reason
                </label>
                <input
                  id="suspend-reason"
                  class="short"
                  value={reason}
                  onInput={(e) => setReason(e.currentTarget.value)}
                />
                <button
                  type="button"
                  class="secondary"
                  disabled={!reason.trim()}
                  onClick={() =>
                    void api
                      .setTenantStatus(tenant.id, { status: 'suspended', reason: reason.trim() }, key())
                      .then((t) => {
                        setTenant(t);
                        say(`Tenant ${t.slug} suspended.`);
                      })
                      .catch(fail)
                  }
                >
                  Suspend
                </button>
              </>
            ) : (
              <button
                type="button"
                class="secondary"
                onClick={() =>
                  void api
                    .setTenantStatus(tenant.id, { status: 'active' }, key())
                    .then((t) => {
                      setTenant(t);
                      say(`Tenant ${t.slug} reactivated.`);
                    })
                    .catch(fail)
                }
              >
                Reactivate
              </button>
            )}
            {!confirmDelete ? (
              <button type="button" class="danger" onClick={() => setConfirmDelete(true)}>
                Delete tenant…
              </button>
            ) : (
              <span class="confirm" role="group" aria-label="Confirm tenant deletion">
                <span>Erase {tenant.slug} and all its images?</span>
                <button
                  type="button"
                  class="danger"
                  onClick={() =>
                    void api
                      .deleteTenant(tenant.id, key())
                      .then(() => {
                        say(
                          `Tenant ${tenant.slug} deleted: its images, vectors, objects and keys are being erased.`,
                        );
                        setTenant(undefined);
                      })
                      .catch(fail)
                  }
                >
                  Yes, delete
                </button>
                <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
                  Cancel
                </button>
              </span>
            )}
          </div>
        </div>
      )}
    </>
  );
}

function NewUser({ platform, fail, say }: Report & { platform: boolean }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('tenant_user');
  const [tenantId, setTenantId] = useState('');
  return (
    <form
      class="card"
      aria-labelledby="new-user-title"
      onSubmit={(e) => {
        e.preventDefault();
        api
          .createUser(
            {
              email: email.trim(),
              password,
              role,
              ...(platform ? { tenantId: role === 'platform_admin' ? null : tenantId.trim() } : {}),
            },
            key(),
          )
          .then((user) => {
            say(`User ${user.email} created (${user.role.replace('_', ' ')}).`);
            setEmail('');
            setPassword('');
          })
          .catch(fail);
      }}
    >
      <h2 id="new-user-title">New user</h2>
      <label for="user-email">E-mail</label>
      <input
        id="user-email"
        type="email"
        required
        autoComplete="off"
        value={email}
        onInput={(e) => setEmail(e.currentTarget.value)}
      />
      <label for="user-password">Password</label>
      <input
        id="user-password"
        type="password"
        required
        autoComplete="new-password"
        value={password}
        onInput={(e) => setPassword(e.currentTarget.value)}
      />
      <label for="user-role">Role</label>
      <select id="user-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
        <option value="tenant_user">tenant user</option>
        <option value="tenant_admin">tenant admin</option>
        {platform && <option value="platform_admin">platform admin</option>}
      </select>
      {platform && role !== 'platform_admin' && (
        <>
          <label for="user-tenant">Tenant id</label>
          <input
            id="user-tenant"
            required
            value={tenantId}
            onInput={(e) => setTenantId(e.currentTarget.value)}
          />
        </>
      )}
      <div class="row">
        <button type="submit">Create user</button>
      </div>
    </form>
  );
}
