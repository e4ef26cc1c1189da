import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import { azureObjectStore } from '@deeplens/platform/azureObjectStore';
import { fileSystemObjectStore, s3ObjectStore } from '@deeplens/platform/objectStore';
import { pathObjectStore } from '@deeplens/platform/pathObjectStore';
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

type Load = {
  deeplens: RunningDeepLens;
  tenantId: string;
  apiKey: string;
  /** The tenant admin's token: the tenant's own admin moves its storage. */
  token: string;
  /** Every image of the tenant, id → sha256 (uploads during the move are added). */
  expected: Map<string, string>;
  /** Images uploaded while the move runs. */
  during: Buffer[];
};

/**
 * Moves the tenant's storage while its images are read (bytes checked), searched and added;
 * `whileRunning` acts on the running move. Returns the completed move once everything —
 * including the images uploaded meanwhile — reads back with its sha256 and has a thumbnail.
 */
async function moveUnderLoad(
  load: Load,
  target: unknown,
  whileRunning: (moveUrl: string, started: MoveView) => Promise<void> = async () => {},
): Promise<MoveView> {
  const { deeplens, tenantId, apiKey, token, expected } = load;
  const probe = [...expected.keys()][0]!;
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
        // The plan's request budget, not the move: paced below it, and a 429 is asked again.
        await sleep(response.status === 429 ? 1000 : 250);
        if (response.status === 429) continue;
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
      await sleep(1000);
      if (response.status === 429) continue;
      searches++;
      if (response.status !== 200) failures.push(`similar: ${response.status} ${body}`);
    }
  })();
  let uploadedDuring = 0;
  const uploadLoop = (async () => {
    for (const bytes of load.during) {
      if (!running) break;
      expected.set(await upload(deeplens, apiKey, bytes), sha256(bytes));
      uploadedDuring++;
      await sleep(300);
    }
  })();

  const moveUrl = `${deeplens.writeUrl}/v1/tenants/${tenantId}/storage/move`;
  let final: MoveView | undefined;
  const stopLoads = async () => {
    running = false;
    await Promise.allSettled([readLoop, searchLoop, uploadLoop]);
  };
  try {
    const accepted = await fetch(moveUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(target),
    });
    const started = (await accepted.json()) as MoveView;
    assert.equal(accepted.status, 202, JSON.stringify(started));
    await whileRunning(moveUrl, started);

    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(500)) {
      final = await moveState(deeplens, tenantId, token);
      if (final && (final.status === 'completed' || final.status === 'failed')) break;
    }
    assert.equal(final?.status, 'completed', JSON.stringify(final));
    await uploadLoop;
  } finally {
    await stopLoads();
  }
  await uploadLoop;

  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed reads or searches`);
  assert.ok(reads > expected.size && searches > 3, `reads ${reads}, searches ${searches} went on`);
  assert.ok(uploadedDuring > 0, 'uploads went on during the move');
  await waitUntilAllIndexed(deeplens.readUrl, apiKey, expected.size, 240_000);
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
  }
  // Verified figures: at least every original there before the move, and a thumbnail each.
  assert.ok(final.objects >= (expected.size - uploadedDuring) * 2, `verified ${final.objects} objects`);
  return final;
}

async function signIn(deeplens: RunningDeepLens, email: string, password: string): Promise<string> {
  const response = await fetch(`${deeplens.writeUrl}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', email, password }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('moving a tenant storage', () => {
  it('S3 → the platform fs store (the write API killed mid-move) → a path store; another tenant S3 → Azure: under continuous uploads, reads and searches, nothing lost, every byte checked', async (t) => {
    const config = loadConfig();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    removeTopicsAfter(t, prefix);
    const pathRoot = await mkdtemp(join(tmpdir(), 'deeplens-path-root-'));
    t.after(() => rm(pathRoot, { recursive: true, force: true }));
    const deeplens = await startDeepLens(t, {
      processes: ['write-api', 'relay', 'embedder', 'projectors', 'read-api'],
      env: {
        KAFKA_TOPIC_PREFIX: prefix,
        DEEPLENS_VECTOR_NAMESPACE: prefix.replace(/\W/g, ''),
        TENANT_STORAGE_ALLOWED_ENDPOINTS: `${config.S3_ENDPOINT},${config.AZURE_BLOB_ENDPOINT}`,
        TENANT_STORAGE_PATH_ROOT: pathRoot,
        STORAGE_MOVE_BATCH_SIZE: '2',
        // Long enough that the first move is still copying when the write API is killed below.
        STORAGE_MOVE_SETTLE_MS: '15000',
      },
    });
    const s3 = s3ObjectStore({
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
    });
    const s3Settings = (bucket: string, prefix: string) => ({
      endpoint: config.S3_ENDPOINT,
      bucket,
      region: config.S3_REGION,
      prefix,
      accessKeyId: config.S3_ACCESS_KEY,
      secretAccessKey: config.S3_SECRET_KEY,
    });
    const adminToken = await signIn(deeplens, deeplens.admin.email, deeplens.admin.password);
    const putStorage = async (tenantId: string, body: unknown) => {
      const response = await fetch(`${deeplens.writeUrl}/v1/tenants/${tenantId}/storage`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, await response.text());
    };
    const pictures = await distinctImages(30, 72);

    // --- tenant A: images in its S3 bucket, indexed --------------------------------------------------
    const sourceBucket = `move-src-${randomBytes(4).toString('hex')}`;
    t.after(() => s3.deleteBucket(sourceBucket));
    const sourcePrefix = 'byo/deeplens';
    const a = await tenantWithKey(deeplens, `move-a-${randomBytes(3).toString('hex')}`);
    await putStorage(a.tenantId, s3Settings(sourceBucket, sourcePrefix));
    const expectedA = new Map<string, string>();
    const beforeA = pictures.slice(0, 8);
    for (const bytes of beforeA) expectedA.set(await upload(deeplens, a.apiKey, bytes), sha256(bytes));
    await waitUntilAllIndexed(deeplens.readUrl, a.apiKey, beforeA.length, 240_000);
    for (const bytes of beforeA)
      assert.ok(await s3.stat(sourceBucket, imageObjectKey(sha256(bytes), sourcePrefix)), 'in S3 before');

    // Bad input is a 400 problem, before anything happens.
    const moveUrlA = `${deeplens.writeUrl}/v1/tenants/${a.tenantId}/storage/move`;
    const post = (body: unknown, token: string) =>
      fetch(moveUrlA, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const bad of [
      { kind: 'platform', extra: 1 },
      { kind: 'tape' },
      { endpoint: 'http://169.254.169.254', bucket: 'steal-this', accessKeyId: 'a', secretAccessKey: 'b' },
      { kind: 'path', path: '../../etc' },
    ]) {
      const refused = await post(bad, a.owner);
      assert.equal(refused.status, 400, `${JSON.stringify(bad)}: ${await refused.text()}`);
      assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    }

    // --- A: S3 → the platform's fs store; the write API is killed while it copies -------------------
    const load = (tenant: typeof a, expected: Map<string, string>, during: Buffer[]): Load => ({
      deeplens,
      tenantId: tenant.tenantId,
      apiKey: tenant.apiKey,
      token: tenant.owner,
      expected,
      during,
    });
    const first = await moveUnderLoad(
      load(a, expectedA, pictures.slice(8, 16)),
      { kind: 'platform' },
      async (_url, started) => {
        assert.equal(started.to, 'platform');
        assert.doesNotMatch(
          JSON.stringify(started),
          new RegExp(config.S3_SECRET_KEY),
          'no secret in the view',
        );
        const again = await post({ kind: 'platform' }, adminToken);
        assert.equal(again.status, 409, 'a second move while one runs is refused');
        assert.match(again.headers.get('content-type') ?? '', /application\/problem\+json/);
        let midMove: MoveView | undefined;
        for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(200)) {
          midMove = await moveState(deeplens, a.tenantId, a.owner);
          if (midMove && (midMove.status !== 'copying' || midMove.objects > 0)) break;
        }
        assert.equal(midMove?.status, 'copying', `still copying mid-move: ${JSON.stringify(midMove)}`);
        for (const bytes of beforeA)
          assert.ok(
            await s3.stat(sourceBucket, imageObjectKey(sha256(bytes), sourcePrefix)),
            'nothing is released before verification',
          );
        await deeplens.stop('write-api');
        deeplens.start('write-api');
      },
    );
    assert.equal(first.to, 'platform');
    const platform = fileSystemObjectStore(deeplens.env['OBJECT_STORE_DIR']!);
    const bucketA = tenantBucket(config, a.tenantId);
    for (const sum of expectedA.values()) {
      assert.ok(await platform.stat(bucketA, imageObjectKey(sum)), 'in the platform store');
      assert.equal(
        await s3.stat(sourceBucket, imageObjectKey(sum, sourcePrefix)),
        undefined,
        'released from S3',
      );
    }

    // --- A: the platform's fs store → a path store under the operator's root -------------------------
    await mkdir(join(pathRoot, 'tenant-a')); // the operator's folder (a mount, say)
    await moveUnderLoad(load(a, expectedA, pictures.slice(16, 20)), {
      kind: 'path',
      path: 'tenant-a',
      prefix: 'moved',
    });
    const pathStore = pathObjectStore({ root: pathRoot, path: 'tenant-a' });
    for (const sum of expectedA.values()) {
      assert.ok(await pathStore.stat(bucketA, imageObjectKey(sum, 'moved')), 'in the path store');
      assert.equal(
        await platform.stat(bucketA, imageObjectKey(sum)),
        undefined,
        'released from the fs store',
      );
    }

    // --- tenant B: S3 → Azure (Azurite) -------------------------------------------------------------
    const bucketB = `move-src-${randomBytes(4).toString('hex')}`;
    t.after(() => s3.deleteBucket(bucketB));
    const b = await tenantWithKey(deeplens, `move-b-${randomBytes(3).toString('hex')}`);
    await putStorage(b.tenantId, s3Settings(bucketB, ''));
    const expectedB = new Map<string, string>();
    for (const bytes of pictures.slice(20, 25))
      expectedB.set(await upload(deeplens, b.apiKey, bytes), sha256(bytes));
    await waitUntilAllIndexed(deeplens.readUrl, b.apiKey, expectedB.size, 240_000);
    const container = `moved-${randomBytes(4).toString('hex')}`;
    const azure = azureObjectStore({
      endpoint: config.AZURE_BLOB_ENDPOINT,
      account: config.AZURE_STORAGE_ACCOUNT,
      credential: { kind: 'sharedKey', accountKey: config.AZURE_STORAGE_KEY },
    });
    t.after(() => azure.deleteBucket(container));
    const toAzure = await moveUnderLoad(load(b, expectedB, pictures.slice(25, 30)), {
      kind: 'azure',
      account: config.AZURE_STORAGE_ACCOUNT,
      endpoint: config.AZURE_BLOB_ENDPOINT,
      container,
      prefix: 'deeplens',
      sharedKey: config.AZURE_STORAGE_KEY,
    });
    assert.doesNotMatch(
      JSON.stringify(toAzure),
      new RegExp(config.AZURE_STORAGE_KEY.slice(0, 20)),
      'no key shown',
    );
    for (const sum of expectedB.values()) {
      assert.ok(await azure.stat(container, imageObjectKey(sum, 'deeplens')), 'in the Azure container');
      assert.equal(await s3.stat(bucketB, imageObjectKey(sum)), undefined, 'released from S3');
    }
  });
});
