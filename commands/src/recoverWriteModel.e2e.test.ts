import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import pg from 'pg';
import { DeepLensApiError } from '@deeplens/client/clientErrors';
import { createDeepLensClient } from '@deeplens/client/deepLensClient';
import { startDeepLens, waitForReady } from '@deeplens/platform/testing/deeplensProcesses';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';

const repoRoot = join(import.meta.dirname, '..', '..');

/** Runs the operator's recovery entry with DeepLens's environment; its exit code and output. */
function runRecover(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'commands/src/recoverMain.ts', ...args], {
      cwd: repoRoot,
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

async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('disaster: the whole deeplens database is dropped', () => {
  it('recover, then restart: API keys, passwords, tenants and uploads work as before', async (t) => {
    const deeplens = await startDeepLens(t, { processes: ['write-api', 'relay'] });
    const { env } = deeplens;
    const client = () => createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
    const admin = client();
    admin.setAuth({ token: (await admin.signIn(deeplens.admin)).accessToken });
    const tenant = await admin.createTenant({
      slug: `acme-${env['KAFKA_TOPIC_PREFIX']!.replace(/\W/g, '')}`,
      name: 'Acme',
    });
    const alice = { email: 'alice@acme.test', password: 'alice has a long password' };
    await admin.createUser({ ...alice, role: 'tenant_admin', tenantId: tenant.id });
    const key = await admin.createApiKey(tenant.id, { scopes: ['images:read', 'images:write', 'search'] });
    const uploader = client();
    uploader.setAuth({ apiKey: key.secret });
    const files = await Promise.all(
      [1, 2, 3].map(async (seed) => ({
        filename: `${seed}.jpg`,
        bytes: await makeJpeg(64, 48, seed),
        type: 'image/jpeg',
      })),
    );
    await uploader.uploadImages(files.slice(0, 2));

    const unpublished = () =>
      query<{ n: string }>(
        env['DATABASE_URL']!,
        'select count(*) as n from write.outbox where published_at is null',
      );
    for (let i = 0; Number((await unpublished())[0]!.n) > 0; i++) {
      assert.ok(i < 300, 'the relay publishes the outbox');
      await sleep(100);
    }

    // --- the disaster: DeepLens stopped, its database gone ------------------------------------
    await deeplens.stop('write-api', { graceful: true });
    await deeplens.stop('relay', { graceful: true });
    const maintenance = new URL(env['DATABASE_URL']!);
    const database = maintenance.pathname.slice(1);
    maintenance.pathname = '/postgres';
    await query(maintenance.toString(), `drop database ${database} with (force)`);

    const recovered = await runRecover(env, []);
    assert.equal(recovered.code, 0, recovered.output);
    assert.match(recovered.output, /Recovered the write model from \d+ records/);
    const verified = await runRecover(env, ['--verify']);
    assert.equal(verified.code, 0, verified.output);
    assert.match(verified.output, /The write model matches the log/);

    deeplens.start('write-api');
    deeplens.start('relay');
    await waitForReady(`${deeplens.writeUrl}/readyz`, 90_000, deeplens.output);

    // Passwords, the API key and the tenant's slug are as they were; uploads count on.
    await client().signIn(deeplens.admin);
    await client().signIn(alice);
    await client().signIn({ apiKey: key.secret });
    // The admin's access token outlives the database: it is signed, not stored.
    await assert.rejects(
      admin.createTenant({ slug: tenant.slug, name: 'Acme again' }),
      (error: unknown) => error instanceof DeepLensApiError && error.status === 409,
    );
    const after = await uploader.uploadImages(files.slice(2));
    assert.equal(after.images.length, 1);
    const usage = await query<{ images: string }>(
      env['DATABASE_URL']!,
      `select sum(images) as images from write.usage_stripes where tenant_id = '${tenant.id}'`,
    );
    assert.equal(Number(usage[0]!.images), 3);
  });
});
