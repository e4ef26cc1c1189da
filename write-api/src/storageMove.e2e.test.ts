import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import { fileSystemObjectStore, s3ObjectStore } from '@deeplens/platform/objectStore';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { imageObjectKey, tenantBucket } from '@deeplens/platform/tenantStorage';
import { distinctImages } from '@deeplens/reliability/ingestClient';
import { tenantWithKey, waitUntilAllIndexed } from '@deeplens/reliability/systemSetup';

const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type MoveView = {
  moveId: string;
  status: 'copying' | 'verified' | 'completed' | 'failed';
  objects: number;
  bytes: number;
  totalObjects: number;
  from: string;
  to: string;
  reason?: string;
};

function removeTopicsAfter(t: Pick<TestContext, 'after'>, prefix: string): void {
  t.after(async () => {
    const admin = createKafka(loadConfig(), 'storage-move-test-cleanup').admin();
    await admin.connect();
    try {
      const mine = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    } finally {
      await admin.disconnect();
    }
  });
}

/** Uploads one image, retrying through a restart of the write API (same Idempotency-Key). */
async function upload(deeplens: RunningDeepLens, apiKey: string, bytes: Buffer): Promise<string> {
  const key = sha256(bytes).slice(0, 32);
  for (let attempt = 0; attempt < 240; attempt++) {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'image/jpeg' }), `${key}.jpg`);
    const response = await fetch(`${deeplens.writeUrl}/v1/images`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'idempotency-key': key },
      body: form,
    }).catch(() => undefined);
    if (response?.status === 202)
      return ((await response.json()) as { images: { id: string }[] }).images[0]!.id;
    const text = response ? await response.text() : 'no answer';
    // 409: the same key was still being processed when the write API was killed; it expires.
    if (response && response.status < 500 && response.status !== 429 && response.status !== 409)
      throw new Error(`upload: ${response.status} ${text}`);
    await sleep(500);
  }
  throw new Error('upload: the write API did not take it');
}

async function moveState(
  deeplens: RunningDeepLens,
  tenantId: string,
  token: string,
): Promise<MoveView | undefined> {
  const response = await fetch(`${deeplens.writeUrl}/v1/tenants/${tenantId}/storage/move`, {
    headers: { authorization: `Bearer ${token}` },
  }).catch(() => undefined);
  if (!response || response.status !== 200) return undefined;
  return (await response.json()) as MoveView;
}

describe('moving a tenant storage', () => {
  it('S3 → the platform fs store under continuous uploads, reads and searches, with a crash of the write API mid-move: nothing lost, every byte checked', async (t) => {
    const config = loadConfig();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    removeTopicsAfter(t, prefix);
    const deeplens = await startDeepLens(t, {
      processes: ['write-api', 'relay', 'embedder', 'projectors', 'read-api'],
      env: {
        KAFKA_TOPIC_PREFIX: prefix,
        DEEPLENS_VECTOR_NAMESPACE: prefix.replace(/\W/g, ''),
        TENANT_STORAGE_ALLOWED_ENDPOINTS: config.S3_ENDPOINT,
        STORAGE_MOVE_BATCH_SIZE: '2',
        // Long enough that the move is still copying when the write API is killed below.
        STORAGE_MOVE_SETTLE_MS: '15000',
      },
    });
    const s3 = s3ObjectStore({
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
    });
    const sourceBucket = `move-src-${randomBytes(4).toString('hex')}`;
    t.after(() => s3.deleteBucket(sourceBucket));
    const sourcePrefix = 'byo/deeplens';

    const { tenantId, apiKey, owner } = await tenantWithKey(
      deeplens,
      `move-${randomBytes(3).toString('hex')}`,
    );
    const adminToken = (
      (await (
        await fetch(`${deeplens.writeUrl}/v1/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ grant_type: 'password', ...deeplens.admin }),
        })
      ).json()) as { access_token: string }
    ).access_token;
    const configured = await fetch(`${deeplens.writeUrl}/v1/tenants/${tenantId}/storage`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        endpoint: config.S3_ENDPOINT,
        bucket: sourceBucket,
        region: config.S3_REGION,
        prefix: sourcePrefix,
        accessKeyId: config.S3_ACCESS_KEY,
        secretAccessKey: config.S3_SECRET_KEY,
      }),
    });
    assert.equal(configured.status, 200, await configured.text());

    // --- before: images in the tenant's S3 bucket, indexed ----------------------------------------
    const pictures = await distinctImages(24, 72);
    const before = pictures.slice(0, 8);
    const during = pictures.slice(8);
    const expected = new Map<string, string>(); // image id → sha256
    for (const bytes of before) expected.set(await upload(deeplens, apiKey, bytes), sha256(bytes));
    await waitUntilAllIndexed(deeplens.readUrl, apiKey, before.length, 240_000);
    for (const bytes of before)
      assert.ok(
        await s3.stat(sourceBucket, imageObjectKey(sha256(bytes), sourcePrefix)),
        'the image is in the S3 bucket before the move',
      );
    const probe = [...expected.keys()][0]!;

    // --- readers, searchers and an uploader run all through the move ------------------------------
    let running = true;
    const failures: string[] = [];
    let reads = 0;
    let searches = 0;
    const readLoop = (async () => {
      while (running) {
        for (const [imageId, sum] of [...expected]) {
          const response = await fetch(`${deeplens.readUrl}/v1/images/${imageId}/content`, {
            headers: { 'x-api-key': apiKey },
          });
          const bytes = Buffer.from(await response.arrayBuffer());
          reads++;
          if (response.status !== 200)
            failures.push(`content ${imageId}: ${response.status} ${bytes.toString()}`);
          else if (sha256(bytes) !== sum) failures.push(`content ${imageId}: other bytes`);
        }
      }
    })();
    const searchLoop = (async () => {
      while (running) {
        const response = await fetch(`${deeplens.readUrl}/v1/images/${probe}/similar?k=5`, {
          headers: { 'x-api-key': apiKey },
        });
        const body = await response.text();
        searches++;
        if (response.status !== 200) failures.push(`similar: ${response.status} ${body}`);
        await sleep(100);
      }
    })();
    let uploadedDuring = 0;
    const uploadLoop = (async () => {
      for (const bytes of during) {
        if (!running) break;
        expected.set(await upload(deeplens, apiKey, bytes), sha256(bytes));
        uploadedDuring++;
        await sleep(300);
      }
    })();

    // --- the move, by the tenant's own admin --------------------------------------------------------
    const moveUrl = `${deeplens.writeUrl}/v1/tenants/${tenantId}/storage/move`;
    const post = (body: unknown, token = owner) =>
      fetch(moveUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const bad = await post({ kind: 'platform', extra: 1 });
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type') ?? '', /application\/problem\+json/);
    const notAllowed = await post({
      endpoint: 'http://169.254.169.254',
      bucket: 'steal-this',
      accessKeyId: 'a',
      secretAccessKey: 'b',
    });
    assert.equal(notAllowed.status, 400, 'an endpoint off the allow-list is refused');

    const accepted = await post({ kind: 'platform' });
    const started = (await accepted.json()) as MoveView;
    assert.equal(accepted.status, 202, JSON.stringify(started));
    assert.equal(started.to, 'platform');
    assert.doesNotMatch(JSON.stringify(started), new RegExp(config.S3_SECRET_KEY), 'no secret in the view');
    const again = await post({ kind: 'platform' }, adminToken);
    assert.equal(again.status, 409, 'a second move while one runs is refused');
    assert.match(again.headers.get('content-type') ?? '', /application\/problem\+json/);

    // Mid-move: progress recorded, the source intact; then the write API crashes and comes back.
    let midMove: MoveView | undefined;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(200)) {
      midMove = await moveState(deeplens, tenantId, owner);
      if (midMove && midMove.status !== 'copying') break;
      if (midMove && midMove.objects > 0) break;
    }
    assert.equal(midMove?.status, 'copying', `still copying mid-move: ${JSON.stringify(midMove)}`);
    for (const bytes of before)
      assert.ok(
        await s3.stat(sourceBucket, imageObjectKey(sha256(bytes), sourcePrefix)),
        'nothing is released before verification',
      );
    await deeplens.stop('write-api');
    deeplens.start('write-api');

    let final: MoveView | undefined;
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(500)) {
      final = await moveState(deeplens, tenantId, owner);
      if (final && (final.status === 'completed' || final.status === 'failed')) break;
    }
    assert.equal(final?.status, 'completed', JSON.stringify(final));
    await uploadLoop;
    running = false;
    await Promise.all([readLoop, searchLoop]);

    // --- after: every image's bytes, from the read API and in the new storage; the old one empty ---
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed reads or searches`);
    assert.ok(reads > expected.size && searches > 3, `reads ${reads}, searches ${searches} went on`);
    assert.ok(uploadedDuring > 0, 'uploads went on during the move');
    await waitUntilAllIndexed(deeplens.readUrl, apiKey, expected.size, 240_000);
    const platform = fileSystemObjectStore(deeplens.env['OBJECT_STORE_DIR']!);
    const bucket = tenantBucket(config, tenantId);
    for (const [imageId, sum] of expected) {
      const content = await fetch(`${deeplens.readUrl}/v1/images/${imageId}/content`, {
        headers: { 'x-api-key': apiKey },
      });
      assert.equal(content.status, 200);
      assert.equal(sha256(Buffer.from(await content.arrayBuffer())), sum, `image ${imageId} bytes`);
      const thumbnail = await fetch(`${deeplens.readUrl}/v1/images/${imageId}/thumbnail`, {
        headers: { 'x-api-key': apiKey },
      });
      assert.equal(thumbnail.status, 200, `thumbnail of ${imageId}`);
      await thumbnail.arrayBuffer();
      assert.ok(
        await platform.stat(bucket, imageObjectKey(sum)),
        `image ${imageId} is in the platform store`,
      );
      assert.equal(
        await s3.stat(sourceBucket, imageObjectKey(sum, sourcePrefix)),
        undefined,
        `image ${imageId} is released from the S3 bucket`,
      );
    }
    // Verified figures: every original of the images there before the move, with thumbnails.
    assert.ok(final.objects >= before.length * 2, `verified ${final.objects} objects`);
    const search = await fetch(`${deeplens.readUrl}/v1/images/${probe}/similar?k=5`, {
      headers: { 'x-api-key': apiKey },
    });
    assert.equal(search.status, 200);
  });
});
