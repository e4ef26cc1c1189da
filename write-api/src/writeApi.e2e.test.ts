import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { endOffsets, readEvents } from '@deeplens/events/testing/readEvents';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import { s3ObjectStore } from '@deeplens/platform/objectStore';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { waitForReady } from '@deeplens/platform/testing/deeplensProcesses';
import { freePort } from '@deeplens/platform/testing/freePort';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';

const repoRoot = join(import.meta.dirname, '..', '..');

function startProcess(t: TestContext, entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.after(() => {
    child.kill('SIGTERM');
  });
  return child;
}

describe('write API as a process, with the outbox relay, S3 storage and Kafka', () => {
  it('an upload over HTTP lands its bytes in S3 and its ImageUploaded event in Kafka', async (t) => {
    const { url } = await createTestDatabase(t);
    const port = await freePort();
    const secretsDir = await mkdtemp(join(tmpdir(), 'deeplens-e2e-secrets-'));
    const env = {
      DATABASE_URL: url,
      WRITE_API_PORT: String(port),
      OBJECT_STORE: 's3',
      SECRETS_DIR: secretsDir,
      BOOTSTRAP_ADMIN_EMAIL: 'admin@e2e.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'an e2e admin password',
      LOG_LEVEL: 'warn',
      // Its own topics: this run's data keys (wrapped by this run's master key, in SECRETS_DIR)
      // must not meet keys other runs left on a shared broker for the same bootstrap admin.
      KAFKA_TOPIC_PREFIX: `wae${port}.`,
    };
    const topics = topicsWithPrefix(env.KAFKA_TOPIC_PREFIX);
    const config = loadConfig();
    const kafka = createKafka(config, 'write-api-e2e');
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
    );
    const from = await endOffsets(kafka, topics.image).catch(() => []);

    startProcess(t, 'write-api/src/main.ts', env);
    startProcess(t, 'commands/src/outbox/relayMain.ts', env);
    const base = `http://127.0.0.1:${port}`;
    await waitForReady(`${base}/readyz`, 60_000);

    const call = (path: string, init: RequestInit & { token?: string; json?: unknown } = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
          ...(init.json ? { 'content-type': 'application/json' } : {}),
        },
        body: init.json ? JSON.stringify(init.json) : init.body,
      });
    const signIn = async (email: string, password: string) =>
      (
        (await (
          await call('/v1/auth/token', { method: 'POST', json: { grant_type: 'password', email, password } })
        ).json()) as { access_token: string }
      ).access_token;

    const admin = await signIn('admin@e2e.test', 'an e2e admin password');
    const tenant = (await (
      await call('/v1/tenants', { method: 'POST', token: admin, json: { slug: `e2e-${port}`, name: 'E2E' } })
    ).json()) as { id: string };
    assert.equal(
      (
        await call('/v1/users', {
          method: 'POST',
          token: admin,
          json: {
            email: `u${port}@e2e.test`,
            password: 'user password 123',
            role: 'tenant_user',
            tenantId: tenant.id,
          },
        })
      ).status,
      201,
    );
    const user = await signIn(`u${port}@e2e.test`, 'user password 123');

    const form = new FormData();
    const jpeg = await makeJpeg(120, 90, 42);
    form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), 'e2e.jpg');
    form.append('tags', 'e2e');
    const uploaded = await call('/v1/images', { method: 'POST', token: user, body: form });
    assert.equal(uploaded.status, 202, await uploaded.clone().text());
    const [image] = ((await uploaded.json()) as { images: { id: string; sha256: string }[] }).images;

    const store = s3ObjectStore({
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
    });
    const bucket = `${config.S3_BUCKET_PREFIX}${tenant.id}`;
    t.after(() => store.deleteBucket(bucket));
    const key = `images/${image!.sha256.slice(0, 2)}/${image!.sha256}`;
    assert.deepEqual(await store.stat(bucket, key), { size: jpeg.length, contentType: 'image/jpeg' });

    const read = await readEvents(kafka, serde, topics.image, from, {
      keep: (e) => e.metadata.aggregateId === image!.id,
      done: (events) => events.length >= 1,
      timeoutMs: 60_000,
    });
    const event = read[0]!.event;
    assert.equal(event.type, 'ImageUploaded');
    if (event.type === 'ImageUploaded') {
      assert.deepEqual(
        [event.data.tenantId, event.data.objectKey, event.data.width, event.data.height, event.data.tags],
        [tenant.id, key, 120, 90, ['e2e']],
      );
      assert.equal(event.metadata.actor.startsWith('user:'), true);
    }
  });
});
