import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startPrivateStack } from '@deeplens/platform/testing/privateStack';
import { postgresHome } from './services/postgresService.ts';
import { createStackContext } from './stackContext.ts';

const contentType = { 'content-type': 'application/vnd.schemaregistry.v1+json' };

function recordSchema(name: string): string {
  return JSON.stringify({ type: 'record', name, fields: [{ name: 'f', type: 'string' }] });
}

async function register(registry: string, subject: string, name: string): Promise<number> {
  const response = await fetch(`${registry}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: contentType,
    body: JSON.stringify({ schema: recordSchema(name) }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { id: number }).id;
}

async function schemaById(registry: string, id: number): Promise<string> {
  const response = await fetch(`${registry}/schemas/ids/${id}`);
  assert.equal(response.status, 200, `schema id ${id} resolves`);
  return ((await response.json()) as { schema: string }).schema;
}

describe('schema registry state lives in Kafka (kafkasql)', () => {
  it('keeps every schema id after PostgreSQL is wiped and the stack restarted', async (t) => {
    const stack = await startPrivateStack(t);
    const registry = stack.env.SCHEMA_REGISTRY_URL!;
    const names = ['Alpha', 'Bravo', 'Charlie'];
    const ids = new Map<string, number>();
    for (const name of names) ids.set(name, await register(registry, `durability-${name}-value`, name));

    // Lose PostgreSQL's whole data directory (as a disk loss would), then restart the stack.
    await stack.stop('schema-registry');
    await stack.stop('postgres');
    const home = postgresHome(createStackContext({ ...process.env, ...stack.env }));
    await rm(join(home.data, 'postgres'), { recursive: true, force: true });
    await stack.start('postgres');
    await stack.start('schema-registry');

    for (const name of names) {
      const id = ids.get(name)!;
      assert.deepEqual(JSON.parse(await schemaById(registry, id)), JSON.parse(recordSchema(name)));
      const latest = (await (
        await fetch(`${registry}/subjects/durability-${name}-value/versions/latest`)
      ).json()) as { id: number };
      assert.equal(latest.id, id, `${name} keeps id ${id}`);
    }
    // Registering again answers the same id; a new schema gets a new one, not a reused one.
    assert.equal(await register(registry, 'durability-Alpha-value', 'Alpha'), ids.get('Alpha'));
    const fresh = await register(registry, 'durability-Delta-value', 'Delta');
    assert.ok(![...ids.values()].includes(fresh), `the new id ${fresh} is not one already given`);
    const config = (await (await fetch(`${registry}/config`)).json()) as { compatibilityLevel: string };
    assert.equal(config.compatibilityLevel, 'BACKWARD_TRANSITIVE');
  });
});
