import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import { sha256Hex } from '@deeplens/platform/objectStore';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { recordAccepted, recordRejected } from '@deeplens/commands/intake/intakeOutcomes';
import { createIntakeUploads } from '../intakeUploads.ts';
import {
  adminEmail,
  adminPassword,
  startWriteApi,
  type WriteApiHarness,
} from '../testing/writeApiHarness.ts';

async function problem(response: Response, status: number, code?: string) {
  assert.equal(
    response.status,
    status,
    `expected ${status}, got ${response.status}: ${await response.clone().text()}`,
  );
  assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  const body = (await response.json()) as { status: number; code: string; detail?: string };
  if (code) assert.equal(body.code, code);
  return body;
}

async function tenantWithOwner(api: WriteApiHarness, slug: string) {
  const admin = await api.signIn(adminEmail, adminPassword);
  const created = await api.call('POST', '/v1/tenants', {
    token: admin.access_token,
    json: { slug, name: `Tenant ${slug}`, plan: 'free' },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id: tenantId } = (await created.json()) as { id: string };
  const email = `owner@${slug}.test`;
  const user = await api.call('POST', '/v1/users', {
    token: admin.access_token,
    json: { email, password: 'a long enough password', role: 'tenant_admin', tenantId },
  });
  assert.equal(user.status, 201, await user.clone().text());
  const owner = await api.signIn(email, 'a long enough password');
  return { tenantId, token: owner.access_token };
}

const pem = (key: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
  key.export({ type: 'spki', format: 'pem' }).toString();

describe('intake over HTTP: keys, uploads, outcomes', () => {
  it('registers an Ed25519 public key (PEM or JWK), refuses private and other keys, revokes', async (t) => {
    const api = await startWriteApi(t);
    const acme = await tenantWithOwner(api, 'intake-keys-acme');
    const other = await tenantWithOwner(api, 'intake-keys-other');
    const { publicKey } = generateKeyPairSync('ed25519');

    const registered = await api.call('POST', `/v1/tenants/${acme.tenantId}/intake-keys`, {
      token: acme.token,
      json: { name: 'catalogue sync', publicKey: pem(publicKey) },
    });
    assert.equal(registered.status, 201, await registered.clone().text());
    const key = (await registered.json()) as { id: string; publicKey: string; algorithm: string };
    assert.equal(key.algorithm, 'Ed25519');
    assert.equal(key.publicKey, pem(publicKey));

    const jwk = publicKey.export({ format: 'jwk' });
    const byJwk = await api.call('POST', `/v1/tenants/${acme.tenantId}/intake-keys`, {
      token: acme.token,
      json: { jwk },
    });
    assert.equal(byJwk.status, 201, await byJwk.clone().text());
    assert.equal(((await byJwk.json()) as { publicKey: string }).publicKey, pem(publicKey));

    const { privateKey } = generateKeyPairSync('ed25519');
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const refusals = [
      { publicKey: privatePem },
      { jwk: privateKey.export({ format: 'jwk' }) },
      { publicKey: pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) },
      { publicKey: 'not a key' },
      {},
    ];
    for (const json of refusals)
      await problem(
        await api.call('POST', `/v1/tenants/${acme.tenantId}/intake-keys`, { token: acme.token, json }),
        400,
        'validation_failed',
      );
    await problem(
      await api.call('POST', `/v1/tenants/${acme.tenantId}/intake-keys`, {
        token: other.token,
        json: { publicKey: pem(publicKey) },
      }),
      404,
    );

    const payloads = await api.deps.pool.anyFirst(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'IntakeKeyRegistered'`);
    assert.equal(payloads.length, 2);
    for (const payload of payloads)
      assert.ok(!payload.toString('latin1').includes('PRIVATE'), 'only public keys enter the log');

    await problem(
      await api.call('DELETE', `/v1/tenants/${acme.tenantId}/intake-keys/${key.id}`, { token: other.token }),
      404,
    );
    const revoked = await api.call('DELETE', `/v1/tenants/${acme.tenantId}/intake-keys/${key.id}`, {
      token: acme.token,
    });
    assert.equal(revoked.status, 204);
    const revocations = await api.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from write.outbox where event_type = 'IntakeKeyRevoked'`);
    assert.equal(revocations, 1);
  });

  it('stores uploaded bytes for intake, checked, and answers each request’s outcome for its tenant only', async (t) => {
    const api = await startWriteApi(t);
    const acme = await tenantWithOwner(api, 'intake-uploads-acme');
    const other = await tenantWithOwner(api, 'intake-uploads-other');
    const jpeg = await makeJpeg(64, 48);
    const form = (bytes: Buffer, type = 'image/jpeg') => {
      const body = new FormData();
      body.append('file', new Blob([bytes], { type }), 'photo.jpg');
      return body;
    };

    const uploaded = await api.call('POST', '/v1/uploads', { token: acme.token, body: form(jpeg) });
    assert.equal(uploaded.status, 201, await uploaded.clone().text());
    const upload = (await uploaded.json()) as Record<string, unknown>;
    assert.deepEqual(
      { ...upload, expiresAt: undefined },
      {
        objectKey: `images/${sha256Hex(jpeg).slice(0, 2)}/${sha256Hex(jpeg)}`,
        sha256: sha256Hex(jpeg),
        mime: 'image/jpeg',
        bytes: jpeg.length,
        width: 64,
        height: 48,
        expiresAt: undefined,
      },
    );
    assert.ok(Date.parse(String(upload.expiresAt)) > Date.now());

    await problem(
      await api.call('POST', '/v1/uploads', { token: acme.token, body: form(Buffer.from('not an image')) }),
      415,
    );
    await problem(await api.call('POST', '/v1/uploads', { token: acme.token, body: new FormData() }), 400);
    await problem(await api.call('POST', '/v1/uploads', { body: form(jpeg) }), 401);

    const requestId = randomUUID();
    const outcome = (token: string, id: string = requestId) => api.call('GET', `/v1/intake/${id}`, { token });
    assert.deepEqual(await (await outcome(acme.token)).json(), { requestId, status: 'pending' });
    await recordRejected(api.deps.pool, {
      tenantId: acme.tenantId,
      requestId,
      code: 'validation_failed',
      reason: 'the record does not describe the object',
    });
    const rejected = (await (await outcome(acme.token)).json()) as Record<string, unknown>;
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.code, 'validation_failed');
    const imageId = randomUUID();
    await recordAccepted(api.deps.pool, {
      tenantId: acme.tenantId,
      requestId,
      command: 'RegisterImage',
      imageId,
    });
    await recordRejected(api.deps.pool, {
      tenantId: acme.tenantId,
      requestId,
      code: 'conflict',
      reason: 'later',
    });
    const accepted = (await (await outcome(acme.token)).json()) as Record<string, unknown>;
    assert.deepEqual(
      { ...accepted, updatedAt: undefined },
      { requestId, status: 'accepted', command: 'RegisterImage', imageId, updatedAt: undefined },
      'accepted is final',
    );
    await problem(await outcome(other.token), 404, 'not_found');
    await problem(await outcome(acme.token, 'x'.repeat(201)), 400);
  });

  it('presigns a PUT into S3 storage; intake reads what was put and refuses bytes under another address', async (t) => {
    const api = await startWriteApi(t, { OBJECT_STORE: 's3' });
    const acme = await tenantWithOwner(api, 'intake-presign-acme');
    const storageOf = createTenantStorageResolver(api.config, api.deps.objects, api.deps.secrets);
    const tenant = await api.deps.handler.load(tenantDecider, acme.tenantId);
    assert.ok(tenant.status === 'active');
    const storage = storageOf(tenant);
    t.after(() => storage.store.deleteBucket(storage.bucket).catch(() => undefined));
    const uploads = createIntakeUploads({
      pool: api.deps.pool,
      storageOf,
      maxPixels: api.config.IMAGE_MAX_PIXELS,
    });

    const presign = async (bytes: Buffer) => {
      const response = await api.call('POST', '/v1/uploads/presigned', {
        token: acme.token,
        json: { sha256: sha256Hex(bytes), mime: 'image/jpeg', bytes: bytes.length },
      });
      assert.equal(response.status, 201, await response.clone().text());
      return (await response.json()) as { objectKey: string; url: string; method: string };
    };
    const jpeg = await makeJpeg(40, 30, 3);
    const target = await presign(jpeg);
    assert.equal(target.method, 'PUT');
    const put = await fetch(target.url, { method: 'PUT', body: jpeg });
    assert.equal(put.status, 200, await put.text());
    const record = {
      objectKey: target.objectKey,
      sha256: sha256Hex(jpeg),
      mime: 'image/jpeg',
      bytes: jpeg.length,
      width: 40,
      height: 30,
      filename: 'direct.jpg',
      tags: [],
      attributes: {},
    };
    assert.deepEqual(await uploads.verify(tenant, record), {
      sha256: sha256Hex(jpeg),
      bytes: jpeg.length,
      mime: 'image/jpeg',
      width: 40,
      height: 30,
    });

    // Other bytes PUT under the presigned address: they are not what the key names.
    const other = await makeJpeg(40, 30, 4);
    const misplaced = await presign(jpeg);
    await fetch(misplaced.url, { method: 'PUT', body: other });
    await assert.rejects(
      uploads.verify(tenant, { ...record, sha256: sha256Hex(other), bytes: other.length }),
      /does not hold the bytes its key names/,
    );

    await problem(
      await api.call('POST', '/v1/uploads/presigned', {
        token: acme.token,
        json: { sha256: 'x', mime: 'image/jpeg', bytes: 1 },
      }),
      400,
    );
  });

  it('answers a filesystem install’s presign request with a conflict that names POST /v1/uploads', async (t) => {
    const api = await startWriteApi(t);
    const acme = await tenantWithOwner(api, 'intake-presign-fs');
    const body = await problem(
      await api.call('POST', '/v1/uploads/presigned', {
        token: acme.token,
        json: { sha256: 'a'.repeat(64), mime: 'image/jpeg', bytes: 10 },
      }),
      409,
    );
    assert.match(body.detail ?? '', /POST \/v1\/uploads/);
  });
});
