import assert from 'node:assert/strict';
import { buffer as readAll } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { sha256Hex } from '@deeplens/platform/objectStore';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { createTenantStorageResolver, type TenantStorage } from '@deeplens/platform/tenantStorage';
import { z } from 'zod';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { sql } from '@deeplens/platform/database';
import { createKafka } from '@deeplens/platform/kafka';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { createImageBytesReleaser, releaseImageBytes } from './imageBytesRelease.ts';
import { adminEmail, adminPassword, startWriteApi } from './testing/writeApiHarness.ts';

/**
 * A deleted image's bytes leave the tenant's storage — the original and its thumbnails — unless
 * another image (or a pending upload) of the tenant has the same bytes; an upload of the same
 * bytes racing the release, and a release that stopped half-way, lose nothing.
 */
async function setUp(t: Parameters<typeof startWriteApi>[0]) {
  const api = await startWriteApi(t);
  const admin = await api.signIn(adminEmail, adminPassword);
  const created = await api.call('POST', '/v1/tenants', {
    token: admin.access_token,
    json: { slug: 'release', name: 'Release', plan: 'pro' },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const tenantId = ((await created.json()) as { id: string }).id;
  await api.call('POST', '/v1/users', {
    token: admin.access_token,
    json: { email: 'owner@release.test', password: 'a long enough password', role: 'tenant_admin', tenantId },
  });
  const owner = await api.signIn('owner@release.test', 'a long enough password');
  const bytes = await makeJpeg(32, 32, 7);
  const sha256 = sha256Hex(bytes);
  const upload = async (): Promise<string> => {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'same.jpg');
    const answer = await api.call('POST', '/v1/images', { token: owner.access_token, body: form });
    assert.equal(answer.status, 202, await answer.clone().text());
    return ((await answer.json()) as { images: { id: string }[] }).images[0]!.id;
  };
  const remove = async (imageId: string) =>
    assert.equal(
      (await api.call('DELETE', `/v1/images/${imageId}`, { token: owner.access_token })).status,
      202,
    );
  const tenant = await api.deps.handler.load(tenantDecider, tenantId);
  assert.ok(tenant.status !== 'initial');
  const storage = createTenantStorageResolver(api.config, api.deps.objects, api.deps.secrets)(tenant);
  // The embedder's thumbnail of the bytes, as it stores it.
  const thumbnail = storage.thumbnailKeyOf(sha256, 256);
  const putThumbnail = () =>
    storage.store.put(storage.bucket, thumbnail, Buffer.from('webp bytes'), 'image/webp');
  const release = (afterDelete?: () => Promise<void>) =>
    releaseImageBytes({ pool: api.deps.pool, storage, tenantId, sha256, afterDelete });
  return { api, tenantId, bytes, sha256, storage, thumbnail, upload, remove, putThumbnail, release, owner };
}

async function keysOf(storage: TenantStorage): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of storage.store.list(storage.bucket)) keys.push(key);
  return keys.sort();
}

describe('releasing a deleted image’s bytes', () => {
  it('keeps bytes another image has, removes them with the last one (original and thumbnails)', async (t) => {
    const { storage, sha256, thumbnail, upload, remove, putThumbnail, release } = await setUp(t);
    const first = await upload();
    const second = await upload();
    await putThumbnail();
    await remove(first);
    assert.equal(await release(), 'in use');
    assert.deepEqual(await keysOf(storage), [storage.keyOf(sha256), thumbnail].sort());

    await remove(second);
    assert.equal(await release(), 'released');
    assert.deepEqual(await keysOf(storage), [], 'nothing left: no original, thumbnail or copy aside');
    assert.equal(await release(), 'released', 'a redelivered ImageDeleted finds nothing to do');
  });

  it('puts the bytes back when an upload of them commits while they are being released', async (t) => {
    const { storage, sha256, bytes, thumbnail, upload, remove, putThumbnail, release } = await setUp(t);
    await remove(await upload());
    await putThumbnail();
    let racing: string | undefined;
    const outcome = await release(async () => {
      assert.deepEqual(
        (await keysOf(storage)).filter((k) => !k.endsWith('.releasing')),
        [],
        'deleted before the second look',
      );
      racing = await upload(); // the same bytes, committed between the delete and the second look
    });
    assert.ok(racing);
    assert.equal(outcome, 'in use');
    assert.deepEqual(await keysOf(storage), [storage.keyOf(sha256), thumbnail].sort());
    const original = await readAll(await storage.store.get(storage.bucket, storage.keyOf(sha256)));
    assert.ok(original.equals(bytes));
    assert.equal(
      (await storage.store.stat(storage.bucket, storage.keyOf(sha256)))?.contentType,
      'image/jpeg',
    );
    assert.equal((await storage.store.stat(storage.bucket, thumbnail))?.contentType, 'image/webp');
  });

  it('a release that stopped after deleting is finished by the next run, restoring what became needed', async (t) => {
    const { storage, sha256, thumbnail, upload, remove, putThumbnail, release } = await setUp(t);
    await remove(await upload());
    await putThumbnail();
    await assert.rejects(
      release(async () => {
        throw new Error('killed between the delete and the second look');
      }),
      /killed/,
    );
    assert.deepEqual(
      await keysOf(storage),
      [`${storage.keyOf(sha256)}.releasing`, `${thumbnail}.releasing`].sort(),
      'only the copies aside are left',
    );
    const again = await upload(); // needed again before the redelivery (it puts its original back itself)
    assert.equal(await release(), 'in use');
    assert.deepEqual(
      await keysOf(storage),
      [storage.keyOf(sha256), thumbnail].sort(),
      'the thumbnail is back',
    );

    // Stopped half-way again, and this time nobody needs the bytes: the next run drops the copies too.
    await remove(again);
    await assert.rejects(
      release(async () => {
        throw new Error('killed again');
      }),
      /killed again/,
    );
    assert.equal(await release(), 'released');
    assert.deepEqual(await keysOf(storage), []);
  });

  it('the releaser consumes ImageDeleted from the log and releases the bytes', async (t) => {
    const { api, storage, thumbnail, upload, remove, putThumbnail } = await setUp(t);
    const kafka = createKafka(api.config, 'bytes-release-test');
    const topic = uniqueName('image-bytes');
    await createTestTopics(t, kafka, [{ topic, partitions: 1 }]);
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(api.config), api.config.SCHEMA_REGISTRY_URL),
    );
    const first = await upload();
    const second = await upload();
    await putThumbnail();
    await remove(first);
    await remove(second);
    // The write model's own ImageDeleted events, framed as the relay frames them.
    const deleted = await api.deps.pool.any(sql.type(z.object({ payload: z.instanceof(Buffer) }))`
      select payload from write.outbox where event_type = 'ImageDeleted' order by position`);
    assert.equal(deleted.length, 2);
    const producer = kafka.producer();
    await producer.connect();
    t.after(() => producer.disconnect());
    await producer.send({
      topic,
      messages: await Promise.all(
        deleted.map(async ({ payload }) => ({
          value: await serde.frameEncoded('ImageDeleted', payload),
          headers: { 'event-type': 'ImageDeleted' },
        })),
      ),
    });
    const releaser = createImageBytesReleaser({
      kafka,
      pool: api.deps.pool,
      handler: api.deps.handler,
      serde,
      log: api.deps.log,
      storageOf: createTenantStorageResolver(api.config, api.deps.objects, api.deps.secrets),
      groupId: uniqueName('bytes-releaser'),
      topic,
    });
    await releaser.start();
    t.after(() => releaser.stop());
    for (let i = 0; (await keysOf(storage)).length > 0; i++) {
      assert.ok(i < 600, `the bytes are still there: ${JSON.stringify(await keysOf(storage))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await storage.store.stat(storage.bucket, thumbnail), undefined);
  });
});
