import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { userSubject } from '@deeplens/platform/dataKeys';
import { sql } from '@deeplens/platform/database';
import { installationDataKeyStore } from '@deeplens/platform/kafkaDataKeyStore';
import { adminEmail, adminPassword, startWriteApi } from '../testing/writeApiHarness.ts';

describe('DELETE /v1/users/{id}: disable and erase', () => {
  it('ends the account, destroys its data key, frees its e-mail; repeating it is harmless; bad ids are 4xx', async (t) => {
    const api = await startWriteApi(t);
    const { access_token: token } = await api.signIn(adminEmail, adminPassword);
    const email = `eve.${randomBytes(4).toString('hex')}@erase.example`;
    const password = 'a long enough password';
    const created = await api.call('POST', '/v1/users', {
      token,
      json: { email, password, role: 'platform_admin' },
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    await api.signIn(email, password);
    const keys = installationDataKeyStore();
    assert.ok(await keys.keyForWriting(userSubject(id)), 'the user has a data key');

    assert.equal((await api.call('DELETE', `/v1/users/${id}`, { token })).status, 204);
    await assert.rejects(api.signIn(email, password), /401/);
    assert.equal(await keys.keyForReading(userSubject(id)), undefined, 'the data key is destroyed');
    const state = await api.deps.pool.one(sql.type(z.object({ email: z.string(), hash: z.string() }))`
      select state->>'email' as email, state->>'passwordHash' as hash
      from write.aggregates where aggregate_type = 'user' and aggregate_id = ${id}`);
    assert.deepEqual(state, { email: `erased:${id}`, hash: '' });

    assert.equal((await api.call('DELETE', `/v1/users/${id}`, { token })).status, 204, 'again: still erased');
    // The read models learn of it from exactly one UserErased, after UserDisabled, with no e-mail in it.
    const events = await api.deps.pool.any(sql.type(
      z.object({ event_type: z.string(), payload: z.instanceof(Buffer) }),
    )`
      select event_type, payload from write.outbox where aggregate_id = ${id} order by aggregate_version`);
    assert.deepEqual(
      events.map((e) => e.event_type),
      ['UserRegistered', 'UserDisabled', 'UserErased'],
    );
    assert.ok(!events[2]!.payload.includes(email), 'UserErased carries no e-mail');
    assert.equal((await api.call('DELETE', `/v1/users/${randomUUID()}`, { token })).status, 404);
    assert.equal((await api.call('DELETE', '/v1/users/not-a-uuid', { token })).status, 400);
    assert.equal((await api.call('DELETE', `/v1/users/${id}`)).status, 401);
    const again = await api.call('POST', '/v1/users', {
      token,
      json: { email, password, role: 'platform_admin' },
    });
    assert.equal(again.status, 201, 'the e-mail can be used again');
  });
});
