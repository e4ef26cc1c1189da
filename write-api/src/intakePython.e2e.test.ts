import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import { loadConfig } from '@deeplens/platform/config';

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..');
const example = join(repoRoot, 'examples', 'python-intake');
const venv = join(repoRoot, process.env.STACK_DIR ?? '.stack', 'venvs', 'python-intake');
const python = join(venv, 'bin', 'python');

/** The example's virtualenv, from PyPI with the pinned requirements, made once. */
async function ensureVenv(): Promise<void> {
  if (existsSync(python)) return;
  await run('python3', ['-m', 'venv', venv]);
  await run(join(venv, 'bin', 'pip'), ['install', '--quiet', '-r', join(example, 'requirements.txt')], {
    timeout: 600_000,
  });
}

type Result = {
  requestId: string;
  imageId: string;
  status: string;
  events: { type: string; version: number }[];
};

/** DeepLens on the given object store, a tenant and its admin, then the Python program against it. */
async function runExample(t: Parameters<typeof startDeepLens>[0], env: Record<string, string>) {
  await ensureVenv();
  const deeplens = await startDeepLens(t, { env });
  const call = async (method: string, url: string, body: unknown, token?: string) => {
    const response = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${url}: ${response.status} ${text}`);
    return JSON.parse(text) as Record<string, string>;
  };
  const admin = await call('POST', `${deeplens.writeUrl}/v1/auth/token`, {
    grant_type: 'password',
    email: deeplens.admin.email,
    password: deeplens.admin.password,
  });
  const tenant = await call(
    'POST',
    `${deeplens.writeUrl}/v1/tenants`,
    { slug: `py-${Date.now().toString(36)}`, name: 'Python integration', plan: 'free' },
    admin.access_token,
  );
  const owner = { email: `owner-${tenant.id}@python.test`, password: 'a long enough password' };
  await call(
    'POST',
    `${deeplens.writeUrl}/v1/users`,
    { ...owner, role: 'tenant_admin', tenantId: tenant.id },
    admin.access_token,
  );
  // DeepLens is up for an integration once intake has registered its subject (at start-up).
  const config = loadConfig();
  const subject = `${deeplens.env.KAFKA_TOPIC_PREFIX}deeplens.intake.v1-deeplens.intake.IntakeEnvelope`;
  const schemaText = await readFile(join(repoRoot, 'schemas', 'intake', 'IntakeEnvelope.avsc'), 'utf8');
  const deadline = Date.now() + 90_000;
  for (;;) {
    const lookup = await fetch(`${config.SCHEMA_REGISTRY_URL}/subjects/${encodeURIComponent(subject)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: schemaText.trim() }),
    });
    if (lookup.ok) break;
    assert.ok(Date.now() < deadline, `intake never registered ${subject}`);
    await sleep(500);
  }
  const image = join(await mkdtemp(join(tmpdir(), 'python-intake-')), 'beach.jpg');
  await writeFile(image, await makeJpeg(320, 240, 11));
  try {
    const { stdout } = await run(python, [join(example, 'intake.py'), image], {
      timeout: 240_000,
      env: {
        PATH: process.env.PATH ?? '',
        DEEPLENS_WRITE_URL: deeplens.writeUrl,
        DEEPLENS_READ_URL: deeplens.readUrl,
        DEEPLENS_TENANT_ID: tenant.id!,
        DEEPLENS_EMAIL: owner.email,
        DEEPLENS_PASSWORD: owner.password,
        KAFKA_BROKERS: config.KAFKA_BROKERS.join(','),
        SCHEMA_REGISTRY_URL: config.SCHEMA_REGISTRY_URL,
        KAFKA_TOPIC_PREFIX: deeplens.env.KAFKA_TOPIC_PREFIX!,
      },
    });
    const lines = stdout.trim().split('\n');
    return { result: JSON.parse(lines.at(-1)!) as Result, deeplens, tenantId: tenant.id! };
  } catch (error) {
    const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
    throw new Error(
      `the Python example failed:\n${stderr}\n${stdout}\n${deeplens.output
        .filter((l) => /intake|error/i.test(l))
        .slice(-30)
        .join('\n')}`,
      { cause: error },
    );
  }
}

function assertIndexed(result: Result): void {
  assert.equal(result.status, 'indexed');
  const types = result.events.map((e) => e.type);
  assert.equal(types[0], 'ImageUploaded', 'its first event, decoded with the stock deserializer');
  assert.ok(types.includes('ImageEmbedded'), `the embedding arrived: ${types.join(', ')}`);
  assert.deepEqual(
    result.events.map((e) => e.version),
    result.events.map((_, i) => i + 1),
    'in order',
  );
}

describe('a Python integration on confluent-kafka, from PyPI, against the real stack', () => {
  it('uploads, produces a signed intake record, follows it to indexed and reads its events (filesystem store)', async (t) => {
    const { result } = await runExample(t, { OBJECT_STORE: 'fs' });
    assertIndexed(result);
  });

  it('does the same with the S3 object store', async (t) => {
    const { result } = await runExample(t, { OBJECT_STORE: 's3' });
    assertIndexed(result);
  });
});
