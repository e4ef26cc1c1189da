import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { fileSystemObjectStore, s3ObjectStore, sha256Hex, type ObjectStore } from './objectStore.ts';
import { uniqueName } from './testing/testTopics.ts';

const config = loadConfig();
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
  ['filesystem', async () => fileSystemObjectStore(await mkdtemp(join(tmpdir(), 'objects-')))],
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

      await store.delete(bucket, key);
      assert.equal(await store.stat(bucket, key), undefined);
      await assert.rejects(store.get(bucket, key), { code: 'not_found' });
    });

    it('refuses path traversal in keys', async () => {
      const store = await create();
      await assert.rejects(store.put('bucket-x', '../etc/passwd', Buffer.from('x'), 'text/plain'), {
        code: 'validation_failed',
      });
    });
  });
}
