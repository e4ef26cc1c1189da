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
    app.use('*', projectionReadinessGuard(db.pool, { cacheMs: 0, projections: ['metadata', 'usage'] }));
    app.get('/readyz', (c) => c.json({ status: 'ready' }));
    app.get('/v1/images', (c) => c.json({ items: [] }));
    const reasonsOf = async (response: Response) =>
      ((await response.json()) as { reasons: { projection: string; state: string; reason: string }[] })
        .reasons;

    // No projector has recorded anything yet (no table, as after PostgreSQL was re-created):
    // nothing is known to be whole, so nothing is served.
    const noTable = await app.request('/v1/images');
    assert.equal(noTable.status, 503);
    assert.equal(noTable.headers.get('retry-after'), '5');
    const noTableReady = await app.request('/readyz');
    assert.equal(noTableReady.status, 503);
    assert.deepEqual(
      (await reasonsOf(noTableReady)).map((r) => [r.projection, r.state]),
      [
        ['metadata', 'unreported'],
        ['usage', 'unreported'],
      ],
    );
    await runMigrations(db.url, 'projections', projectionMigrations);
    // The table, but no row for a projection the read API depends on: still not ready.
    await setProjectionReadiness(db.pool, 'metadata', 'caught-up', null);
    const noRow = await app.request('/readyz');
    assert.equal(noRow.status, 503);
    const [usage, ...others] = await reasonsOf(noRow);
    assert.deepEqual(others, []);
    assert.equal(usage?.projection, 'usage');
    assert.match(usage?.reason ?? '', /usage: its projector has not reported yet/);
    const noRowRead = await app.request('/v1/images');
    assert.equal(noRowRead.status, 503);
    assert.match(
      ((await noRowRead.json()) as { detail: string }).detail,
      /usage: its projector has not reported/,
    );
    await setProjectionReadiness(db.pool, 'usage', 'caught-up', null);
    assert.equal((await app.request('/readyz')).status, 200);
    assert.equal((await app.request('/v1/images')).status, 200);

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
