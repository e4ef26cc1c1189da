import { randomUUID } from 'node:crypto';
import { writeApiHostileRequests, sendRaw, hostileLimits } from '@deeplens/platform/testing/hostileRequests';
import { startWriteApi, adminEmail, adminPassword } from './testing/writeApiHarness.ts';
process.on('uncaughtException', (e) => { console.log('UNCAUGHT', e); });
const afters: (() => Promise<unknown>)[] = [];
const api = await startWriteApi({ after: (f: () => Promise<unknown>) => afters.push(f) } as never, { MAX_REQUEST_BYTES: hostileLimits.maxRequestBytes, SIGN_IN_ATTEMPTS_PER_MINUTE: 10000 });
const admin = await api.signIn(adminEmail, adminPassword);
const created = await api.call('POST', '/v1/tenants', { token: admin.access_token, json: { slug: 'hostile', name: 'h', plan: 'free', limits: { maxImages: 1000, maxBytes: 1e9, maxImageBytes: hostileLimits.maxImageBytes, requestsPerMinute: 100000 } } });
const { id: tenantId } = (await created.json()) as { id: string };
await api.call('POST', '/v1/users', { token: admin.access_token, json: { email: 'o@h.test', password: 'a long enough password', role: 'tenant_admin', tenantId } });
const owner = await api.signIn('o@h.test', 'a long enough password');
const rows = await writeApiHostileRequests({ tenantId, imageId: randomUUID(), missingId: randomUUID() });
const only = process.env.ONLY;
for (const row of rows) {
  if (only && !row.name.includes(only)) continue;
  const auth = (row.as ?? 'tenant') === 'tenant' ? `Bearer ${owner.access_token}` : row.as === 'admin' ? `Bearer ${admin.access_token}` : undefined;
  try {
    const r = await sendRaw(api.baseUrl, row, auth);
    let code = ''; try { code = JSON.parse(r.text).code; } catch { code = 'NOJSON'; }
    const ok = r.status === row.expect.status && (!row.expect.code || code === row.expect.code);
    console.log(ok ? 'ok  ' : 'BAD ', r.status, code, `[${row.category}] ${row.method} ${row.name}`, ok ? '' : `expected ${row.expect.status} ${row.expect.code ?? ''} :: ${r.text.slice(0, 200)}`);
  } catch (e) { console.log('ERR ', `[${row.category}] ${row.name}`, (e as Error).message); }
}
for (const f of afters.reverse()) await f();
