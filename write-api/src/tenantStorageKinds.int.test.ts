import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { decodeEvent } from '@deeplens/events/eventCodec';
import { azureAccountSas, azureObjectStore } from '@deeplens/platform/azureObjectStore';
import { loadConfig } from '@deeplens/platform/config';
import { sql } from '@deeplens/platform/database';
import { platformAzureSettings, type ObjectStore } from '@deeplens/platform/objectStore';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { tenantBucket } from '@deeplens/platform/tenantStorage';
import { createTenantEraser, tenantObjectsEraser } from './tenantEraser.ts';
import { adminEmail, adminPassword, startWriteApi, type WriteApiHarness } from './testing/writeApiHarness.ts';

/**
 * Each kind of storage a tenant may bring (issue #20), over HTTP against the stack's Azurite and
 * a temporary folder as the operator's path root: configured, used by uploads, shown without
 * secrets, refused when bad, answering 503 when away, and left empty by the tenant's erasure.
 */
const azureSettings = platformAzureSettings(loadConfig()) as ReturnType<typeof platformAzureSettings> & {
  credential: { kind: 'sharedKey'; accountKey: string };
};
const azurite = new URL(azureSettings.endpoint);

async function problem(response: Response, status: number, code?: string) {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${text}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  if (code) assert.equal((JSON.parse(text) as { code: string }).code, code);
}

async function setUp(t: Parameters<typeof startWriteApi>[0]) {
  const root = await mkdtemp(join(tmpdir(), 'tenant-storage-root-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const api = await startWriteApi(t, {
    TENANT_STORAGE_ALLOWED_ENDPOINTS: [azurite.origin],
    TENANT_STORAGE_PATH_ROOT: root,
  });
  const admin = await api.signIn(adminEmail, adminPassword);
  const created = await api.call('POST', '/v1/tenants', {
    token: admin.access_token,
    json: { slug: 'byos', name: 'Bring your own', plan: 'pro' },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const tenantId = ((await created.json()) as { id: string }).id;
  const email = 'owner@byos.test';
  await api.call('POST', '/v1/users', {
    token: admin.access_token,
    json: { email, password: 'a long enough password', role: 'tenant_admin', tenantId },
  });
  const owner = await api.signIn(email, 'a long enough password');
  const key = (await (
    await api.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
      token: owner.access_token,
      json: { scopes: ['images:write'] },
    })
  ).json()) as { secret: string };
  let seed = 1;
  const upload = async () => {
    const form = new FormData();
    const bytes = await makeJpeg(24, 24, seed++);
    form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'a.jpg');
    return fetch(`${api.baseUrl}/v1/images`, {
      method: 'POST',
      headers: { 'x-api-key': key.secret },
      body: form,
    });
  };
  const configure = (json: unknown) =>
    api.call('PUT', `/v1/tenants/${tenantId}/storage`, { token: admin.access_token, json });
  const erase = async () => {
    assert.equal(
      (await api.call('DELETE', `/v1/tenants/${tenantId}`, { token: admin.access_token })).status,
      202,
    );
    const eraser = createTenantEraser({
      kafka: undefined as never,
      serde: undefined as never,
      pool: api.deps.pool,
      handler: api.deps.handler,
      log: api.deps.log,
      eraseObjects: tenantObjectsEraser({
        pool: api.deps.pool,
        config: api.config,
        defaultStore: api.deps.objects,
        secrets: api.deps.secrets,
      }),
    });
    await eraser.erase(tenantId, 'test');
    await eraser.erase(tenantId, 'test again'); // a redelivery finds nothing left
  };
  return { api, root, tenantId, admin, upload, configure, erase };
}

async function keys(store: ObjectStore, bucket: string): Promise<string[]> {
  const found: string[] = [];
  for await (const key of store.list(bucket)) found.push(key);
  return found;
}

async function storageEvents(api: WriteApiHarness) {
  const rows = await api.deps.pool.any(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
    select payload from write.outbox where event_type = 'TenantStorageConfigured'`);
  return rows.map(({ payload }) => ({
    raw: payload,
    event: decodeEvent('TenantStorageConfigured', payload),
  }));
}

async function imageCount(api: WriteApiHarness, tenantId: string): Promise<number> {
  return api.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
    select count(*)::int8 as n from write.aggregates where aggregate_type = 'image' and tenant_id = ${tenantId}`);
}

describe('tenant storage kinds (Azure Blob on Azurite, a path under the root)', () => {
  it('Azure with a shared key: sealed, never shown, uploads land in the container, erasure empties it', async (t) => {
    const { api, upload, configure, erase } = await setUp(t);
    const container = uniqueName('byos');
    const configured = await configure({
      kind: 'azure',
      account: azureSettings.account,
      endpoint: azureSettings.endpoint,
      container,
      prefix: 'deeplens',
      sharedKey: azureSettings.credential.accountKey,
    });
    const text = await configured.text();
    assert.equal(configured.status, 200, text);
    assert.deepEqual(JSON.parse(text), {
      kind: 'azure',
      endpoint: azureSettings.endpoint,
      account: azureSettings.account,
      container,
      prefix: 'deeplens',
      credential: 'sharedKey',
    });
    const [stored] = await storageEvents(api);
    assert.ok(stored);
    assert.ok(!stored.raw.includes(azureSettings.credential.accountKey), 'no key in the event bytes');
    assert.equal(
      api.deps.secrets.open(stored.event.data.encryptedSecret),
      azureSettings.credential.accountKey,
    );
    assert.deepEqual([stored.event.data.kind, stored.event.data.credential], ['azure', 'sharedKey']);

    assert.equal((await upload()).status, 202);
    assert.equal((await upload()).status, 202);
    const store = azureObjectStore(azureSettings);
    t.after(() => store.deleteBucket(container));
    const inContainer = await keys(store, container);
    assert.equal(inContainer.length, 2);
    assert.ok(
      inContainer.every((key) => key.startsWith('deeplens/images/')),
      inContainer.join(),
    );
    // A file of the tenant's own beside ours stays: the container is the tenant's.
    await store.put(container, 'their-own/notes.txt', Buffer.from('mine'), 'text/plain');

    await erase();
    assert.deepEqual(await keys(store, container), ['their-own/notes.txt'], 'nothing of DeepLens left');
  });

  it('Azure with a SAS token: uploads land in the container', async (t) => {
    const { api, upload, configure } = await setUp(t);
    const container = uniqueName('byos-sas');
    const sasToken = azureAccountSas(azureSettings.account, azureSettings.credential.accountKey, 3600);
    const configured = await configure({
      kind: 'azure',
      endpoint: azureSettings.endpoint,
      container,
      sasToken,
    });
    const text = await configured.text();
    assert.equal(configured.status, 200, text);
    assert.equal((JSON.parse(text) as { credential: string }).credential, 'sasToken');
    assert.equal((JSON.parse(text) as { account: string }).account, azureSettings.account);
    assert.doesNotMatch(text, /sig=/);
    const [stored] = await storageEvents(api);
    assert.ok(stored && !stored.raw.includes(sasToken), 'no SAS token in the event bytes');
    assert.equal((await upload()).status, 202);
    const store = azureObjectStore(azureSettings);
    t.after(() => store.deleteBucket(container));
    assert.equal((await keys(store, container)).length, 1);
  });

  it('refuses bad storage with 400, and unreachable storage with 503', async (t) => {
    const { api, root, configure } = await setUp(t);
    const outside = await mkdtemp(join(tmpdir(), 'outside-root-'));
    t.after(() => rm(outside, { recursive: true, force: true }));
    await symlink(outside, join(root, 'leads-out'));
    await mkdir(join(root, 'fine'));
    const bad: unknown[] = [
      { kind: 'ftp', path: 'x' },
      { kind: 'azure', account: azureSettings.account, container: 'acme' }, // no credential
      { kind: 'azure', account: azureSettings.account, container: 'acme', sharedKey: 'k', sasToken: 's' },
      { kind: 'azure', endpoint: azureSettings.endpoint, container: 'Not_A_Container', sharedKey: 'k' },
      { kind: 'azure', account: 'elsewhere', container: 'acme', sharedKey: 'k' }, // endpoint not allowed
      { kind: 'path', path: '../outside' },
      { kind: 'path', path: 'fine/../../outside' },
      { kind: 'path', path: outside },
      { kind: 'path', path: 'leads-out' },
      { kind: 'path', path: 'missing-folder' },
      { kind: 'path', path: '.' },
      { kind: 'path', path: 'fine', secretAccessKey: 'x' },
    ];
    for (const body of bad) await problem(await configure(body), 400, 'validation_failed');
    assert.equal((await storageEvents(api)).length, 0, 'nothing recorded');

    // Allowed, but nothing answers there: unavailable, not our fault and not the client's.
    const closed = await startWriteApi(t, { TENANT_STORAGE_ALLOWED_ENDPOINTS: ['http://127.0.0.1:9'] });
    const admin = await closed.signIn(adminEmail, adminPassword);
    const tenant = (await (
      await closed.call('POST', '/v1/tenants', {
        token: admin.access_token,
        json: { slug: 'closed-storage', name: 'Closed storage' },
      })
    ).json()) as { id: string };
    const unreachable = await closed.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      token: admin.access_token,
      json: { kind: 'azure', endpoint: 'http://127.0.0.1:9/acct1', container: 'acme', sharedKey: 'a2V5' },
    });
    assert.equal(unreachable.status, 503, await unreachable.clone().text());
  });

  it('a path: uploads are files under the root; a missing mount answers 503 and keeps nothing; erasure empties the folder', async (t) => {
    const { api, root, tenantId, upload, configure, erase } = await setUp(t);
    const folder = join(root, 'nfs', 'acme');
    await mkdir(folder, { recursive: true });
    const configured = await configure({ kind: 'path', path: 'nfs/acme' });
    assert.equal(configured.status, 200, await configured.clone().text());
    assert.deepEqual(await configured.json(), { kind: 'path', path: 'nfs/acme', prefix: '' });

    assert.equal((await upload()).status, 202);
    const bucket = join(folder, tenantBucket(api.config, tenantId));
    const files = async () =>
      (await readdir(bucket, { recursive: true, withFileTypes: true }).catch(() => []))
        .filter((e) => e.isFile() && !e.name.endsWith('.content-type'))
        .map((e) => e.name);
    assert.equal((await files()).length, 1);
    assert.equal(await imageCount(api, tenantId), 1);

    // The mount goes away: its mount point is an empty folder again.
    await rename(folder, `${folder}.away`);
    await mkdir(folder);
    await problem(await upload(), 503, 'storage_error');
    assert.equal(await imageCount(api, tenantId), 1, 'the upload was not accepted');
    assert.deepEqual(await readdir(folder), [], 'nothing written where the mount should be');

    // Back: the same upload succeeds.
    await rm(folder, { recursive: true });
    await rename(`${folder}.away`, folder);
    assert.equal((await upload()).status, 202);
    assert.equal((await files()).length, 2);

    await erase();
    // Only the marker of prepared storage (no data of the tenant's) is left in its folder.
    assert.deepEqual(
      await readdir(folder),
      ['.deeplens-storage'],
      'nothing of the tenant left in its folder',
    );
    assert.ok((await stat(root)).isDirectory(), 'the root stays');
  });
});
