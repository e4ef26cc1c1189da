import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hash } from '@node-rs/argon2';
import { ValidationError } from '../errors.ts';
import { hashPassword, passwordNeedsRehash, verifyPassword } from './passwords.ts';

const password = 'correct horse battery staple';

describe('hashPassword', () => {
  it('makes an argon2id hash with the chosen parameters and a fresh salt', async () => {
    const first = await hashPassword(password);
    assert.match(first, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(await hashPassword(password), first);
  });

  it('refuses fewer than 12 and more than 1024 characters', async () => {
    await assert.rejects(hashPassword('elevenchars'), ValidationError);
    await assert.rejects(hashPassword('x'.repeat(1025)), ValidationError);
    await hashPassword('twelve chars');
    await hashPassword('x'.repeat(1024));
  });

  it('counts characters, not UTF-16 units', async () => {
    // 11 emoji are 22 UTF-16 units but 11 characters.
    await assert.rejects(hashPassword('🔒'.repeat(11)), ValidationError);
    assert.equal(await verifyPassword(await hashPassword('🔒'.repeat(12)), '🔒'.repeat(12)), true);
  });
});

describe('verifyPassword', () => {
  it('accepts the password and refuses any other', async () => {
    const stored = await hashPassword(password);
    assert.equal(await verifyPassword(stored, password), true);
    assert.equal(await verifyPassword(stored, `${password}!`), false);
    assert.equal(await verifyPassword(stored, password.toUpperCase()), false);
  });

  it('treats canonically equivalent spellings as one password', async () => {
    const composed = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet';
    const decomposed = composed.normalize('NFD');
    assert.notEqual(composed, decomposed);
    assert.equal(await verifyPassword(await hashPassword(composed), decomposed), true);
  });

  it('answers false for a user that does not exist', async () => {
    // It still runs argon2 (against a throw-away hash), so the response time does not tell
    // unknown e-mails from wrong passwords; timing is the benchmarks' business, not a test's.
    assert.equal(await verifyPassword(undefined, password), false);
    assert.equal(await verifyPassword(undefined, 'short'), false);
  });

  it('answers false for passwords outside the length rules', async () => {
    const stored = await hashPassword(password);
    assert.equal(await verifyPassword(stored, 'short'), false);
    assert.equal(await verifyPassword(stored, 'x'.repeat(100_000)), false);
  });

  it('throws on a stored hash that is not argon2', async () => {
    await assert.rejects(verifyPassword('plaintext', password), /not a valid argon2 hash/);
  });
});

describe('passwordNeedsRehash', () => {
  it('is false for a current hash and true for other parameters or garbage', async () => {
    assert.equal(passwordNeedsRehash(await hashPassword(password)), false);
    const older = await hash(password, { memoryCost: 4096, timeCost: 3, parallelism: 1 });
    assert.equal(passwordNeedsRehash(older), true);
    assert.equal(passwordNeedsRehash('garbage'), true);
  });
});
