import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { decodeEvent } from '@deeplens/events/eventCodec';
import { createTokenIssuer } from '@deeplens/platform/auth/accessTokens';
import { generateSigningKey } from '@deeplens/platform/auth/signingKey';
import { sql } from '@deeplens/platform/database';
import { runMigrations } from '@deeplens/platform/migrations';
import { makeJpeg, makePng, makePngBomb } from '@deeplens/platform/testing/hostileImages';
import { readTenantUsage } from '@deeplens/commands/usageStripes';
import { bucketEraser, createTenantEraser } from './tenantEraser.ts';
import { tenantBucket } from '@deeplens/platform/tenantStorage';
import { adminEmail, adminPassword, startWriteApi, type WriteApiHarness } from './testing/writeApiHarness.ts';
import { writeApiMigrations } from './writeApiRuntime.ts';

const count = z.object({ n: z.number() });

async function problem(response: Response, status: number, code?: string) {
  assert.equal(
    response.status,
    status,
    `expected ${status}, got ${response.status}: ${await response.clone().text()}`,
  );
  assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  const body = (await response.json()) as { status: number; code: string; detail?: string; title: string };
  assert.equal(body.status, status);
  if (code) assert.equal(body.code, code);
  return body;
}

function imageForm(
  files: { name: string; bytes: Buffer; type?: string }[],
  fields: Record<string, string> = {},
) {
  const form = new FormData();
  for (const f of files) form.append('file', new Blob([f.bytes], { type: f.type ?? 'image/jpeg' }), f.name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

/** Outbox rows, stored aggregates and files: what a refused request must not change. */
async function footprint(api: WriteApiHarness) {
  const pool = api.deps.pool;
  const outbox = await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.outbox`);
  const aggregates = await pool.oneFirst(sql.type(count)`select count(*)::int8 as n from write.aggregates`);
  const files = async (dir: string): Promise<number> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    let n = 0;
    for (const e of entries) n += e.isDirectory() ? await files(join(dir, e.name)) : 1;
    return n;
  };
  return { outbox, aggregates, objects: await files(api.config.OBJECT_STORE_DIR) };
}

async function setUpTenant(api: WriteApiHarness, slug: string, plan = 'free', limits?: object) {
  const admin = await api.signIn(adminEmail, adminPassword);
  const created = await api.call('POST', '/v1/tenants', {
    token: admin.access_token,
    json: { slug, name: `Tenant ${slug}`, plan, ...(limits ? { limits } : {}) },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const tenant = (await created.json()) as { id: string };
  const email = `owner@${slug}.test`;
  const user = await api.call('POST', '/v1/users', {
    token: admin.access_token,
    json: { email, password: 'a long enough password', role: 'tenant_admin', tenantId: tenant.id },
  });
  assert.equal(user.status, 201, await user.clone().text());
  const owner = await api.signIn(email, 'a long enough password');
  return { tenantId: tenant.id, admin, owner };
}

describe('write API over HTTP (real PostgreSQL, registry-free write path)', () => {
  it('provisions, re-plans, suspends, reactivates, configures storage and erases a tenant', async (t) => {
    const api = await startWriteApi(t, { TENANT_STORAGE_ALLOWED_ENDPOINTS: ['https://s3.example.test'] });
    const admin = await api.signIn(adminEmail, adminPassword);
    const created = await api.call('POST', '/v1/tenants', {
      token: admin.access_token,
      json: { slug: 'acme', name: 'Acme', plan: 'free' },
    });
    assert.equal(created.status, 201);
    const tenant = (await created.json()) as { id: string; plan: string; status: string };
    assert.equal(created.headers.get('location'), `/v1/tenants/${tenant.id}`);
    assert.deepEqual([tenant.plan, tenant.status], ['free', 'active']);

    const replanned = (await (
      await api.call('PATCH', `/v1/tenants/${tenant.id}`, {
        token: admin.access_token,
        json: { plan: 'pro' },
      })
    ).json()) as { plan: string; limits: { maxImages: number } };
    assert.equal(replanned.plan, 'pro');
    assert.equal(replanned.limits.maxImages, 100_000);
    const suspended = (await (
      await api.call('PATCH', `/v1/tenants/${tenant.id}`, {
        token: admin.access_token,
        json: { status: 'suspended', reason: 'unpaid' },
      })
    ).json()) as { status: string };
    assert.equal(suspended.status, 'suspended');
    await problem(
      await api.call('PATCH', `/v1/tenants/${tenant.id}`, {
        token: admin.access_token,
        json: { status: 'suspended' },
      }),
      400,
      'validation_failed',
    );
    const reactivated = (await (
      await api.call('PATCH', `/v1/tenants/${tenant.id}`, {
        token: admin.access_token,
        json: { status: 'active' },
      })
    ).json()) as { status: string };
    assert.equal(reactivated.status, 'active');

    const storage = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      token: admin.access_token,
      json: {
        endpoint: 'https://s3.example.test',
        bucket: 'acme-images',
        region: 'eu-west-1',
        prefix: 'deeplens',
        accessKeyId: 'AKIAEXAMPLE',
        secretAccessKey: 'very-secret-value',
      },
    });
    assert.equal(storage.status, 200);
    const storageText = await storage.text();
    assert.doesNotMatch(storageText, /very-secret-value/, 'the secret is never returned');
    const payloads = await api.deps.pool.manyFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'TenantStorageConfigured'`);
    const configured = decodeEvent('TenantStorageConfigured', payloads[0]!);
    assert.doesNotMatch(configured.data.encryptedSecret, /very-secret-value/, 'only ciphertext in the event');
    assert.equal(api.deps.secrets.open(configured.data.encryptedSecret), 'very-secret-value');

    const erased = await api.call('DELETE', `/v1/tenants/${tenant.id}`, { token: admin.access_token });
    assert.equal(erased.status, 202);
    await problem(
      await api.call('GET', `/v1/tenants/${tenant.id}`, { token: admin.access_token }),
      404,
      'not_found',
    );
  });

  it('erases a deleted tenant: keys revoked, users disabled, images deleted, objects gone', async (t) => {
    const api = await startWriteApi(t);
    const { tenantId, owner, admin } = await setUpTenant(api, 'erase-me');
    const key = (await (
      await api.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
        token: owner.access_token,
        json: { scopes: ['images:write'] },
      })
    ).json()) as { secret: string };
    const uploaded = await fetch(`${api.baseUrl}/v1/images`, {
      method: 'POST',
      headers: { 'x-api-key': key.secret },
      body: imageForm([{ name: 'e.jpg', bytes: await makeJpeg(30, 30, 9) }]),
    });
    assert.equal(uploaded.status, 202);
    assert.ok((await footprint(api)).objects > 0);

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
      eraseObjects: bucketEraser(api.deps.objects, (id) => tenantBucket(api.config, id)),
    });
    await eraser.erase(tenantId, 'test');
    await eraser.erase(tenantId, 'test again'); // a redelivery changes nothing

    const states = await api.deps.pool.manyFirst(sql.type(z.object({ status: z.string() }))`
      select aggregate_type || ':' || (state->>'status') as status from write.aggregates where tenant_id = ${tenantId} order by 1`);
    assert.deepEqual(states, ['apiKey:revoked', 'image:deleted', 'tenant:deleted', 'user:disabled']);
    assert.equal((await footprint(api)).objects, 0, 'the bucket is gone');
    await problem(
      await api.call('POST', '/v1/auth/token', { json: { grant_type: 'api_key', api_key: key.secret } }),
      401,
    );
  });

  it('only platform admins manage tenants; a tenant admin sees 403', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await setUpTenant(api, 'only-admins');
    await problem(
      await api.call('POST', '/v1/tenants', {
        token: owner.access_token,
        json: { slug: 'sneaky', name: 'x' },
      }),
      403,
      'forbidden',
    );
  });

  it('signs in, refreshes with rotation, detects reuse (revoking the session) and logs out', async (t) => {
    const api = await startWriteApi(t);
    const first = await api.signIn(adminEmail, adminPassword);
    const jwks = (await (await api.call('GET', '/.well-known/jwks.json')).json()) as { keys: unknown[] };
    assert.equal(jwks.keys.length, 1);

    const refreshed = await api.call('POST', '/v1/auth/refresh', {
      json: { refresh_token: first.refresh_token },
    });
    assert.equal(refreshed.status, 200);
    const second = (await refreshed.json()) as { access_token: string; refresh_token: string };
    assert.notEqual(second.refresh_token, first.refresh_token);

    await problem(
      await api.call('POST', '/v1/auth/refresh', { json: { refresh_token: first.refresh_token } }),
      401,
      'unauthenticated',
    );
    // Reuse revoked the whole family: even the newest token of that session is dead now.
    await problem(
      await api.call('POST', '/v1/auth/refresh', { json: { refresh_token: second.refresh_token } }),
      401,
      'unauthenticated',
    );

    const third = await api.signIn(adminEmail, adminPassword);
    assert.equal(
      (await api.call('POST', '/v1/auth/logout', { json: { refresh_token: third.refresh_token } })).status,
      204,
    );
    await problem(
      await api.call('POST', '/v1/auth/refresh', { json: { refresh_token: third.refresh_token } }),
      401,
    );
    await problem(
      await api.call('POST', '/v1/auth/token', {
        json: { grant_type: 'password', email: adminEmail, password: 'wrong password!!' },
      }),
      401,
      'unauthenticated',
    );
  });

  it('refuses wrong, forged, expired, alg:none and wrong-issuer tokens with 401', async (t) => {
    const api = await startWriteApi(t);
    const { config } = api;
    const claims = {
      actor: 'user:someone',
      tenant_id: null,
      role: 'platform_admin',
      scope: 'platform:admin',
    };
    const forger = createTokenIssuer({
      privateKey: generateSigningKey(),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: 600,
    });
    const forged = (
      await forger.issue({
        actor: 'user:someone',
        tenantId: null,
        role: 'platform_admin',
        scopes: ['platform:admin'],
      })
    ).accessToken;
    const signingKey = await import('@deeplens/platform/auth/signingKey').then((m) =>
      m.loadOrCreateSigningKey(join(config.SECRETS_DIR, 'access-token-signing.pem')),
    );
    const expired = await createTokenIssuer({
      privateKey: signingKey,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: 60,
      clock: () => Date.now() - 3_600_000,
    }).issue({ actor: 'user:someone', tenantId: null, role: 'platform_admin', scopes: ['platform:admin'] });
    const wrongIssuer = await createTokenIssuer({
      privateKey: signingKey,
      issuer: 'someone-else',
      audience: config.JWT_AUDIENCE,
      ttlSeconds: 600,
    }).issue({ actor: 'user:someone', tenantId: null, role: 'platform_admin', scopes: ['platform:admin'] });
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({
        ...claims,
        sub: 'someone',
        iss: config.JWT_ISSUER,
        aud: config.JWT_AUDIENCE,
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString('base64url')}.`;
    const hs256 = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('someone')
      .setIssuer(config.JWT_ISSUER)
      .setAudience(config.JWT_AUDIENCE)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('a guessed shared secret of 32+ bytes!!'));

    for (const [name, token] of [
      ['garbage', 'not-a-token'],
      ['forged signature', forged],
      ['expired', expired.accessToken],
      ['wrong issuer', wrongIssuer.accessToken],
      ['alg none', unsigned],
      ['HS256', hs256],
    ] as const) {
      const response = await api.call('POST', '/v1/tenants', {
        token,
        json: { slug: 'x-' + name.replace(/\W/g, ''), name: 'x' },
      });
      await problem(response, 401, 'unauthenticated');
      assert.ok(response.headers.get('www-authenticate'), `${name}: a challenge`);
    }
    await problem(await api.call('POST', '/v1/tenants', { json: { slug: 'anon', name: 'x' } }), 401);
  });

  it('issues API keys shown once, authenticates with them, and refuses them once revoked', async (t) => {
    const api = await startWriteApi(t);
    const { tenantId, owner } = await setUpTenant(api, 'keys');
    const issued = await api.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
      token: owner.access_token,
      json: { name: 'importer', scopes: ['images:write', 'images:read'] },
    });
    assert.equal(issued.status, 201);
    const key = (await issued.json()) as { id: string; secret: string; prefix: string };
    assert.match(key.secret, /^dl_[a-z0-9]{8}_/);
    const stored = await api.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int8 as n from write.outbox where position(${key.secret}::bytea in payload) > 0`);
    assert.equal(stored, 0, 'the secret is in no event');

    const upload = () =>
      makeJpeg(40, 30, 7).then((bytes) =>
        fetch(`${api.baseUrl}/v1/images`, {
          method: 'POST',
          headers: { 'x-api-key': key.secret },
          body: imageForm([{ name: 'k.jpg', bytes }]),
        }),
      );
    assert.equal((await upload()).status, 202);
    const exchanged = await api.call('POST', '/v1/auth/token', {
      json: { grant_type: 'api_key', api_key: key.secret },
    });
    assert.equal(exchanged.status, 200);

    assert.equal(
      (await api.call('DELETE', `/v1/tenants/${tenantId}/api-keys/${key.id}`, { token: owner.access_token }))
        .status,
      204,
    );
    await problem(await upload(), 401, 'unauthenticated');
    await problem(
      await api.call('POST', '/v1/auth/token', { json: { grant_type: 'api_key', api_key: key.secret } }),
      401,
    );
  });

  it('uploads images (202 with a Location per image), stores equal bytes once, retags and deletes', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await setUpTenant(api, 'uploads');
    const jpeg = await makeJpeg(80, 60, 3);
    const png = await makePng(20, 20);
    const response = await fetch(`${api.baseUrl}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.access_token}` },
      body: imageForm(
        [
          { name: '../../etc/passwd.jpg', bytes: jpeg },
          { name: 'b.png', bytes: png, type: 'image/png' },
          { name: 'copy.jpg', bytes: jpeg },
        ],
        { tags: 'beach,summer', attributes: '{"camera":"x100"}' },
      ),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const body = (await response.json()) as {
      images: {
        id: string;
        location: string;
        filename: string;
        mime: string;
        width: number;
        tags: string[];
      }[];
    };
    assert.equal(body.images.length, 3);
    assert.equal(response.headers.get('location'), body.images[0]!.location);
    assert.deepEqual(
      body.images.map((i) => i.location),
      body.images.map((i) => `/v1/images/${i.id}`),
    );
    assert.equal(body.images[0]!.filename, 'passwd.jpg', 'path traversal in a file name is only a label');
    assert.deepEqual([body.images[1]!.mime, body.images[1]!.width], ['image/png', 20]);
    assert.deepEqual(body.images[0]!.tags, ['beach', 'summer']);
    assert.equal(
      (await footprint(api)).objects,
      2 * 2,
      'two distinct objects (each with its content-type file): the equal JPEGs are stored once',
    );

    const patched = await api.call('PATCH', `/v1/images/${body.images[1]!.id}`, {
      token: owner.access_token,
      json: { tags: ['red'] },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(((await patched.json()) as { tags: string[] }).tags, ['red']);
    assert.equal(
      (await api.call('DELETE', `/v1/images/${body.images[1]!.id}`, { token: owner.access_token })).status,
      202,
    );
    await problem(
      await api.call('PATCH', `/v1/images/${body.images[1]!.id}`, {
        token: owner.access_token,
        json: { tags: ['x'] },
      }),
      409,
    );
  });

  it('answers another tenant’s image with 404, never 403', async (t) => {
    const api = await startWriteApi(t);
    const a = await setUpTenant(api, 'tenant-a');
    const b = await setUpTenant(api, 'tenant-b');
    const uploaded = await fetch(`${api.baseUrl}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.owner.access_token}` },
      body: imageForm([{ name: 'a.jpg', bytes: await makeJpeg() }]),
    });
    const [image] = ((await uploaded.json()) as { images: { id: string }[] }).images;
    const before = await footprint(api);
    await problem(
      await api.call('PATCH', `/v1/images/${image!.id}`, {
        token: b.owner.access_token,
        json: { tags: ['mine'] },
      }),
      404,
      'not_found',
    );
    await problem(
      await api.call('DELETE', `/v1/images/${image!.id}`, { token: b.owner.access_token }),
      404,
      'not_found',
    );
    await problem(
      await api.call('POST', `/v1/tenants/${a.tenantId}/api-keys`, {
        token: b.owner.access_token,
        json: { scopes: ['images:read'] },
      }),
      404,
      'not_found',
    );
    assert.deepEqual(await footprint(api), before);
  });

  it('refuses bad input with a clear problem and leaves no trace: database, outbox and object store unchanged', async (t) => {
    const api = await startWriteApi(t);
    const { owner, admin } = await setUpTenant(api, 'refusals', 'free', {
      maxImages: 2,
      maxBytes: 10_000_000,
      maxImageBytes: 200_000,
      requestsPerMinute: 1000,
    });
    const jpeg = await makeJpeg(64, 48, 11);
    const post = (form: FormData | string, headers: Record<string, string> = {}) =>
      fetch(`${api.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.access_token}`, ...headers },
        body: form,
      });
    const before = await footprint(api);

    await problem(
      await api.call('POST', '/v1/tenants', { token: admin.access_token, json: { name: 'no slug' } }),
      400,
      'validation_failed',
    );
    await problem(
      await api.call('POST', '/v1/tenants', {
        token: admin.access_token,
        body: '{"slug": ',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'validation_failed',
    );
    const truncated = await problem(
      await post(imageForm([{ name: 'cut.jpg', bytes: jpeg.subarray(0, jpeg.length - 200) }])),
      422,
      'unprocessable',
    );
    assert.match(truncated.detail ?? '', /truncated/);
    const bomb = await problem(
      await post(imageForm([{ name: 'bomb.png', bytes: makePngBomb(50_000, 50_000), type: 'image/png' }])),
      422,
    );
    assert.match(bomb.detail ?? '', /50000 × 50000/);
    await problem(
      await post(
        imageForm([
          { name: 'notes.jpg', bytes: Buffer.from('just some text, not an image'), type: 'image/jpeg' },
        ]),
      ),
      415,
      'unsupported_media_type',
    );
    await problem(
      await post(imageForm([{ name: 'big.jpg', bytes: Buffer.concat([jpeg, Buffer.alloc(300_000)]) }])),
      413,
      'payload_too_large',
    );
    await problem(await post(imageForm([{ name: 'ok.jpg', bytes: jpeg }], { tags: '["a", 3]' })), 400);
    await problem(await post('plain text body', { 'content-type': 'text/plain' }), 415);
    await problem(await post(imageForm([])), 400);
    // One good and one broken file: the whole request is refused, the good one is not stored either.
    await problem(
      await post(
        imageForm([
          { name: 'good.jpg', bytes: jpeg },
          { name: 'bad.jpg', bytes: jpeg.subarray(0, 300) },
        ]),
      ),
      422,
    );
    // Over the plan's image quota (2): three at once.
    const quota = await problem(
      await post(imageForm([1, 2, 3].map((i) => ({ name: `${i}.jpg`, bytes: jpeg })))),
      429,
      'limit_exceeded',
    );
    assert.match(quota.detail ?? '', /the free plan holds 2 images; this tenant has 0/);
    assert.deepEqual(
      [(quota as { limit?: number }).limit, (quota as { used?: number }).used],
      [2, 0],
      'the limit and what the tenant had before the request',
    );
    assert.deepEqual(await footprint(api), before, 'nothing from any refusal was written');
  });

  it('lets exactly one of two concurrent uploads through when together they pass the image quota by one', async (t) => {
    const api = await startWriteApi(t);
    const limits = { maxImages: 2, maxBytes: 10_000_000, maxImageBytes: 200_000, requestsPerMinute: 1000 };
    for (let round = 0; round < 4; round += 1) {
      const { owner, tenantId } = await setUpTenant(api, `race-${round}`, 'free', limits);
      const post = (seeds: number[]) =>
        fetch(`${api.baseUrl}/v1/images`, {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.access_token}` },
          body: imageForm(seeds.map((seed) => ({ name: `${seed}.jpg`, bytes: jpegs[seed]! }))),
        });
      const jpegs = await Promise.all([0, 1, 2].map((seed) => makeJpeg(40, 30, 100 * round + seed)));
      // One image and two: either fits alone, both together are one too many.
      const answers = await Promise.all([post([0]), post([1, 2])]);
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [202, 429], `round ${round}: exactly one refused`);
      const accepted = answers.find((a) => a.status === 202)!;
      const images = ((await accepted.json()) as { images: unknown[] }).images.length;
      await problem(
        answers.find((a) => a.status === 429)!,
        429,
        'limit_exceeded',
      );
      const usage = await readTenantUsage(api.deps.pool, tenantId);
      assert.ok(usage.images <= limits.maxImages, `round ${round}: usage ${usage.images} within the quota`);
      assert.equal(usage.images, images, `round ${round}: the images counted are the images answered`);
      const stored = await api.deps.pool.oneFirst(sql.type(count)`
        select count(*)::int8 as n from write.aggregates where aggregate_type = 'image' and tenant_id = ${tenantId}`);
      assert.equal(stored, images, `round ${round}: no image of the refused request is stored`);
      const paths = (await readdir(api.config.OBJECT_STORE_DIR, { recursive: true })).join('\n');
      const kept = jpegs.filter((jpeg) => paths.includes(createHash('sha256').update(jpeg).digest('hex')));
      assert.equal(kept.length, images, `round ${round}: nor its bytes`);
    }
  });

  it('answers a retried upload with the same Idempotency-Key with the first answer: one image', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await setUpTenant(api, 'retries');
    const jpeg = await makeJpeg(50, 50, 5);
    const send = (key: string, bytes = jpeg) =>
      fetch(`${api.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.access_token}`, 'idempotency-key': key },
        body: imageForm([{ name: 'r.jpg', bytes }]),
      });
    const first = await send('upload-1');
    assert.equal(first.status, 202);
    const firstBody = await first.text();
    const outboxAfterFirst = (await footprint(api)).outbox;
    const retry = await send('upload-1');
    assert.equal(retry.status, 202);
    assert.equal(await retry.text(), firstBody, 'the same answer');
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal((await footprint(api)).outbox, outboxAfterFirst, 'no second image');
    await problem(await send('upload-1', await makeJpeg(50, 50, 6)), 422, 'unprocessable');
  });

  it('re-runs a retry whose first answer was never stored (a crash after the commit) into the same images', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await setUpTenant(api, 'crash-retries');
    const jpegs = await Promise.all([7, 8].map((seed) => makeJpeg(50, 50, seed)));
    const send = (files: Buffer[]) =>
      fetch(`${api.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.access_token}`, 'idempotency-key': 'batch-1' },
        body: imageForm(
          files.map((bytes, i) => ({ name: `${i}.jpg`, bytes })),
          { tags: 'a,b' },
        ),
      });
    const first = await send(jpegs);
    assert.equal(first.status, 202, await first.clone().text());
    const firstBody = await first.text();
    const after = await footprint(api);
    // As a crash between the commit and the stored answer leaves it: claimed long ago, no answer.
    await api.deps.pool.query(sql.typeAlias('void')`
      update write.idempotency_keys set response = null, created_at = now() - interval '2 minutes'
      where key = 'batch-1'`);
    const retry = await send(jpegs);
    assert.equal(retry.status, 202, await retry.clone().text());
    assert.equal(retry.headers.get('idempotent-replayed'), null, 'answered by a re-run, not a stored answer');
    assert.equal(await retry.text(), firstBody, 'the same images, ids and all');
    assert.deepEqual(await footprint(api), after, 'no second image, event or object');
    // The request's own answer gone, its commands' keys (`… batch-1#0`) still there.
    await api.deps.pool.query(
      sql.typeAlias('void')`delete from write.idempotency_keys where key = 'batch-1'`,
    );
    // The commands compare the request's fingerprint too: other files under the key are refused.
    await problem(await send([jpegs[1]!, jpegs[0]!]), 422, 'unprocessable');
  });

  it('keeps an issued API key answer in the transaction that issues the key: a retry gets the working secret', async (t) => {
    const api = await startWriteApi(t);
    const { tenantId, owner } = await setUpTenant(api, 'kept-keys');
    const issue = () =>
      api.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
        token: owner.access_token,
        json: { name: 'importer', scopes: ['images:write'] },
        headers: { 'idempotency-key': 'key-1' },
      });
    const first = await issue();
    assert.equal(first.status, 201, await first.clone().text());
    const firstBody = await first.text();
    // Rows a transaction wrote carry its id (xmin): the request's answer and the key's command
    // were written by one, so no crash can commit the key and lose the secret's only copy.
    const writers = async (key: string) => {
      const rows = await api.deps.pool.any(sql.type(z.object({ key: z.string(), writer: z.string() }))`
        select key, xmin::text as writer from write.idempotency_keys
        where key = ${key} or key like ${`% ${key}#0`} order by key`);
      assert.equal(rows.length, 2, JSON.stringify(rows));
      return new Set(rows.map((r) => r.writer)).size;
    };
    assert.equal(await writers('key-1'), 1, 'one transaction');
    // An answer built after its commands (an upload's) is stored after them: the check tells them apart.
    const upload = await fetch(`${api.baseUrl}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.access_token}`, 'idempotency-key': 'upload-1' },
      body: imageForm([{ name: 'u.jpg', bytes: await makeJpeg(30, 30, 11) }]),
    });
    assert.equal(upload.status, 202);
    assert.equal(await writers('upload-1'), 2);

    const retry = await issue();
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(await retry.text(), firstBody);
    const { secret } = JSON.parse(firstBody) as { secret: string };
    const exchanged = await api.call('POST', '/v1/auth/token', {
      json: { grant_type: 'api_key', api_key: secret },
    });
    assert.equal(exchanged.status, 200, 'the secret answered is the key stored');
  });

  it('answers a retry of a request whose answer was stored before the move to the write model', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await setUpTenant(api, 'old-answers');
    const jpeg = await makeJpeg(50, 50, 9);
    const send = (bytes = jpeg) =>
      fetch(`${api.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.access_token}`, 'idempotency-key': 'before-move' },
        body: imageForm([{ name: 'old.jpg', bytes }]),
      });
    const first = await send();
    assert.equal(first.status, 202, await first.clone().text());
    const firstBody = await first.text();
    // The answer as the write API stored it before (`002_http_idempotency.sql`), the move not yet run.
    const pool = api.deps.pool;
    await pool.query(sql.typeAlias('void')`
      create table auth.http_idempotency (
        scope text not null, key text not null, fingerprint text not null,
        claimed_at timestamptz not null default now(), status int, headers jsonb, sealed_body text,
        primary key (scope, key))`);
    await pool.query(sql.typeAlias('void')`
      with moved as (
        delete from write.idempotency_keys where key = 'before-move' returning scope, request_hash, response)
      insert into auth.http_idempotency (scope, key, fingerprint, status, headers, sealed_body)
      select substr(scope, length('http:') + 1), 'before-move', request_hash,
        (response->>'status')::int, response->'headers', response->>'sealedBody'
      from moved`);
    await pool.query(sql.typeAlias('void')`
      delete from public.schema_migrations where component = 'write-api' and name = '003_request_answers_moved.sql'`);
    assert.deepEqual(await runMigrations(api.config.DATABASE_URL, 'write-api', writeApiMigrations), [
      '003_request_answers_moved.sql',
    ]);

    const retry = await send();
    assert.equal(retry.status, 202, await retry.clone().text());
    assert.equal(retry.headers.get('idempotent-replayed'), 'true', 'answered from the moved answer');
    assert.equal(await retry.text(), firstBody);
    const gone = await pool.oneFirst(sql.type(z.object({ gone: z.boolean() }))`
      select to_regclass('auth.http_idempotency') is null as gone`);
    assert.ok(gone, 'the old table is dropped');
    await problem(await send(await makeJpeg(50, 50, 10)), 422, 'unprocessable');
  });

  it('rate-limits brute force on the token endpoint', async (t) => {
    const api = await startWriteApi(t, { SIGN_IN_ATTEMPTS_PER_MINUTE: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await api.call('POST', '/v1/auth/token', {
        json: { grant_type: 'password', email: adminEmail, password: `guess number ${i}!` },
      });
      statuses.push(response.status);
      if (response.status === 429) assert.ok(Number(response.headers.get('retry-after')) > 0);
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(
      statuses.slice(5).every((s) => s === 429),
      statuses.join(','),
    );
    // Even the right password waits now: the account is being guessed at.
    await problem(
      await api.call('POST', '/v1/auth/token', {
        json: { grant_type: 'password', email: adminEmail, password: adminPassword },
      }),
      429,
    );
  });
});
