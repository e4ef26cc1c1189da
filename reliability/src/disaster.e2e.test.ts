/**
 * The disaster suite of issue 13, each case on a private DeepLens (its own database, topics,
 * vector, object and secret folders, processes started from their `main.ts`) against the stack:
 *   (a) read-model schemas and vector files deleted → restart, nothing else → all as before;
 *   (d) a domain topic created beforehand with finite retention → DeepLens refuses to start.
 * Case (b), the deeplens database dropped → recover, is commands/src/recoverWriteModel.e2e.test.ts.
 * Each case logs how long it took (`disaster (x): … s`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { createDeepLensClient } from '@deeplens/client/deepLensClient';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka } from '@deeplens/platform/kafka';
import {
  startDeepLens,
  waitForReady,
  type RunningDeepLens,
} from '@deeplens/platform/testing/deeplensProcesses';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';

async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Removes the topics a private DeepLens created under its prefix. */
function removeTopicsAfter(t: Pick<TestContext, 'after'>, prefix: () => string | undefined): void {
  t.after(async () => {
    const at = prefix();
    if (!at) return;
    const admin = createKafka(loadConfig(), 'disaster-test-cleanup').admin();
    await admin.connect();
    try {
      const mine = (await admin.listTopics()).filter((topic) => topic.startsWith(at));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    } finally {
      await admin.disconnect();
    }
  });
}

type Hit = { imageId: string; score: number };
type ReadState = { images: unknown[]; usage: unknown; similar: Record<string, Hit[]> };

/**
 * What a tenant reads: every listing page, usage, and look-alikes of each image. Throws
 * `Unavailable` on a 503 (with its Retry-After), any other failure as it is.
 */
class Unavailable extends Error {
  constructor(readonly retryAfter: string | null) {
    super('503');
  }
}

async function readAll(deeplens: RunningDeepLens, apiKey: string, tenantId: string): Promise<ReadState> {
  const get = async (path: string) => {
    const response = await fetch(`${deeplens.readUrl}${path}`, { headers: { 'x-api-key': apiKey } });
    if (response.status === 503) throw new Unavailable(response.headers.get('retry-after'));
    assert.equal(response.status, 200, `${path}: ${response.status} ${await response.clone().text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const page = await get('/v1/images?limit=500');
  const images = (page['items'] as { id: string; status: string; tags: string[]; filename: string }[]).map(
    (i) => ({ id: i.id, status: i.status, tags: i.tags, filename: i.filename }),
  );
  const usage = await get(`/v1/tenants/${tenantId}/usage`);
  const similar: Record<string, Hit[]> = {};
  for (const image of images) {
    const result = await get(`/v1/images/${image.id}/similar?k=10`);
    similar[image.id] = (result['hits'] as Hit[]).map((h) => ({ imageId: h.imageId, score: h.score }));
  }
  return { images, usage: { images: usage['images'], bytes: usage['bytes'] }, similar };
}

/** Equal listings and usage; the same hits in the same order, scores within 1e-6. */
function sameState(actual: ReadState, expected: ReadState): string | undefined {
  try {
    assert.deepEqual(actual.images, expected.images, 'listing');
    assert.deepEqual(actual.usage, expected.usage, 'usage');
    assert.deepEqual(Object.keys(actual.similar).sort(), Object.keys(expected.similar).sort());
    for (const [id, hits] of Object.entries(expected.similar)) {
      const got = actual.similar[id]!;
      assert.deepEqual(
        got.map((h) => h.imageId),
        hits.map((h) => h.imageId),
        `similar to ${id}: ids and order`,
      );
      hits.forEach((h, i) =>
        assert.ok(Math.abs(got[i]!.score - h.score) < 1e-6, `similar to ${id}: score ${i}`),
      );
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

describe('disaster suite', () => {
  it('(a) read-model schemas and vector files deleted → restart only → everything as before; 503 with Retry-After until caught up', async (t) => {
    const started = performance.now();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    removeTopicsAfter(t, () => prefix);
    const deeplens = await startDeepLens(t, {
      processes: ['write-api', 'relay', 'embedder', 'projectors', 'read-api'],
      env: { KAFKA_TOPIC_PREFIX: prefix, DEEPLENS_VECTOR_NAMESPACE: prefix.replace(/\W/g, '') },
    });
    const databaseUrl = deeplens.env['DATABASE_URL']!;
    const client = () => createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
    const admin = client();
    admin.setAuth({ token: (await admin.signIn(deeplens.admin)).accessToken });
    const tenant = await admin.createTenant({
      slug: `disaster-a-${randomBytes(3).toString('hex')}`,
      name: 'A',
      // The suite polls listings and searches while it waits: measured here is recovery, not
      // the free plan's 60 request units a minute.
      plan: 'pro',
    });
    const key = await admin.createApiKey(tenant.id, { scopes: ['images:read', 'images:write', 'search'] });
    const user = client();
    user.setAuth({ apiKey: key.secret });
    const files = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async (seed) => ({
        filename: `${seed}.jpg`,
        bytes: await makeJpeg(96, 64, seed),
        type: 'image/jpeg',
      })),
    );
    const uploaded = await user.uploadImages(files);
    const ids = uploaded.images.map((i) => i.id);
    await user.updateImage(ids[0]!, { tags: ['edited'] });
    await user.deleteImage(ids[1]!);

    // Settled: every remaining image indexed, the edit and the delete projected.
    let before: ReadState | undefined;
    let last: unknown;
    for (let i = 0; ; i++) {
      assert.ok(
        i < 600,
        `the images are indexed within 2 minutes; last read: ${String(JSON.stringify(last)).slice(0, 1500)}\n${deeplens.output
          .filter((line) => /error|warn/i.test(line))
          .slice(-15)
          .join('\n')}`,
      );
      const state = await readAll(deeplens, key.secret, tenant.id).catch((error: unknown) => {
        last = String(error);
        return undefined;
      });
      if (state) last = state;
      const images = (state?.images ?? []) as { id: string; status: string; tags: string[] }[];
      if (
        state &&
        images.length === 5 &&
        images.every((image) => image.status === 'indexed') &&
        images.find((image) => image.id === ids[0])?.tags.includes('edited') &&
        Object.values(state.similar).every((hits) => hits.length > 0)
      ) {
        before = state;
        break;
      }
      await sleep(200);
    }
    const settled = performance.now();

    // --- the disaster: the read side stopped, its schemas and vector files gone -----------------
    await deeplens.stop('projectors', { graceful: true });
    await deeplens.stop('read-api', { graceful: true });
    const schemas = (
      await query<{ nspname: string }>(
        databaseUrl,
        `select nspname from pg_namespace
         where nspname ~ '^(platform|usage|vector_status|tenant_[0-9a-f]{32})(__g[0-9]+)?$' order by 1`,
      )
    ).map((r) => r.nspname);
    assert.ok(schemas.includes('platform') && schemas.includes('usage') && schemas.includes('vector_status'));
    for (const schema of schemas)
      await query(databaseUrl, `drop schema ${pg.escapeIdentifier(schema)} cascade`);
    const vectorDir = deeplens.env['VECTOR_INDEX_DIR']!;
    for (const entry of await readdir(vectorDir))
      await rm(join(vectorDir, entry), { recursive: true, force: true });

    // --- restart, nothing else; read all along -------------------------------------------------
    const restarted = performance.now();
    const states = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const rows = await query<{ projection: string; state: string }>(
          databaseUrl,
          `select projection, state from projections.readiness`,
        ).catch(() => []);
        for (const r of rows) states.add(`${r.projection}:${r.state}`);
        await sleep(25);
      }
    })();
    deeplens.start('projectors');
    deeplens.start('read-api');
    const observed = {
      unavailable: 0,
      withoutRetryAfter: 0,
      partial: [] as string[],
      complete: 0,
      readyzDown: 0,
    };
    for (let i = 0; ; i++) {
      assert.ok(
        i < 1500,
        `the read side catches up within 5 minutes\n${deeplens.output.slice(-30).join('\n')}`,
      );
      const readyz = await fetch(`${deeplens.readUrl}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (readyz === 503) observed.readyzDown++;
      if (readyz !== 0) {
        try {
          const state = await readAll(deeplens, key.secret, tenant.id);
          const difference = sameState(state, before);
          if (difference) observed.partial.push(difference);
          else if (readyz === 200) {
            observed.complete++;
            break;
          }
        } catch (error) {
          if (!(error instanceof Unavailable)) throw error;
          observed.unavailable++;
          if (!error.retryAfter) observed.withoutRetryAfter++;
        }
      }
      await sleep(200);
    }
    const caughtUp = performance.now();
    watching = false;
    await watcher;

    assert.deepEqual(observed.partial, [], 'no read answered from a partial read model');
    assert.equal(observed.withoutRetryAfter, 0, 'every 503 says when to retry');
    assert.ok(
      states.has('metadata:replaying'),
      `the metadata projection replayed (${[...states].join(', ')})`,
    );
    assert.ok(states.has('vectors:replaying'), 'the vector projection replayed');
    // Usage, as the write side counts it, is what the read side shows again.
    const writeUsage = await query<{ images: string }>(
      databaseUrl,
      `select sum(images) as images from write.usage_stripes where tenant_id = '${tenant.id}'`,
    );
    assert.equal((before.usage as { images: number }).images, Number(writeUsage[0]!.images));
    // API keys and passwords work on after it.
    await client().signIn(deeplens.admin);
    await client().signIn({ apiKey: key.secret });
    console.log(
      `disaster (a): ${((performance.now() - started) / 1000).toFixed(1)} s in all; set-up ${((settled - started) / 1000).toFixed(1)} s; ` +
        `restart to caught up ${((caughtUp - restarted) / 1000).toFixed(1)} s; 503s seen ${observed.unavailable}, /readyz 503 ${observed.readyzDown}`,
    );
  });

  it('(d) a domain topic created beforehand with finite retention → DeepLens refuses to start, naming the topic and the setting', async (t) => {
    const started = performance.now();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    removeTopicsAfter(t, () => prefix);
    const image = topicsWithPrefix(prefix).image;
    const admin = createKafka(loadConfig(), 'disaster-test').admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [
          {
            topic: image,
            numPartitions: 2,
            configEntries: [{ name: 'retention.ms', value: String(7 * 24 * 3600 * 1000) }],
          },
        ],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const deeplens = await startDeepLens(t, {
      processes: ['write-api'],
      env: { KAFKA_TOPIC_PREFIX: prefix },
    });
    const refusing = ['relay', 'projectors'] as const;
    for (const name of refusing) deeplens.start(name);
    for (let i = 0; ; i++) {
      const exited = refusing.filter((name) =>
        deeplens.output.some((line) => line.startsWith(`[${name}] exited`)),
      );
      if (exited.length === refusing.length) break;
      assert.ok(
        i < 600,
        `the relay and the projectors stop by themselves\n${deeplens.output.slice(-20).join('\n')}`,
      );
      await sleep(200);
    }
    for (const name of refusing) {
      const lines = deeplens.output.filter((line) => line.startsWith(`[${name}]`)).join('\n');
      assert.match(lines, /exited \((?!0\))/, `${name} exits with an error`);
      assert.ok(lines.includes(image), `${name} names the topic ${image}`);
      assert.match(lines, /retention\.ms/, `${name} names the setting`);
    }
    // Nothing was started on top of the bad topic: the read side never became ready.
    await assert.rejects(waitForReady(`${deeplens.readUrl}/readyz`, 1_000));
    console.log(`disaster (d): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
});
