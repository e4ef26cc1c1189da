import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { createSchemaRegistry, registerAvroSchema } from './schemaRegistry.ts';
import { uniqueName } from './testing/testTopics.ts';

const v1 = {
  type: 'record',
  name: 'PlumbingChecked',
  namespace: 'deeplens.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
  ],
};

async function deleteSubject(url: string, subject: string): Promise<void> {
  await fetch(`${url}/subjects/${encodeURIComponent(subject)}`, { method: 'DELETE' });
  await fetch(`${url}/subjects/${encodeURIComponent(subject)}?permanent=true`, { method: 'DELETE' });
}

describe('schema registry (Confluent-compatible API)', () => {
  const config = loadConfig();
  const registry = createSchemaRegistry(config);

  it('encodes in Confluent wire format (magic byte + 4-byte schema id) and decodes back', async (t) => {
    const subject = `${uniqueName('plumbing')}-deeplens.test.PlumbingChecked`;
    t.after(() => deleteSubject(config.SCHEMA_REGISTRY_URL, subject));
    const id = await registerAvroSchema(registry, subject, v1);

    const bytes = await registry.encode(id, { id: 'x-1', count: 42 });
    assert.equal(bytes[0], 0, 'magic byte');
    assert.equal(bytes.readUInt32BE(1), id, 'schema id in big-endian');
    assert.deepEqual({ ...(await registry.decode(bytes)) }, { id: 'x-1', count: 42 });
  });

  it('accepts a backward-compatible change and refuses an incompatible one', async (t) => {
    const subject = `${uniqueName('plumbing')}-deeplens.test.PlumbingChecked`;
    t.after(() => deleteSubject(config.SCHEMA_REGISTRY_URL, subject));
    await registerAvroSchema(registry, subject, v1);

    const withDefault = { ...v1, fields: [...v1.fields, { name: 'note', type: 'string', default: '' }] };
    const v2 = await registerAvroSchema(registry, subject, withDefault);
    assert.ok(v2 > 0);

    const withoutDefault = { ...v1, fields: [...v1.fields, { name: 'required', type: 'string' }] };
    await assert.rejects(registerAvroSchema(registry, subject, withoutDefault), /incompatible/i);
  });

  it('registers a new subject from several processes at once (the client checks, registers, then sets the level)', async (t) => {
    const subject = `${uniqueName('plumbing')}-deeplens.test.PlumbingChecked`;
    t.after(() => deleteSubject(config.SCHEMA_REGISTRY_URL, subject));
    // Separate clients, as separate processes would have: no shared cache.
    const ids = await Promise.all(
      Array.from({ length: 6 }, () =>
        registerAvroSchema(createSchemaRegistry(config), subject, v1, config.SCHEMA_REGISTRY_URL),
      ),
    );
    assert.equal(new Set(ids).size, 1, 'one schema, one id');
  });

  it('holds BACKWARD_TRANSITIVE as the global compatibility rule', async () => {
    const response = await fetch(`${config.SCHEMA_REGISTRY_URL}/config`);
    assert.equal(
      ((await response.json()) as { compatibilityLevel: string }).compatibilityLevel,
      'BACKWARD_TRANSITIVE',
    );
  });
});
