import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { problemErrorHandler } from '@deeplens/platform/http/problem';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { setProjectionReadiness } from '@deeplens/projections/projectionReadiness';
import { projectionMigrations } from '@deeplens/projections/projectionRuntime';
import { projectionReadinessGuard } from './projectionReadinessGuard.ts';

describe('read API while a projection rebuilds', () => {
  it('answers 503 with Retry-After instead of a partial read model, and /readyz says what replays or halted', async (t) => {
    const db = await createTestDatabase(t);
    const app = new Hono();
    app.onError(problemErrorHandler(createLogger({ test: 'guard' }, 'error')));
    app.use('*', projectionReadinessGuard(db.pool, { cacheMs: 0 }));
    app.get('/readyz', (c) => c.json({ status: 'ready' }));
    app.get('/v1/images', (c) => c.json({ items: [] }));

    // No projector has recorded anything yet (no table): nothing to hold back.
    assert.equal((await app.request('/v1/images')).status, 200);
    await runMigrations(db.url, 'projections', projectionMigrations);
    assert.equal((await app.request('/readyz')).status, 200);

    await setProjectionReadiness(db.pool, 'metadata', 'replaying', 'replaying the log: 120 records to go');
    const read = await app.request('/v1/images');
    assert.equal(read.status, 503);
    assert.equal(read.headers.get('retry-after'), '5');
    assert.match(read.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await read.json()) as { detail: string; code: string };
    assert.equal(problem.code, 'unavailable');
    assert.match(
      problem.detail,
      /rebuilding its read model from the log \(metadata: replaying the log: 120 records to go\)/,
    );
    const ready = await app.request('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { reasons: { state: string }[] }).reasons[0]?.state, 'replaying');

    await setProjectionReadiness(
      db.pool,
      'metadata',
      'halted',
      'undecodable: schema id 9 is not in the registry',
      {
        topic: 'deeplens.image.v1',
        partition: 2,
        offset: 41,
      },
    );
    const halted = await app.request('/readyz');
    assert.equal(halted.status, 503);
    const body = (await halted.json()) as { reasons: { reason: string; offset: number }[] };
    assert.equal(body.reasons[0]?.offset, 41);
    assert.match(body.reasons[0]?.reason ?? '', /metadata halted at deeplens\.image\.v1:2:41/);
    assert.equal(
      (await app.request('/v1/images')).status,
      200,
      'a halted model is consistent up to the halt',
    );

    await setProjectionReadiness(db.pool, 'metadata', 'caught-up', null);
    assert.equal((await app.request('/readyz')).status, 200);
    assert.equal((await app.request('/v1/images')).status, 200);
  });
});
