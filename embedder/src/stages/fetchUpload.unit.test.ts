import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TenantState } from '@deeplens/commands/tenant/tenantState';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { fileSystemObjectStore, s3ObjectStore, type ObjectStore } from '@deeplens/platform/objectStore';
import { isRetriableError } from '@deeplens/platform/retriableErrors';
import { imageObjectKey, thumbnailObjectKey, type TenantStorage } from '@deeplens/platform/tenantStorage';
import { fetchUpload } from './fetchUpload.ts';

const tenantId = randomUUID();
const sha256 = 'b'.repeat(64);
const objectKey = imageObjectKey(sha256);

function uploadOf(key = objectKey): ImageUploaded {
  const imageId = randomUUID();
  return {
    type: 'ImageUploaded',
    data: {
      tenantId,
      imageId,
      objectKey: key,
      sha256,
      mime: 'image/jpeg',
      bytes: 3,
      width: 1,
      height: 1,
      filename: 'x.jpg',
      tags: [],
      attributes: {},
      source: 'http',
    },
    metadata: {
      eventId: randomUUID(),
      aggregateId: imageId,
      aggregateVersion: 1,
      tenantId,
      occurredAt: 0,
      correlationId: 'c',
      causationId: null,
      actor: 'system:test',
    },
  };
}

const tenantIn = (status: 'active' | 'suspended' | 'deleted') =>
  ({ status, version: 1, tenantId, storage: null }) as unknown as TenantState;

const storageIn = (store: ObjectStore): TenantStorage => ({
  store,
  bucket: `tenant-${tenantId}`,
  keyOf: (sha) => imageObjectKey(sha),
  thumbnailKeyOf: (sha, size) => thumbnailObjectKey(sha, size),
});

async function folderStore(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'fetch-upload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = fileSystemObjectStore(dir);
  await store.ensureBucket(`tenant-${tenantId}`);
  return store;
}

describe('fetch stage', () => {
  it("reads the upload's object from its tenant's storage", async (t) => {
    const store = await folderStore(t);
    await store.put(`tenant-${tenantId}`, objectKey, Buffer.from('abc'), 'image/jpeg');
    const fetched = await fetchUpload(uploadOf(), {
      loadTenant: () => Promise.resolve(tenantIn('active')),
      storageOf: () => storageIn(store),
    });
    assert.equal(fetched.outcome, 'fetched');
    assert.ok(fetched.outcome === 'fetched' && fetched.bytes.equals(Buffer.from('abc')));
    assert.equal(fetched.storage.bucket, `tenant-${tenantId}`);
  });

  it('answers failed with the reason for a missing object (the image was deleted) and a tenant that no longer exists', async (t) => {
    const store = await folderStore(t);
    const missing = await fetchUpload(uploadOf(), {
      loadTenant: () => Promise.resolve(tenantIn('active')),
      storageOf: () => storageIn(store),
    });
    assert.deepEqual(missing, { outcome: 'failed', reason: `the image object ${objectKey} is missing` });
    for (const tenant of [tenantIn('deleted'), { status: 'initial', version: 0 } as const]) {
      const gone = await fetchUpload(uploadOf(), {
        loadTenant: () => Promise.resolve(tenant),
        storageOf: () => assert.fail('no storage is resolved for a tenant that is gone'),
      });
      assert.deepEqual(gone, { outcome: 'failed', reason: 'the tenant no longer exists' });
    }
  });

  it('throws a storage outage as a retriable error (for the runtime to retry and redeliver), never a failed image', async () => {
    // An S3 endpoint nobody listens on.
    const down = s3ObjectStore({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      accessKey: 'x',
      secretKey: 'y',
    });
    const error: unknown = await fetchUpload(uploadOf(), {
      loadTenant: () => Promise.resolve(tenantIn('active')),
      storageOf: () => storageIn(down),
    }).then(
      (fetched) => assert.fail(`an outage answered ${JSON.stringify(fetched)}`),
      (e: unknown) => e,
    );
    assert.ok(isRetriableError(error), `retriable: ${String(error)}`);
  });

  it('throws when the write model cannot be read (PostgreSQL down is the runtime’s to retry)', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await assert.rejects(
      fetchUpload(uploadOf(), {
        loadTenant: () => Promise.reject(down),
        storageOf: () => assert.fail('not reached'),
      }),
      (e) => e === down,
    );
  });
});
