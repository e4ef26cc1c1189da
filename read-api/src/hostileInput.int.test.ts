import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { readApiHostileRequests, runHostileRequests } from '@deeplens/platform/testing/hostileRequests';
import { adminEmail, adminPassword, startWriteApi } from '@deeplens/write-api/testing/writeApiHarness';
import { writeFootprint } from '@deeplens/write-api/testing/writeFootprint';
import { startReadApi } from './testing/readApiHarness.ts';

describe('read API: a corpus of hostile and broken requests', () => {
  it('answers every row with its 4xx as problem+json, keeps answering, and writes nothing', async (t) => {
    const write = await startWriteApi(t);
    const read = await startReadApi(t, write.config);
    const admin = await write.signIn(adminEmail, adminPassword);
    const created = await write.call('POST', '/v1/tenants', {
      token: admin.access_token,
      // A budget no row exhausts: the rate limit is the attack suite's subject, not this corpus's.
      json: {
        slug: 'hostile-reader',
        name: 'Hostile reader',
        plan: 'enterprise',
        limits: { maxImages: 1000, maxBytes: 1e9, maxImageBytes: 25 * 2 ** 20, requestsPerMinute: 100_000 },
      },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id: tenantId } = (await created.json()) as { id: string };
    const user = await write.call('POST', '/v1/users', {
      token: admin.access_token,
      json: {
        email: 'reader@hostile.test',
        password: 'a long enough password',
        role: 'tenant_user',
        tenantId,
      },
    });
    assert.equal(user.status, 201, await user.clone().text());
    const reader = await write.signIn('reader@hostile.test', 'a long enough password');

    const rows = await readApiHostileRequests({ tenantId, imageId: randomUUID(), missingId: randomUUID() });
    const before = await writeFootprint(write.deps.pool, write.config.OBJECT_STORE_DIR);
    const run = await runHostileRequests(read.baseUrl, rows, (as) =>
      as === 'tenant'
        ? `Bearer ${reader.access_token}`
        : as === 'admin'
          ? `Bearer ${admin.access_token}`
          : undefined,
    );
    t.diagnostic(`${rows.length} rows by category: ${JSON.stringify(run.sent)}`);
    t.diagnostic(`answers by status: ${JSON.stringify(run.statuses)}`);
    assert.deepEqual(run.failures, []);
    assert.deepEqual(
      await writeFootprint(write.deps.pool, write.config.OBJECT_STORE_DIR),
      before,
      'the read API wrote nothing',
    );
  });
});
