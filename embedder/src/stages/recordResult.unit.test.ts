import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { ConcurrencyError, ConflictError, NotFoundError, UnavailableError } from '@deeplens/platform/errors';
import { createLogger } from '@deeplens/platform/logger';
import { fileSystemObjectStore } from '@deeplens/platform/objectStore';
import { imageObjectKey, thumbnailObjectKey, type TenantStorage } from '@deeplens/platform/tenantStorage';
import type { DecodedUpload } from '../decodeUpload.ts';
import { createRecordStage, embedderOrigin, runIgnoringRefusal } from './recordResult.ts';

const model = { modelId: 'm', modelVersion: '2' };
const log = createLogger({ test: 'recordResult' }, 'error');

function failing(errors: Error[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    run: () => {
      const error = errors[calls++];
      return error === undefined ? Promise.resolve() : Promise.reject(error);
    },
  };
}

describe('record stage', () => {
  it('derives the idempotency key from the image, the model version and the step', () => {
    assert.deepEqual(embedderOrigin('img', model, 'embedding+thumbnail'), {
      actor: 'system:embedder',
      causationId: 'img',
      idempotency: { scope: 'embedder', key: 'img:m@2:embedding+thumbnail' },
    });
    assert.equal(embedderOrigin('img', model, 'failure').idempotency.key, 'img:m@2:failure');
  });

  it('runs a command again after a concurrency conflict, takes a refusal as nothing to do, throws the rest', async () => {
    const conflicted = failing([new ConcurrencyError('v1'), new ConcurrencyError('v2')]);
    assert.equal(await runIgnoringRefusal(conflicted.run), 'recorded');
    assert.equal(conflicted.calls, 3);
    for (const refusal of [new ConflictError('the image was deleted'), new NotFoundError('no image')]) {
      const refused = failing([refusal]);
      assert.equal(await runIgnoringRefusal(refused.run), 'refused');
      assert.equal(refused.calls, 1);
    }
    const down = failing([new UnavailableError('PostgreSQL is down')]);
    await assert.rejects(runIgnoringRefusal(down.run), UnavailableError);
    const bug = failing([new TypeError('a bug')]);
    await assert.rejects(runIgnoringRefusal(bug.run), TypeError);
  });

  it('records the embeddings that arrive together as one group, and runs a command that lost to a concurrent change again alone', async () => {
    const groups: string[][] = [];
    const alone: string[] = [];
    const imageIdOf = (request: unknown) => (request as { data: { imageId: string } }).data.imageId;
    const record = createRecordStage({
      handler: {
        handle: ((_decider: unknown, request: unknown) => {
          alone.push(imageIdOf(request));
          return Promise.resolve({});
        }) as never,
        handleGroup: ((_decider: unknown, group: { request: unknown }[]) => {
          groups.push(group.map((c) => imageIdOf(c.request)));
          return Promise.resolve(
            group.map((c) =>
              imageIdOf(c.request) === 'b'
                ? { status: 'rejected', reason: new ConcurrencyError('edited meanwhile') }
                : imageIdOf(c.request) === 'c'
                  ? { status: 'rejected', reason: new ConflictError('deleted meanwhile') }
                  : { status: 'fulfilled', value: {} },
            ),
          );
        }) as never,
      },
      model,
      thumbnailSize: 64,
      log,
      maxGroup: 3,
    });
    const upload = {
      pixels: Buffer.alloc(3),
      perceptualHash: '0123456789abcdef',
      grey: null,
      thumbnail: { data: Buffer.from('webp'), width: 64, height: 48, mime: 'image/webp' },
    } satisfies DecodedUpload;
    const image = { storage: {} as TenantStorage, upload };
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((imageId) =>
        record.embedded(
          { data: { tenantId: 't', imageId, sha256: 'c'.repeat(64) } } as ImageUploaded,
          image,
          Float32Array.of(1, 0),
          Promise.resolve(undefined),
        ),
      ),
    );
    assert.deepEqual(groups, [['a', 'b', 'c'], ['d']], 'one group, split at maxGroup');
    assert.deepEqual(alone, ['b'], 'only the conflicted command again, alone; the refused one is done');
    assert.deepEqual(
      results.map((r) => r.thumbnail),
      [false, false, false, false],
    );
  });

  it('records the embedding with its stored thumbnail in one command, or without it (step "embedding") when the thumbnail cannot be stored; a failure with its reason', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'record-result-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = fileSystemObjectStore(dir);
    const storageIn = (bucket: string): TenantStorage => ({
      store,
      bucket,
      keyOf: (sha) => imageObjectKey(sha),
      thumbnailKeyOf: (sha, size) => thumbnailObjectKey(sha, size),
    });
    const commands: { type: string; data: Record<string, unknown>; key: string | undefined }[] = [];
    const handle = (
      _decider: unknown,
      request: { type: string; data: Record<string, unknown> },
      origin: unknown,
    ) => {
      commands.push({ ...request, key: (origin as { idempotency?: { key: string } }).idempotency?.key });
      return Promise.resolve({});
    };
    const record = createRecordStage({
      handler: {
        handle: handle as never,
        handleGroup: ((
          decider: unknown,
          group: { request: { type: string; data: Record<string, unknown> }; origin: unknown }[],
        ) => Promise.allSettled(group.map((c) => handle(decider, c.request, c.origin)))) as never,
      },
      model,
      thumbnailSize: 64,
      log,
    });
    const imageId = randomUUID();
    const uploaded = { data: { tenantId: 't', imageId, sha256: 'c'.repeat(64) } } as ImageUploaded;
    const upload = {
      pixels: Buffer.alloc(3),
      perceptualHash: '0123456789abcdef',
      grey: null,
      thumbnail: { data: Buffer.from('webp'), width: 64, height: 48, mime: 'image/webp' },
    } satisfies DecodedUpload;
    const vector = Float32Array.of(1, 0);

    await store.ensureBucket('tenant-ok');
    assert.deepEqual(await record.embedded(uploaded, { storage: storageIn('tenant-ok'), upload }, vector), {
      thumbnail: true,
    });
    // No such bucket name is possible: the thumbnail cannot be stored.
    assert.deepEqual(await record.embedded(uploaded, { storage: storageIn('NO'), upload }, vector), {
      thumbnail: false,
    });
    await record.failed(uploaded, 'corrupt: the data is damaged');

    const objectKey = thumbnailObjectKey('c'.repeat(64), 64);
    assert.deepEqual(
      commands.map((c) => [c.type, c.key]),
      [
        ['RecordImageEmbedding', `${imageId}:m@2:embedding+thumbnail`],
        ['RecordImageEmbedding', `${imageId}:m@2:embedding`],
        ['RecordImageEmbeddingFailure', `${imageId}:m@2:failure`],
      ],
    );
    assert.deepEqual(commands[0]!.data.thumbnail, { objectKey, width: 64, height: 48, mime: 'image/webp' });
    assert.equal(commands[0]!.data.perceptualHash, '0123456789abcdef');
    assert.equal(commands[0]!.data.vector, vector);
    assert.equal(commands[1]!.data.thumbnail, undefined);
    assert.deepEqual(commands[2]!.data, {
      tenantId: 't',
      imageId,
      modelId: 'm',
      modelVersion: '2',
      reason: 'corrupt: the data is damaged',
      retriable: false,
    });
    assert.equal((await store.stat('tenant-ok', objectKey))?.size, 4, 'the thumbnail object stored');
  });
});
