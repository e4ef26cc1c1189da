import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { z } from 'zod';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import type { EventMetadata } from '@deeplens/events/event';
import type { Principal } from '@deeplens/platform/auth/principal';
import { sql } from '@deeplens/platform/database';
import { tenantScope } from '@deeplens/platform/http/authenticate';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { deterministicUuid } from '@deeplens/platform/ids';
import { vectorCollectionName } from '@deeplens/platform/vectorIndex';
import { activeGeneration, generationStatus } from '@deeplens/projections/generations';
import { logEnd } from '@deeplens/projections/logEnd';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService } from '@deeplens/projections/projectionService';
import { formatBound, parseUntil } from '@deeplens/projections/rebuildBound';
import { dropSnapshot, promoteSnapshot, rebuildProjection } from '@deeplens/projections/rebuildProjection';
import {
  createProjectionDatabase,
  createTestLog,
  openActiveVectorIndex,
  produceEvents,
  waitForCaughtUp,
  type ProjectionTestDatabase,
} from '@deeplens/projections/testing/projectionTestKit';
import { moreImages, syntheticLog, testModel } from '@deeplens/projections/testing/syntheticLog';
import { createVectorQueries } from '@deeplens/projections/vectorQueries';
import { generationSelection } from './generationSelection.ts';
import type { ReadApiEnv } from './readApiEnv.ts';

const names = ['metadata', 'usage', 'vectors'];
const seed = 'pit';
const dim = 8;
const tenantId = deterministicUuid(seed, 'tenant', '0');
const probe = Float32Array.from({ length: dim }, (_, i) => Math.cos(i));

/**
 * The read side's queries behind HTTP as the read API mounts them: a principal (what
 * `authenticate` sets; here named by the test), then the generation selection, then reads.
 */
function readApp(db: ProjectionTestDatabase, vectors: ReturnType<typeof createVectorQueries>) {
  const metadata = createMetadataQueries(db.pool);
  const app = new Hono<ReadApiEnv>();
  app.onError(problemErrorHandler(db.log));
  app.notFound(notFoundHandler());
  app.use('/v1/*', async (c, next) => {
    const role = c.req.header('x-test-role') as Principal['role'];
    c.set('principal', {
      actor: `user:${role}`,
      userId: role,
      tenantId: role === 'platform_admin' ? null : tenantId,
      role,
      scopes: ['images:read', 'search', ...(role === 'platform_admin' ? ['platform:admin'] : [])],
    });
    await next();
  });
  app.use('/v1/*', generationSelection(db.pool));
  app.get('/v1/images', async (c) => {
    const page = await metadata.listImages(tenantScope(c), { limit: 500 });
    return c.json(page.items.map((i) => ({ id: i.imageId, tags: i.tags, status: i.status })));
  });
  app.get('/v1/tenants/:id/usage', async (c) => {
    const usage = await metadata.getUsage(tenantScope(c, c.req.param('id')));
    return c.json({ images: usage?.images, bytes: usage?.bytes });
  });
  app.get('/v1/search', async (c) => {
    const hits = await vectors.search(tenantScope(c), testModel, probe, { k: 10 });
    return c.json(hits.map((h) => ({ id: h.id, score: h.score })));
  });
  return app;
}

type State = { images: unknown; usage: unknown; search: { id: string; score: number }[] };

async function readState(app: ReturnType<typeof readApp>, headers: Record<string, string>): Promise<State> {
  const get = async (path: string) => {
    const response = await app.request(path, { headers });
    assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
    return response.json();
  };
  return {
    images: await get('/v1/images'),
    usage: await get(`/v1/tenants/${tenantId}/usage`),
    search: (await get('/v1/search')) as State['search'],
  };
}

/**
 * Until the read side's vector follower (which picks the writer's commits up on its own timer)
 * answers the probe as a follower opened now does: the projection's checkpoint says caught up
 * before the follower has read the last commit.
 */
async function vectorsFollowed(db: ProjectionTestDatabase, app: ReturnType<typeof readApp>) {
  const fresh = await openActiveVectorIndex(db);
  try {
    const collection = vectorCollectionName(tenantId, testModel.modelId, testModel.modelVersion);
    const expected = (await fresh.search(collection, probe, { k: 10 })).map((h) => h.id);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await app.request('/v1/search', { headers: { 'x-test-role': 'tenant_admin' } });
      const seen = ((await response.json()) as { id: string }[]).map((h) => h.id);
      if (JSON.stringify(seen) === JSON.stringify(expected)) return;
      assert.ok(Date.now() < deadline, 'the read side follows the vector writer within 30 s');
      await sleep(50);
    }
  } finally {
    await fresh.close();
  }
}

function assertSameState(actual: State, expected: State, what: string) {
  assert.deepEqual(actual.images, expected.images, `${what}: listing`);
  assert.deepEqual(actual.usage, expected.usage, `${what}: usage`);
  assert.deepEqual(
    actual.search.map((h) => h.id),
    expected.search.map((h) => h.id),
    `${what}: search ids and order`,
  );
  actual.search.forEach((h, i) =>
    assert.ok(Math.abs(h.score - expected.search[i]!.score) < 1e-6, `${what}: score of hit ${i}`),
  );
}

/** A tag edit and a delete of two of the `moreImages` images (versions 1 and 2 exist). */
function editAndDelete(): DomainEvent[] {
  const meta = (imageId: string, version: number): EventMetadata => ({
    eventId: deterministicUuid(seed, 'edit', imageId, String(version)),
    aggregateId: imageId,
    aggregateVersion: version,
    tenantId,
    occurredAt: Date.UTC(2025, 7, 1) + version,
    correlationId: imageId,
    causationId: null,
    actor: 'system:test',
  });
  const edited = deterministicUuid(seed, 'more', tenantId, '0');
  const deleted = deterministicUuid(seed, 'more', tenantId, '1');
  const sha256 = deterministicUuid(deleted, 'sha').replaceAll('-', '').repeat(2);
  return [
    {
      type: 'ImageMetadataUpdated',
      data: { tenantId, imageId: edited, tags: ['more', 'edited-after-the-bound'], attributes: {} },
      metadata: meta(edited, 3),
    },
    {
      type: 'ImageDeleted',
      data: { tenantId, imageId: deleted, objectKey: `sha256/${sha256}`, sha256, bytes: 5001 },
      metadata: meta(deleted, 3),
    },
  ];
}

describe('point-in-time rebuild read through DeepLens-Generation', () => {
  it('builds generations as of a bound beside the live ones; admins read them, promote switches, drop removes', async (t) => {
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(log, syntheticLog({ seed, tenants: 1, imagesPerTenant: 40, dim }));
    await produceEvents(log, moreImages(seed, tenantId, 0, 10, dim));
    const runtime = {
      kafka: log.kafka,
      serde: log.serde,
      deps: db.deps,
      databaseUrl: db.url,
      topics: log.list,
      groupPrefix: log.groupPrefix,
      log: db.log,
    };
    const live = names.map((name) =>
      startProjectionService(projectionDefinitions[name]!, { ...runtime, pollIntervalMs: 200 }),
    );
    t.after(() => Promise.all(live.map((s) => s.stop())));
    await waitForCaughtUp(db.pool, log, names);
    const vectors = createVectorQueries({
      pool: db.pool,
      openIndex: db.deps.openVectorIndex!,
      pollIntervalMs: 100,
    });
    t.after(() => vectors.close());
    const app = readApp(db, vectors);
    const asTenant = { 'x-test-role': 'tenant_admin' };

    // The bound, both ways: the log end now (offsets) and the time now.
    const bound = formatBound(await logEnd(log.kafka, log.list));
    const boundTime = new Date();
    const atBound = await readState(app, asTenant);
    await sleep(50);
    await produceEvents(log, [...moreImages(seed, tenantId, 10, 5, dim), ...editAndDelete()]);
    await waitForCaughtUp(db.pool, log, names);
    await vectorsFollowed(db, app);
    const now = await readState(app, asTenant);
    assert.notDeepEqual(now.images, atBound.images, 'the log moved on after the bound');
    assert.notDeepEqual(now.usage, atBound.usage);

    const activeBefore = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await activeGeneration(db.pool, n)] as const)),
    );
    const snapshots: Record<string, number> = {};
    for (const name of names) {
      // The usage projection is bounded by time, the others by offsets.
      const until = parseUntil(name === 'usage' ? boundTime.toISOString() : bound);
      const result = await rebuildProjection(projectionDefinitions[name]!, { ...runtime, until });
      assert.ok(result.until, `${name} was built as of a bound`);
      assert.equal(result.previous, undefined, `${name}: nothing was switched`);
      assert.equal(await generationStatus(db.pool, name, result.generation), 'snapshot');
      assert.equal(
        await activeGeneration(db.pool, name),
        activeBefore[name],
        `${name}: the live generation stays`,
      );
      snapshots[name] = result.generation;
    }
    assert.equal(
      formatBound(
        await db.pool.oneFirst(sql.type(z.object({ b: z.record(z.string(), z.number()) }))`
          select until_bound->'ends' as b from projections.generations
          where projection = 'usage' and generation = ${snapshots['usage']!}`),
      ),
      bound,
      'the time bound resolved to the same offsets as the offset bound',
    );

    const header = `metadata:${snapshots['metadata']}, usage:${snapshots['usage']}, vectors:${snapshots['vectors']}`;
    const asAdminAtBound = {
      'x-test-role': 'platform_admin',
      'DeepLens-Generation': header,
      'DeepLens-Tenant': tenantId,
    };
    assertSameState(await readState(app, asAdminAtBound), atBound, 'the snapshot generations');
    assertSameState(await readState(app, asTenant), now, 'the live generations');

    // Only a platform admin may name a generation; an unknown one is 404; a bad header 400.
    const refused = await app.request('/v1/images', {
      headers: { ...asTenant, 'DeepLens-Generation': header },
    });
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    for (const [value, status] of [
      ['metadata:999', 404],
      ['999', 404],
      ['metadata:x', 400],
      ['history:1', 400],
      ['metadata:1, metadata:2', 400],
    ] as const) {
      const response = await app.request('/v1/images', {
        headers: {
          'x-test-role': 'platform_admin',
          'DeepLens-Generation': value,
          'DeepLens-Tenant': tenantId,
        },
      });
      assert.equal(response.status, status, `DeepLens-Generation: ${value}`);
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const notATenant = await app.request('/v1/images', {
      headers: { 'x-test-role': 'platform_admin', 'DeepLens-Generation': header, 'DeepLens-Tenant': 'acme' },
    });
    assert.equal(notATenant.status, 400);
    assert.match(notATenant.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(
      ((await notATenant.json()) as { detail: string }).detail,
      /DeepLens-Tenant takes a tenant id/,
    );

    // Promote: the snapshot catches up with the log and becomes the live generation.
    const promoted = await promoteSnapshot(projectionDefinitions['metadata']!, snapshots['metadata']!, {
      ...runtime,
      dropAfterMs: 300,
    });
    assert.equal(promoted.previous, activeBefore['metadata']);
    assert.equal(await activeGeneration(db.pool, 'metadata'), snapshots['metadata']);
    assert.equal(
      await generationStatus(db.pool, 'metadata', activeBefore['metadata']!),
      undefined,
      'the old one is dropped',
    );
    await waitForCaughtUp(db.pool, log, names);
    assertSameState(await readState(app, asTenant), now, 'after the promotion');

    // Drop: the snapshot's storage goes and it can no longer be named.
    for (const name of ['usage', 'vectors']) {
      await dropSnapshot(projectionDefinitions[name]!, snapshots[name]!, runtime);
      assert.equal(await generationStatus(db.pool, name, snapshots[name]!), undefined);
      const gone = await app.request('/v1/images', {
        headers: {
          'x-test-role': 'platform_admin',
          'DeepLens-Generation': `${name}:${snapshots[name]}`,
          'DeepLens-Tenant': tenantId,
        },
      });
      assert.equal(gone.status, 404, `${name} generation ${snapshots[name]} was dropped`);
    }
    const leftovers = await db.pool.anyFirst(sql.type(z.object({ nspname: z.string() }))`
      select nspname from pg_namespace where nspname ~ '__g[0-9]+$'`);
    assert.deepEqual(leftovers, [], 'no snapshot or retired schema is left');
    assertSameState(await readState(app, asTenant), now, 'the live generations after the drops');
  });
});
