import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configSchema, loadConfig } from './config.ts';

describe('configuration', () => {
  it('defaults to the local stack on loopback', () => {
    const config = loadConfig({});
    assert.deepEqual(config.KAFKA_BROKERS, ['127.0.0.1:19092']);
    assert.equal(config.WRITE_API_HOST, '127.0.0.1');
    assert.equal(config.READ_API_HOST, '127.0.0.1');
    assert.equal(config.OBJECT_STORE, 'fs');
  });

  it('fails fast with a message naming the bad variable', () => {
    assert.throws(
      () => loadConfig({ WRITE_API_PORT: 'eighty' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /WRITE_API_PORT/);
        return true;
      },
    );
    assert.throws(() => loadConfig({ OBJECT_STORE: 'ftp' }), /OBJECT_STORE/);
  });

  it('STACK_DIR moves the object store, vector index and secrets folders; an explicit one wins', () => {
    const moved = loadConfig({ STACK_DIR: '/tmp/elsewhere', SECRETS_DIR: '/keys' });
    assert.equal(moved.OBJECT_STORE_DIR, '/tmp/elsewhere/data/objects');
    assert.equal(moved.VECTOR_INDEX_DIR, '/tmp/elsewhere/data/vectors');
    assert.equal(moved.SECRETS_DIR, '/keys');
    assert.equal(loadConfig({}).VECTOR_INDEX_DIR, '.stack/data/vectors');
  });

  it("VECTOR_STORE=qdrant uses the local stack's Qdrant unless QDRANT_URL names another", () => {
    assert.equal(loadConfig({ VECTOR_STORE: 'qdrant' }).QDRANT_URL, 'http://127.0.0.1:16333');
    assert.equal(
      loadConfig({ VECTOR_STORE: 'qdrant', QDRANT_URL: 'http://q:6333' }).QDRANT_URL,
      'http://q:6333',
    );
    assert.equal(loadConfig({}).QDRANT_URL, undefined);
  });

  it('splits a broker list', () => {
    assert.deepEqual(loadConfig({ KAFKA_BROKERS: 'a:1, b:2' }).KAFKA_BROKERS, ['a:1', 'b:2']);
  });

  it('.env.example names every variable the schema reads', () => {
    const example = readFileSync(join(import.meta.dirname, '..', '..', '.env.example'), 'utf8');
    for (const key of Object.keys(configSchema.shape)) assert.match(example, new RegExp(`\\b${key}=`), key);
  });
});
