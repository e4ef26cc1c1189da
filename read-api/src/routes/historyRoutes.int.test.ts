import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { imageAggregate } from '@deeplens/commands/writeModelRules';
import { createEventSerde, registrySchemaStore } from '@deeplens/events/eventSerde';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { assertAnswerDocumented } from '@deeplens/platform/http/openApiRegistry';
import { createKafka } from '@deeplens/platform/kafka';
import { memoryDataKeyStore } from '@deeplens/platform/dataKeys';
import { createLogger } from '@deeplens/platform/logger';
import { createSchemaRegistry } from '@deeplens/platform/schemaRegistry';
import { makePng } from '@deeplens/platform/testing/hostileImages';
import { createTestTopics, uniqueName } from '@deeplens/platform/testing/testTopics';
import { randomUUID } from '@deeplens/platform/ids';
import { createImageHistoryQueries } from '@deeplens/projections/imageHistoryQueries';
import { imageHistoryProjection } from '@deeplens/projections/imageHistoryProjection';
import { startProjectionService } from '@deeplens/projections/projectionService';
import { rebuildProjection } from '@deeplens/projections/rebuildProjection';
import { createOutboxRelay } from '@deeplens/commands/outbox/outboxRelay';
import {
  adminEmail,
  adminPassword,
  startWriteApi,
  type WriteApiHarness,
} from '@deeplens/write-api/testing/writeApiHarness';
import { createReadApi, readCostOf } from '../readApi.ts';
import { startReadApi } from '../testing/readApiHarness.ts';
import { historyContract } from './historyRoutes.ts';

type HistoryItem = {
  version: number;
  type: string;
  occurredAt: string;
  actor: { kind: string; id: string | null };
  correlationId: string;
  changes: Record<string, { before: unknown; after: unknown }>;
  details: Record<string, unknown>;
  logPosition: string;
};
type HistoryPage = { imageId: string; items: HistoryItem[]; nextCursor: string | null };

const password = 'a long enough password';

async function tenantWithOwner(write: WriteApiHarness, adminToken: string, slug: string) {
  const created = await write.call('POST', '/v1/tenants', {
    token: adminToken,
    json: { slug, name: slug, plan: 'pro' },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id: tenantId } = (await created.json()) as { id: string };
  const email = `owner@${slug}.test`;
  const user = await write.call('POST', '/v1/users', {
    token: adminToken,
    json: { email, password, role: 'tenant_admin', tenantId },
  });
  assert.equal(user.status, 201, await user.clone().text());
  return { tenantId, token: (await write.signIn(email, password)).access_token };
}

describe('GET /v1/images/{id}/history (write API → outbox → Kafka → history projection → read API)', () => {
  it('shows every event of an image in log order with what changed, to its tenant only, the same after a rebuild', async (t) => {
    const write = await startWriteApi(t);
    const read = await startReadApi(t, write.config);
    const config = write.config;
    const log = createLogger(
      { test: 'history' },
      (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'error',
    );

    // The log: the test's own topics, fed by the outbox relay, read by the history projection.
    const kafka = createKafka(config, 'history-test');
    const prefix = `${uniqueName('history')}.`;
    const named = topicsWithPrefix(prefix);
    const topics = [named.tenant, named.identity, named.image];
    await createTestTopics(
      t,
      kafka,
      topics.map((topic) => ({ topic, partitions: 3 })),
    );
    // Personal data (user e-mails, tenant names) is sealed on its way to Kafka: one key store
    // for the relay that seals and the projection that opens.
    const serde = createEventSerde(
      registrySchemaStore(createSchemaRegistry(config), config.SCHEMA_REGISTRY_URL),
      {
        dataKeys: memoryDataKeyStore(),
      },
    );
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const relay = createOutboxRelay({
      databaseUrl: config.DATABASE_URL,
      producer,
      serde,
      topicPrefix: prefix,
      pollIntervalMs: 50,
      onError: (error) => log.warn('the relay failed', { error }),
    });
    relay.start();
    const runtime = {
      kafka,
      serde,
      deps: { pool: read.deps.pool, log },
      databaseUrl: config.DATABASE_URL,
      topics,
      groupPrefix: `${prefix}group`,
      log,
    };
    const service = startProjectionService(imageHistoryProjection, { ...runtime, pollIntervalMs: 100 });
    // Stopped here rather than in t.after: the harnesses' hooks (run first) end the pools they use.
    try {
      await journey();
    } finally {
      await service.stop();
      await relay.stop();
      await producer.disconnect();
    }

    async function journey(): Promise<void> {
      const admin = (await write.signIn(adminEmail, adminPassword)).access_token;
      const alpha = await tenantWithOwner(write, admin, 'history-alpha');
      const beta = await tenantWithOwner(write, admin, 'history-beta');
      const keyAnswer = await write.call('POST', `/v1/tenants/${alpha.tenantId}/api-keys`, {
        token: alpha.token,
        json: { scopes: ['images:write', 'images:read'], name: 'tagger' },
      });
      assert.equal(keyAnswer.status, 201, await keyAnswer.clone().text());
      const apiKey = (await keyAnswer.json()) as { id: string; secret: string };

      // 1 upload (user), 2 embedding (embedder), 3 tag edit (API key), 4 re-embedding by a new
      // model version, 5 delete (user).
      const form = new FormData();
      form.append('file', new Blob([await makePng(24, 16)], { type: 'image/png' }), 'dog.png');
      form.append('tags', 'dog,park');
      form.append('attributes', '{"camera":"x100"}');
      const uploadRequestId = `upload-${randomUUID()}`;
      const uploaded = await fetch(`${write.baseUrl}/v1/images`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alpha.token}`, 'x-request-id': uploadRequestId },
        body: form,
      });
      assert.equal(uploaded.status, 202, await uploaded.clone().text());
      const imageId = ((await uploaded.json()) as { images: { id: string }[] }).images[0]!.id;
      const userId = JSON.parse(Buffer.from(alpha.token.split('.')[1]!, 'base64url').toString()) as {
        sub: string;
      };
      const embed = (modelVersion: string) =>
        write.deps.handler.handle(
          imageAggregate,
          {
            type: 'RecordImageEmbedding',
            data: {
              tenantId: alpha.tenantId,
              imageId,
              modelId: 'test-model',
              modelVersion,
              vector: new Float32Array([0.6, 0.8, 0]),
              perceptualHash: '00ff00ff00ff00ff',
            },
          },
          { actor: 'system:embedder', causationId: imageId },
        );
      await embed('1.0.0');
      const tagRequestId = `retag-${randomUUID()}`;
      const retagged = await write.call('PATCH', `/v1/images/${imageId}`, {
        headers: { 'x-api-key': apiKey.secret, 'x-request-id': tagRequestId },
        json: { tags: ['dog', 'beach'] },
      });
      assert.equal(retagged.status, 200, await retagged.clone().text());
      await embed('2.0.0');
      const deleted = await write.call('DELETE', `/v1/images/${imageId}`, { token: alpha.token });
      assert.equal(deleted.status, 202, await deleted.clone().text());

      const historyOf = (token: string, id: string, query = '') =>
        fetch(`${read.baseUrl}/v1/images/${id}/history${query}`, {
          headers: { authorization: `Bearer ${token}` },
        });
      /** Every page, following nextCursor with `limit`. */
      async function wholeHistory(limit: number): Promise<HistoryItem[]> {
        const items: HistoryItem[] = [];
        let cursor: string | null = null;
        do {
          const query: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const answer = await historyOf(alpha.token, imageId, query);
          assert.equal(answer.status, 200, await answer.clone().text());
          const page = (await answer.json()) as HistoryPage;
          // Each event as the generated document declares it, no member more.
          assertAnswerDocumented(historyContract.history, 200, page);
          assert.ok(page.items.length <= limit);
          items.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor);
        return items;
      }
      // The projection trails the log: wait on the answer itself (404 or 503 until it has it all).
      for (const deadline = Date.now() + 90_000; ;) {
        const answer = await historyOf(alpha.token, imageId, '?limit=500');
        if (answer.status === 200 && ((await answer.json()) as HistoryPage).items.length === 5) break;
        assert.ok(Date.now() < deadline, `history not complete in time: last answer ${answer.status}`);
        await sleep(200);
      }

      const history = await wholeHistory(2);
      assert.deepEqual(
        history.map((e) => [e.version, e.type, e.actor.kind]),
        [
          [1, 'ImageUploaded', 'user'],
          [2, 'ImageEmbedded', 'system'],
          [3, 'ImageMetadataUpdated', 'apiKey'],
          [4, 'ImageEmbedded', 'system'],
          [5, 'ImageDeleted', 'user'],
        ],
        'each event once, in log order, paged 2 at a time',
      );
      assert.deepEqual(history[0]!.actor, { kind: 'user', id: userId.sub });
      assert.equal(history[0]!.correlationId, uploadRequestId, 'the request id correlates the upload');
      assert.deepEqual(history[0]!.changes.status, { before: null, after: 'uploaded' });
      assert.deepEqual(history[0]!.changes.tags, { before: null, after: ['dog', 'park'] });
      assert.deepEqual(history[0]!.details, {
        filename: 'dog.png',
        mime: 'image/png',
        bytes: history[0]!.details.bytes,
        width: 24,
        height: 16,
        sha256: history[0]!.details.sha256,
        source: 'http',
      });
      assert.deepEqual(history[1]!.changes, { status: { before: 'uploaded', after: 'embedded' } });
      assert.deepEqual(history[1]!.details, {
        model: 'test-model@1.0.0',
        dim: 3,
        perceptualHash: '00ff00ff00ff00ff',
      });
      assert.deepEqual(history[1]!.actor, { kind: 'system', id: 'embedder' });
      assert.deepEqual(history[2]!.actor, { kind: 'apiKey', id: apiKey.id });
      assert.equal(history[2]!.correlationId, tagRequestId);
      assert.deepEqual(history[2]!.changes, { tags: { before: ['dog', 'park'], after: ['dog', 'beach'] } });
      assert.deepEqual(history[3]!.changes, {}, 're-embedding changes no status');
      assert.equal(history[3]!.details.model, 'test-model@2.0.0');
      assert.deepEqual(history[4]!.changes, { status: { before: 'embedded', after: 'deleted' } });
      for (const entry of history) {
        assert.ok(!Number.isNaN(Date.parse(entry.occurredAt)));
        assert.match(entry.logPosition, new RegExp(`^${named.image.replaceAll('.', '\\.')}:\\d:\\d+$`));
      }
      assert.deepEqual(
        history.map((e) => Date.parse(e.occurredAt)),
        history.map((e) => Date.parse(e.occurredAt)).toSorted((a, b) => a - b),
      );
      const text = JSON.stringify(history);
      assert.ok(!text.includes('"vector"') && !text.includes('objectKey') && !text.includes(apiKey.secret));

      // Another tenant: the same 404 as an image that does not exist; bad input is a 400.
      const foreign = await historyOf(beta.token, imageId);
      assert.equal(foreign.status, 404);
      assert.match(foreign.headers.get('content-type') ?? '', /application\/problem\+json/);
      const unknown = await historyOf(alpha.token, randomUUID());
      assert.equal(unknown.status, 404);
      assert.deepEqual(
        {
          ...((await foreign.json()) as object),
          detail: undefined,
          instance: undefined,
          requestId: undefined,
        },
        {
          ...((await unknown.json()) as object),
          detail: undefined,
          instance: undefined,
          requestId: undefined,
        },
        'another tenant’s image looks exactly like no image',
      );

      // Route-level answers through app.request (no server): validation and authentication.
      const app = createReadApi(read.deps);
      const bearer = { authorization: `Bearer ${alpha.token}` };
      for (const [path, status] of [
        [`/v1/images/not-a-uuid/history`, 400],
        [`/v1/images/${imageId}/history?limit=0`, 400],
        [`/v1/images/${imageId}/history?limit=501`, 400],
        [`/v1/images/${imageId}/history?cursor=${Buffer.from('[-1]').toString('base64url')}`, 400],
        [`/v1/images/${imageId}/history?cursor=${Buffer.from('[1e300]').toString('base64url')}`, 400],
        [`/v1/images/${imageId}/history?cursor=%00`, 400],
        [`/v1/images/${imageId}/history?unknown=1`, 400],
      ] as const) {
        const answer = await app.request(path, { headers: bearer });
        assert.equal(answer.status, status, `${path}: ${await answer.clone().text()}`);
        assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
      }
      assert.equal((await app.request(`/v1/images/${imageId}/history`)).status, 401);
      const past = await app.request(
        `/v1/images/${imageId}/history?cursor=${Buffer.from('[5]').toString('base64url')}`,
        { headers: bearer },
      );
      assert.equal(past.status, 200);
      assert.deepEqual(await past.json(), { imageId, items: [], nextCursor: null });

      // It costs what a listing costs: one request unit (the token bucket refills too fast at
      // 600 a minute to see one unit go between two requests, so the cost function is asked).
      assert.equal(readCostOf('GET', `/v1/images/${imageId}/history`, undefined), 1);
      assert.equal(readCostOf('GET', '/v1/images', undefined), 1);

      // A rebuild of the projection from offset 0 answers the same history.
      await rebuildProjection(imageHistoryProjection, { ...runtime, dropAfterMs: 200 });
      assert.deepEqual(await wholeHistory(500), history, 'the rebuilt history is the same');

      // The tenant's erasure removes its history (tokens of an erased tenant stop anyway, so the
      // read model itself is asked).
      const queries = createImageHistoryQueries(read.deps.pool);
      assert.ok(await queries.imageHistory(alpha.tenantId, imageId));
      const erased = await write.call('DELETE', `/v1/tenants/${alpha.tenantId}`, { token: admin });
      assert.equal(erased.status, 202, await erased.clone().text());
      for (const deadline = Date.now() + 60_000; ;) {
        if ((await queries.imageHistory(alpha.tenantId, imageId)) === undefined) break;
        assert.ok(Date.now() < deadline, 'the erased tenant’s history is gone');
        await sleep(200);
      }
    }
  });
});
