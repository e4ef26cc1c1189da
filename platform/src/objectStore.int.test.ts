import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { azureAccountSas, azureObjectStore } from './azureObjectStore.ts';
import { loadConfig } from './config.ts';
import {
  createObjectStore,
  fileSystemObjectStore,
  platformAzureSettings,
  s3ObjectStore,
  sha256Hex,
  type ObjectStore,
} from './objectStore.ts';
import { pathObjectStore } from './pathObjectStore.ts';
import { uniqueName } from './testing/testTopics.ts';

const config = loadConfig();

/** The same contract on every kind of storage: S3 (S3Proxy), Azure Blob (Azurite), a folder, a path store. */
const adapters: [string, () => Promise<ObjectStore>][] = [
  [
    's3 (minio client against the stack)',
    async () =>
      s3ObjectStore({
        endpoint: config.S3_ENDPOINT,
        region: config.S3_REGION,
        accessKey: config.S3_ACCESS_KEY,
        secretKey: config.S3_SECRET_KEY,
      }),
  ],
  [
    'azure blob as the platform default (OBJECT_STORE=azure: shared key, Azurite of the stack)',
    async () => createObjectStore({ ...config, OBJECT_STORE: 'azure' }),
  ],
  [
    'azure blob (SAS token, Azurite of the stack)',
    async () => {
      const settings = platformAzureSettings(config);
      const key = settings.credential.kind === 'sharedKey' ? settings.credential.accountKey : '';
      return azureObjectStore({
        ...settings,
        credential: { kind: 'sasToken', token: azureAccountSas(settings.account, key, 3600) },
      });
    },
  ],
  ['filesystem', async () => fileSystemObjectStore(await mkdtemp(join(tmpdir(), 'objects-')))],
  [
    'path store as the platform default (OBJECT_STORE=path)',
    async () =>
      createObjectStore({
        ...config,
        OBJECT_STORE: 'path',
        OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'platform-path-')),
      }),
  ],
  [
    'path store (confined, fsync)',
    async () =>
      pathObjectStore({
        root: await mkdtemp(join(tmpdir(), 'path-root-')),
        path: 'tenant-a',
        initialize: true,
      }),
  ],
];

for (const [name, create] of adapters) {
  describe(`object store: ${name}`, () => {
    it('round-trips an object under its content address and removes it', async (t) => {
      const store = await create();
      const bucket = uniqueName('test');
      await store.ensureBucket(bucket);
      await store.ensureBucket(bucket);
      t.after(() => store.deleteBucket(bucket));

      const body = Buffer.from('an image, in spirit');
      const key = `objects/${sha256Hex(body)}`;
      await store.put(bucket, key, body, 'image/jpeg');
      assert.deepEqual(await store.stat(bucket, key), { size: body.length, contentType: 'image/jpeg' });
      assert.equal(await text(await store.get(bucket, key)), body.toString());
      // A second put of the same key is a harmless overwrite.
      await store.put(bucket, key, body, 'image/jpeg');
      assert.equal(await text(await store.get(bucket, key)), body.toString());

      await store.delete(bucket, key);
      await store.delete(bucket, key);
      assert.equal(await store.stat(bucket, key), undefined);
      await assert.rejects(store.get(bucket, key), { code: 'not_found' });
    });

    it('lists keys by prefix, and deleteBucket leaves nothing', async () => {
      const store = await create();
      const bucket = uniqueName('test');
      await store.ensureBucket(bucket);
      const keys = ['images/aa/one', 'images/bb/two', 'thumbnails/aa/one-256.webp'];
      for (const key of keys) await store.put(bucket, key, Buffer.from(key), 'application/octet-stream');
      const listed = async (prefix?: string) => {
        const found: string[] = [];
        for await (const key of store.list(bucket, prefix)) found.push(key);
        return found.sort();
      };
      assert.deepEqual(await listed(), keys);
      assert.deepEqual(await listed('images/'), keys.slice(0, 2));
      await store.deleteBucket(bucket);
      await store.deleteBucket(bucket);
      assert.deepEqual(await listed(), []);
      assert.equal(await store.stat(bucket, keys[0] ?? ''), undefined);
    });

    it('refuses path traversal in keys', async () => {
      const store = await create();
      await assert.rejects(store.put('bucket-x', '../etc/passwd', Buffer.from('x'), 'text/plain'), {
        code: 'validation_failed',
      });
      await assert.rejects(store.put('bucket-x', 'a/../../etc/passwd', Buffer.from('x'), 'text/plain'), {
        code: 'validation_failed',
      });
    });
  });
}
