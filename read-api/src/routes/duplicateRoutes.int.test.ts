/**
 * `/v1/duplicates` on real read models: the projections fed by a Kafka log (ImageUploaded +
 * ImageEmbedded with vectors and the local features of real photos), the route over the metadata
 * and vector queries the read API uses.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import sharp from 'sharp';
import { decodeForSearch } from '@deeplens/embedder/decodeUpload';
import { decodeLocalFeatures, extractLocalFeatures, verifyGeometry } from '@deeplens/embedder/localFeatures';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import type { EventMetadata } from '@deeplens/events/event';
import type { Principal } from '@deeplens/platform/auth/principal';
import { assertAnswerDocumented } from '@deeplens/platform/http/openApiRegistry';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { projectionDefinitions } from '@deeplens/projections/projectionRuntime';
import { startProjectionService } from '@deeplens/projections/projectionService';
import {
  createProjectionDatabase,
  createTestLog,
  produceEvents,
  waitForCaughtUp,
} from '@deeplens/projections/testing/projectionTestKit';
import { testModel } from '@deeplens/projections/testing/syntheticLog';
import { createVectorQueries } from '@deeplens/projections/vectorQueries';
import { generationSelection } from '../generationSelection.ts';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import type { ReadApiEnv } from '../readApiEnv.ts';
import { browseContract, browseRoutes } from './browseRoutes.ts';
import { duplicateContract, duplicateRoutes } from './duplicateRoutes.ts';
import { searchContract, searchRoutes } from './searchRoutes.ts';

const seed = 'duplicates';
const tenantId = deterministicUuid(seed, 'tenant');
const dim = 8;
const photo = (name: string) =>
  readFile(join(import.meta.dirname, '..', '..', '..', 'embedder', 'fixtures', 'photos', name));

async function featuresOf(bytes: Uint8Array): Promise<Buffer> {
  const { grey } = await decodeForSearch(bytes, { width: 224, height: 224, resize: 'fill' });
  assert.ok(grey);
  return extractLocalFeatures(grey.data, grey.width, grey.height);
}

/** A unit vector in dimensions `at`, `at + 1` whose cosine with (1, 0) there is `cosine`. */
function vector(at: number, cosine: number): Float32Array {
  const v = new Float32Array(dim);
  v[at] = cosine;
  v[at + 1] = Math.sqrt(1 - cosine * cosine);
  return v;
}

function imageEvents(
  name: string,
  v: Float32Array,
  localFeatures: Uint8Array | null,
  index: number,
): DomainEvent[] {
  const imageId = deterministicUuid(seed, name);
  const sha256 = deterministicUuid(imageId, 'sha').replaceAll('-', '').repeat(2);
  const m = (version: number): EventMetadata => ({
    eventId: deterministicUuid(seed, imageId, String(version)),
    aggregateId: imageId,
    aggregateVersion: version,
    tenantId,
    occurredAt: Date.UTC(2026, 0, 1) + index * 10 + version,
    correlationId: imageId,
    causationId: null,
    actor: 'system:test',
  });
  return [
    {
      type: 'ImageUploaded',
      data: {
        tenantId,
        imageId,
        objectKey: `sha256/${sha256}`,
        sha256,
        mime: 'image/jpeg',
        bytes: 5000,
        width: 10,
        height: 10,
        filename: `${name}.jpg`,
        tags: [],
        attributes: {},
        source: 'intake',
      },
      metadata: m(1),
    },
    {
      type: 'ImageEmbedded',
      data: { tenantId, imageId, ...testModel, dim, vector: v, localFeatures },
      metadata: m(2),
    },
  ];
}

describe('/v1/duplicates', () => {
  it('groups verified pairs and very close descriptors by default; match=descriptor groups by the threshold alone; bad queries are 400', async (t) => {
    // The pictures: a photo and an off-centre crop of it (verifies), two different photos.
    const coffee = await photo('coffee.jpg');
    const crop = await sharp(coffee)
      .metadata()
      .then(({ width, height }) =>
        sharp(coffee)
          .extract({
            left: Math.round(width * 0.3),
            top: Math.round(height * 0.25),
            width: Math.round(width * 0.6),
            height: Math.round(height * 0.6),
          })
          .jpeg({ quality: 90 })
          .toBuffer(),
      );
    const coffeeF = await featuresOf(coffee);
    const cropF = await featuresOf(crop);
    const astronautF = await featuresOf(await photo('astronaut.jpg'));
    const brickF = await featuresOf(await photo('brick.jpg'));
    assert.ok(
      verifyGeometry(decodeLocalFeatures(coffeeF)!, decodeLocalFeatures(cropF)!) >= 15,
      'the crop verifies',
    );
    assert.ok(
      verifyGeometry(decodeLocalFeatures(astronautF)!, decodeLocalFeatures(brickF)!) < 15,
      'two photos do not',
    );

    const events = [
      // Verified, descriptor only 0.82: grouped by verification.
      ...imageEvents('coffee', vector(0, 1), coffeeF, 0),
      ...imageEvents('coffee-crop', vector(0, 0.82), cropF, 1),
      // Unrelated, descriptor 0.88 (below the 0.95 default of an unmeasured space): not grouped.
      ...imageEvents('astronaut', vector(2, 1), astronautF, 2),
      ...imageEvents('brick', vector(2, 0.88), brickF, 3),
      // No features (a mirrored copy would not verify), descriptor 0.97: grouped by the descriptor.
      ...imageEvents('mirror-a', vector(4, 1), null, 4),
      ...imageEvents('mirror-b', vector(4, 0.97), null, 5),
    ];
    const db = await createProjectionDatabase(t);
    const log = await createTestLog(t);
    await produceEvents(log, events);
    const names = ['metadata', 'vectors'];
    const services = names.map((name) =>
      startProjectionService(projectionDefinitions[name]!, {
        kafka: log.kafka,
        serde: log.serde,
        deps: db.deps,
        databaseUrl: db.url,
        topics: log.list,
        groupPrefix: log.groupPrefix,
        log: db.log,
        pollIntervalMs: 200,
      }),
    );
    t.after(() => Promise.all(services.map((s) => s.stop())));
    await waitForCaughtUp(db.pool, log, names);
    const vectors = createVectorQueries({
      pool: db.pool,
      openIndex: db.deps.openVectorIndex!,
      pollIntervalMs: 100,
    });
    t.after(() => vectors.close());
    const deps = {
      metadata: createMetadataQueries(db.pool),
      vectors,
      defaultModel: testModel,
    } as Pick<ReadApiDependencies, 'metadata' | 'vectors' | 'defaultModel'> as ReadApiDependencies;

    const app = new Hono<ReadApiEnv>();
    app.onError(problemErrorHandler(db.log));
    app.notFound(notFoundHandler());
    app.use('/v1/*', async (c, next) => {
      const principal: Principal = {
        actor: 'user:test',
        userId: 'test',
        tenantId,
        role: 'tenant_admin',
        scopes: ['images:read', 'search'],
      };
      c.set('principal', principal);
      await next();
    });
    app.use('/v1/*', generationSelection(db.pool));
    app.route('/', duplicateRoutes(deps));
    // The listing and the searches too, to check answers with images in them against the document.
    app.route('/', browseRoutes(deps));
    app.route('/', searchRoutes(deps));

    type Answer = {
      match: string;
      threshold: number;
      scanned: number;
      groups: { images: { filename: string }[] }[];
    };
    const get = async (query: string): Promise<Answer> => {
      const response = await app.request(`/v1/duplicates${query}`);
      assert.equal(response.status, 200, await response.clone().text());
      return (await response.json()) as Answer;
    };
    const groupsOf = (a: Answer) =>
      a.groups
        .map((g) =>
          g.images
            .map((i) => i.filename)
            .sort()
            .join(' + '),
        )
        .sort();

    const byDefault = await get('');
    assert.equal(byDefault.match, 'verified');
    assert.equal(byDefault.threshold, 0.95, "an unmeasured space's threshold");
    assert.equal(byDefault.scanned, 6);
    assert.deepEqual(groupsOf(byDefault), ['coffee-crop.jpg + coffee.jpg', 'mirror-a.jpg + mirror-b.jpg']);

    const descriptorOnly = await get('?match=descriptor');
    assert.deepEqual(
      groupsOf(descriptorOnly),
      ['mirror-a.jpg + mirror-b.jpg'],
      'the crop is 0.82, under 0.95',
    );
    const descriptorLow = await get('?match=descriptor&threshold=0.8');
    assert.deepEqual(groupsOf(descriptorLow), [
      'astronaut.jpg + brick.jpg',
      'coffee-crop.jpg + coffee.jpg',
      'mirror-a.jpg + mirror-b.jpg',
    ]);
    // The threshold applies to the descriptor arm of `verified` too; the unrelated pair never verifies.
    assert.deepEqual(groupsOf(await get('?threshold=0.99')), ['coffee-crop.jpg + coffee.jpg']);
    assert.deepEqual(groupsOf(await get('?threshold=0.87')), [
      'astronaut.jpg + brick.jpg',
      'coffee-crop.jpg + coffee.jpg',
      'mirror-a.jpg + mirror-b.jpg',
    ]);

    for (const [query, field] of [
      ['?match=pixels', 'match'],
      ['?threshold=2', 'threshold'],
      ['?threshold=abc', 'threshold'],
      ['?limit=1', 'limit'],
      ['?colour=red', ''],
    ] as const) {
      const response = await app.request(`/v1/duplicates${query}`);
      assert.equal(response.status, 400, query);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const problem = (await response.json()) as { errors?: { path: string }[] };
      assert.ok(
        problem.errors?.some((e) => e.path === field),
        `${query}: ${JSON.stringify(problem)}`,
      );
    }

    // Every answer with images in it is what the generated document declares, member for member.
    assertAnswerDocumented(duplicateContract.duplicates, 200, byDefault);
    const answerOf = async (path: string, init?: RequestInit) => {
      const response = await app.request(path, init);
      assert.equal(response.status, 200, await response.clone().text());
      return (await response.json()) as { items?: { id: string }[]; hits?: unknown[] };
    };
    const listing = await answerOf('/v1/images?limit=10');
    assertAnswerDocumented(browseContract.listImages, 200, listing);
    const imageId = listing.items?.[0]?.id ?? '';
    assertAnswerDocumented(browseContract.getImage, 200, await answerOf(`/v1/images/${imageId}`));
    const similar = await answerOf(`/v1/images/${imageId}/similar?k=5`);
    assert.ok((similar.hits ?? []).length > 0, 'look-alikes to check');
    assertAnswerDocumented(searchContract.similar, 200, similar);
    const search = await answerOf('/v1/search', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ imageId, k: 5 }),
    });
    assertAnswerDocumented(searchContract.search, 200, search);
  });
});
