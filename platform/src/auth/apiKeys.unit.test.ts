import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateApiKey, hashApiKey, parseApiKey, verifyApiKeySecret } from './apiKeys.ts';

describe('generateApiKey', () => {
  it('makes a dl_<prefix>_<secret> token with its id, prefix and hex SHA-256', () => {
    const key = generateApiKey();
    assert.match(key.keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(key.prefix, /^[a-z0-9]{8}$/);
    assert.match(key.secret, /^dl_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    assert.ok(key.secret.startsWith(`dl_${key.prefix}_`));
    assert.equal(key.secretHash, createHash('sha256').update(key.secret).digest('hex'));
    assert.equal(hashApiKey(key.secret), key.secretHash);
  });

  it('never repeats a prefix or a secret', () => {
    const keys = Array.from({ length: 2000 }, generateApiKey);
    assert.equal(new Set(keys.map((k) => k.prefix)).size, keys.length);
    assert.equal(new Set(keys.map((k) => k.secret)).size, keys.length);
  });
});

describe('parseApiKey', () => {
  it('gives the prefix of a well-formed token', () => {
    const key = generateApiKey();
    assert.equal(parseApiKey(key.secret), key.prefix);
  });

  it('gives undefined for anything else', () => {
    const { secret } = generateApiKey();
    for (const token of [
      '',
      'dl_',
      secret.slice(0, -1),
      `${secret}x`,
      secret.replace('dl_', 'xx_'),
      secret.toUpperCase(),
      ` ${secret}`,
      'eyJhbGciOiJFZERTQSJ9.e30.c2ln',
    ]) {
      assert.equal(parseApiKey(token), undefined, token);
    }
  });
});

describe('verifyApiKeySecret', () => {
  it('accepts the token whose hash is stored and refuses others', () => {
    const key = generateApiKey();
    const other = generateApiKey();
    assert.equal(verifyApiKeySecret(key.secret, key.secretHash), true);
    assert.equal(verifyApiKeySecret(other.secret, key.secretHash), false);
    // One character changed (never to itself: a secret may already end in 'A').
    const changed = `${key.secret.slice(0, -1)}${key.secret.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(verifyApiKeySecret(changed, key.secretHash), false);
  });

  it('refuses a stored hash that is not hex SHA-256 rather than throwing', () => {
    const key = generateApiKey();
    assert.equal(verifyApiKeySecret(key.secret, ''), false);
    assert.equal(verifyApiKeySecret(key.secret, key.secretHash.slice(2)), false);
    assert.equal(verifyApiKeySecret(key.secret, 'z'.repeat(64)), false);
  });
});
