/**
 * The disaster suite of issue 13, each case on a private DeepLens (its own database, topics,
 * vector, object and secret folders, processes started from their `main.ts`) against the stack:
 *   (a) read-model schemas and vector files deleted → restart, nothing else → all as before;
 *   (c) PostgreSQL's data directory wiped (on a private stack: its write model, read models,
 *       sessions all gone; the registry keeps its state in Kafka) → restart PostgreSQL (a fresh
 *       cluster) → `recover` → restart DeepLens → all as before;
 *   (d) a domain topic created beforehand with finite retention → DeepLens refuses to start.
 * "All as before": every listing, usage, look-alikes (ids, order, scores to 1e-6) and image
 * history equal to what was read before the disaster; the admin's and a user's passwords and the
 * API key sign in again. Until caught up, /readyz is 503 and every read 503 with Retry-After.
 * Case (b), the deeplens database dropped → recover, is commands/src/recoverWriteModel.e2e.test.ts.
 * Each case logs how long it took (`disaster (x): … s`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { DeepLensApiError } from '@deeplens/client/clientErrors';
import { createDeepLensClient } from '@deeplens/client/deepLensClient';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { loadConfig } from '@deeplens/platform/config';
import { createKafka, ensureTopics } from '@deeplens/platform/kafka';
import {
  startDeepLens,
  waitForReady,
  type RunningDeepLens,
} from '@deeplens/platform/testing/deeplensProcesses';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { startPrivateStack } from '@deeplens/platform/testing/privateStack';
import { postgresHome } from '@deeplens/stack/services/postgresService';
import { createStackContext } from '@deeplens/stack/stackContext';

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
type ReadState = {
  images: unknown[];
  usage: unknown;
  similar: Record<string, Hit[]>;
  history: Record<string, { type: string }[]>;
};

/**
 * What a tenant reads: every listing page, usage, look-alikes of each image and the history of
 * each image it ever uploaded (deleted ones included). Throws `Unavailable` on a 503 (with its
 * Retry-After), any other failure as it is.
 */
class Unavailable extends Error {
  constructor(readonly retryAfter: string | null) {
    super('503');
  }
}

async function readAll(
  deeplens: RunningDeepLens,
  apiKey: string,
  tenantId: string,
  uploaded: readonly string[],
): Promise<ReadState> {
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
  const history: Record<string, { type: string }[]> = {};
  for (const id of uploaded) {
    history[id] = (await get(`/v1/images/${id}/history?limit=500`))['items'] as { type: string }[];
  }
  return { images, usage: { images: usage['images'], bytes: usage['bytes'] }, similar, history };
}

/** Equal listings, usage and histories; the same hits in the same order, scores within 1e-6. */
function sameState(actual: ReadState, expected: ReadState): string | undefined {
  try {
    assert.deepEqual(actual.images, expected.images, 'listing');
    assert.deepEqual(actual.usage, expected.usage, 'usage');
    assert.deepEqual(actual.history, expected.history, 'image histories');
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

const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;

type Scenario = {
  tenant: { id: string; slug: string };
  key: string;
  user: { email: string; password: string };
  uploaded: string[];
  before: ReadState;
};

/**
 * A tenant with a user (a password) and an API key; six uploads, one edited, one deleted; waits
 * until the log is all published and every read model has settled, and reads it all.
 */
async function settledScenario(deeplens: RunningDeepLens, slug: string): Promise<Scenario> {
  const databaseUrl = deeplens.env['DATABASE_URL']!;
  const client = () => createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
  const admin = client();
  admin.setAuth({ token: (await admin.signIn(deeplens.admin)).accessToken });
  const tenant = await admin.createTenant({
    slug: `${slug}-${randomBytes(3).toString('hex')}`,
    name: slug,
    // The suite polls listings and searches while it waits: measured here is recovery, not
    // the free plan's 60 request units a minute.
    plan: 'pro',
  });
  const user = { email: `owner@${tenant.slug}.test`, password: `${tenant.slug} owner's long password` };
  await admin.createUser({ ...user, role: 'tenant_admin', tenantId: tenant.id });
  const key = await admin.createApiKey(tenant.id, { scopes: ['images:read', 'images:write', 'search'] });
  const uploader = client();
  uploader.setAuth({ apiKey: key.secret });
  const files = await Promise.all(
    [1, 2, 3, 4, 5, 6].map(async (seed) => ({
      filename: `${seed}.jpg`,
      bytes: await makeJpeg(96, 64, seed),
      type: 'image/jpeg',
    })),
  );
  const uploaded = (await uploader.uploadImages(files)).images.map((i) => i.id);
  await uploader.updateImage(uploaded[0]!, { tags: ['edited'] });
  await uploader.deleteImage(uploaded[1]!);

  // Settled: the outbox published, every remaining image indexed, the edit and the delete
  // projected, and two reads a second apart equal (nothing still on its way).
  let previous: ReadState | undefined;
  let last: unknown;
  for (let i = 0; ; i++) {
    assert.ok(
      i < 240,
      `the images are indexed within 4 minutes; last read: ${String(JSON.stringify(last)).slice(0, 1500)}\n${deeplens.output
        .filter((line) => /error|warn/i.test(line))
        .slice(-15)
        .join('\n')}`,
    );
    const unpublished = await query<{ n: string }>(
      databaseUrl,
      'select count(*) as n from write.outbox where published_at is null',
    );
    const state =
      Number(unpublished[0]!.n) > 0
        ? undefined
        : await readAll(deeplens, key.secret, tenant.id, uploaded).catch((error: unknown) => {
            last = String(error);
            return undefined;
          });
    if (state) last = state;
    const images = (state?.images ?? []) as { id: string; status: string; tags: string[] }[];
    const types = (id: string) => (state?.history[id] ?? []).map((e) => e.type);
    const whole =
      state &&
      images.length === 5 &&
      images.every((image) => image.status === 'indexed') &&
      images.find((image) => image.id === uploaded[0])?.tags.includes('edited') &&
      Object.values(state.similar).every((hits) => hits.length > 0) &&
      types(uploaded[0]!).includes('ImageMetadataUpdated') &&
      types(uploaded[1]!).includes('ImageDeleted');
    if (whole && previous && sameState(state, previous) === undefined) {
      return { tenant, key: key.secret, user, uploaded, before: state };
    }
    previous = whole ? state : undefined;
    await sleep(whole ? 1000 : 500);
  }
}

/**
 * Restarts what `restart` names and reads all along until the read side is ready and answers
 * what it answered before: no read may be partial meanwhile, every 503 says when to retry.
 */
async function readUntilCaughtUp(
  deeplens: RunningDeepLens,
  scenario: Scenario,
  restart: () => Promise<void>,
): Promise<{ states: Set<string>; unavailable: number; readyzDown: number }> {
  const databaseUrl = deeplens.env['DATABASE_URL']!;
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
  const observed = { unavailable: 0, withoutRetryAfter: 0, partial: [] as string[], readyzDown: 0 };
  const deadline = Date.now() + 10 * 60_000;
  const reading = (async () => {
    while (watching) {
      assert.ok(
        Date.now() < deadline,
        `the read side catches up within 10 minutes\n${deeplens.output.slice(-30).join('\n')}`,
      );
      const readyz = await fetch(`${deeplens.readUrl}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (readyz === 503) observed.readyzDown++;
      if (readyz !== 0) {
        try {
          const state = await readAll(deeplens, scenario.key, scenario.tenant.id, scenario.uploaded);
          const difference = sameState(state, scenario.before);
          if (difference) observed.partial.push(difference);
          else if (readyz === 200) break;
        } catch (error) {
          if (!(error instanceof Unavailable)) throw error;
          observed.unavailable++;
          if (!error.retryAfter) observed.withoutRetryAfter++;
        }
      }
      await sleep(200);
    }
  })();
  try {
    await restart().catch((error: unknown) => {
      watching = false;
      throw error;
    });
    await reading;
  } finally {
    watching = false;
    await watcher;
  }
  assert.deepEqual(observed.partial, [], 'no read answered from a partial read model');
  assert.equal(observed.withoutRetryAfter, 0, 'every 503 says when to retry');
  return { states, unavailable: observed.unavailable, readyzDown: observed.readyzDown };
}

/** The write model as before: passwords and the API key sign in, the tenant's slug is taken. */
async function writeModelWorks(deeplens: RunningDeepLens, scenario: Scenario): Promise<void> {
  const client = () => createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
  const admin = client();
  admin.setAuth({ token: (await admin.signIn(deeplens.admin)).accessToken });
  await client().signIn(scenario.user);
  await client().signIn({ apiKey: scenario.key });
  await assert.rejects(
    admin.createTenant({ slug: scenario.tenant.slug, name: 'again' }),
    (error: unknown) => error instanceof DeepLensApiError && error.status === 409,
    'the old tenant holds its slug',
  );
  // Usage, as the write side counts it, is what the read side shows.
  const writeUsage = await query<{ images: string }>(
    deeplens.env['DATABASE_URL']!,
    `select sum(images) as images from write.usage_stripes where tenant_id = '${scenario.tenant.id}'`,
  );
  assert.equal((scenario.before.usage as { images: number }).images, Number(writeUsage[0]!.images));
}

/** Runs the operator's recovery entry with DeepLens's environment; its exit code and output. */
function runRecover(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'commands/src/recoverMain.ts', ...args], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const readSide = ['projectors', 'read-api'] as const;
const everyProcess = ['write-api', 'relay', 'embedder', 'projectors', 'read-api'] as const;

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
    const scenario = await settledScenario(deeplens, 'disaster-a');
    const settled = performance.now();

    // --- the disaster: the read side stopped, its schemas and vector files gone -----------------
    for (const name of readSide) await deeplens.stop(name, { graceful: true });
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
    const seen = await readUntilCaughtUp(deeplens, scenario, async () => {
      for (const name of readSide) deeplens.start(name);
    });
    const caughtUp = performance.now();
    assert.ok(
      seen.states.has('metadata:replaying'),
      `the metadata projection replayed (${[...seen.states].join(', ')})`,
    );
    assert.ok(seen.states.has('vectors:replaying'), 'the vector projection replayed');
    await writeModelWorks(deeplens, scenario);
    console.log(
      `disaster (a): ${seconds(started, performance.now())} in all; set-up ${seconds(started, settled)}; ` +
        `restart to caught up ${seconds(restarted, caughtUp)}; 503s seen ${seen.unavailable}, /readyz 503 ${seen.readyzDown}`,
    );
  });

  it("(c) PostgreSQL's data directory wiped → a fresh cluster → recover → restart DeepLens → everything as before; 503 with Retry-After until caught up", async (t) => {
    const started = performance.now();
    const stack = await startPrivateStack(t);
    const stackUp = performance.now();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    const deeplens = await startDeepLens(t, {
      stackEnv: stack.env,
      processes: [...everyProcess],
      env: { KAFKA_TOPIC_PREFIX: prefix, DEEPLENS_VECTOR_NAMESPACE: prefix.replace(/\W/g, '') },
    });
    const scenario = await settledScenario(deeplens, 'disaster-c');
    const settled = performance.now();

    // --- the disaster: DeepLens stopped, PostgreSQL's whole data directory gone -----------------
    for (const name of everyProcess) await deeplens.stop(name, { graceful: true });
    await stack.stop('schema-registry');
    await stack.stop('postgres');
    const home = postgresHome(createStackContext({ ...process.env, ...stack.env }));
    await rm(join(home.data, 'postgres'), { recursive: true, force: true });
    const wiped = performance.now();
    // A fresh cluster (initdb), and the registry on it, its schemas read back from Kafka.
    await stack.start('postgres');
    await stack.start('schema-registry');
    const stackBack = performance.now();
    const databaseUrl = deeplens.env['DATABASE_URL']!;
    await assert.rejects(query(databaseUrl, 'select 1'), 'the DeepLens database is gone with the cluster');

    // --- the operator's commands: recover, verify, start DeepLens --------------------------------
    const recovered = await runRecover(deeplens.env, []);
    assert.equal(recovered.code, 0, recovered.output);
    assert.match(recovered.output, /Recovered the write model from \d+ records/);
    const recoveredAt = performance.now();
    const verified = await runRecover(deeplens.env, ['--verify']);
    assert.equal(verified.code, 0, verified.output);
    assert.match(verified.output, /The write model matches the log/);
    const verifiedAt = performance.now();

    let readApiFirstAnswer: number | undefined;
    const seen = await readUntilCaughtUp(deeplens, scenario, async () => {
      // The write API first: it applies the migrations the others share. Then the read API,
      // alone: no projector has reported on this new cluster, so it must say it is not ready.
      deeplens.start('write-api');
      await waitForReady(`${deeplens.writeUrl}/readyz`, 90_000, deeplens.output);
      deeplens.start('read-api');
      for (const deadline = Date.now() + 90_000; readApiFirstAnswer === undefined;) {
        assert.ok(Date.now() < deadline, `the read API answers\n${deeplens.output.slice(-20).join('\n')}`);
        readApiFirstAnswer = await fetch(`${deeplens.readUrl}/readyz`).then(
          (r) => r.status,
          () => undefined,
        );
        await sleep(100);
      }
      for (const name of ['relay', 'embedder', 'projectors'] as const) deeplens.start(name);
    });
    const caughtUp = performance.now();
    assert.equal(readApiFirstAnswer, 503, 'no projector has reported on the new cluster: not ready');
    for (const projection of ['metadata', 'usage', 'history'])
      assert.ok(
        seen.states.has(`${projection}:replaying`),
        `${projection} replayed the log (${[...seen.states].join(', ')})`,
      );
    assert.ok(seen.states.has('vectors:caught-up'), `vectors reported (${[...seen.states].join(', ')})`);
    await writeModelWorks(deeplens, scenario);
    console.log(
      `disaster (c): ${seconds(started, performance.now())} in all; private stack up ${seconds(started, stackUp)}; ` +
        `set-up ${seconds(stackUp, settled)}; stop and wipe ${seconds(settled, wiped)}; fresh PostgreSQL and registry ${seconds(wiped, stackBack)}; ` +
        `recover ${seconds(stackBack, recoveredAt)}; verify ${seconds(recoveredAt, verifiedAt)}; ` +
        `restart to caught up ${seconds(verifiedAt, caughtUp)}; 503s seen ${seen.unavailable}, /readyz 503 ${seen.readyzDown}`,
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
      await ensureTopics(admin, [
        {
          topic: image,
          partitions: 2,
          configEntries: [{ name: 'retention.ms', value: String(7 * 24 * 3600 * 1000) }],
        },
      ]);
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
