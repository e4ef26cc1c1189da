import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newDataKey,
  openEnvelope,
  sealEnvelope,
  unwrapDataKey,
  wrapDataKey,
  type SealedEnvelope,
} from './dataKeys.ts';
import { ValidationError } from './errors.ts';

const plain = Buffer.from('{"email":"grace@example.org"}');

describe('sealed personal data (AES-256-GCM envelope)', () => {
  it('opens with the keys it was sealed with, and its bytes do not hold the plaintext', () => {
    const keys = [newDataKey(), newDataKey()];
    const sealed = sealEnvelope(['tenant:t', 'user:u'], keys, plain, 'event-1');
    assert.ok(!sealed.ciphertext.includes(Buffer.from('grace')));
    assert.deepEqual(openEnvelope(sealed, keys, 'event-1'), plain);
  });

  it('does not open when any one of the keys is wrong: erasing the user or the tenant is enough', () => {
    const [tenant, user] = [newDataKey(), newDataKey()];
    const sealed = sealEnvelope(['tenant:t', 'user:u'], [tenant, user], plain, 'event-1');
    assert.throws(() => openEnvelope(sealed, [tenant, newDataKey()], 'event-1'), ValidationError);
    assert.throws(() => openEnvelope(sealed, [newDataKey(), user], 'event-1'), ValidationError);
  });

  it('refuses a changed ciphertext, nonce, subject list or event id', () => {
    const keys = [newDataKey()];
    const sealed = sealEnvelope(['user:u'], keys, plain, 'event-1');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0]! ^= 1;
    const variants: SealedEnvelope[] = [
      { ...sealed, ciphertext: flipped },
      { ...sealed, nonce: Buffer.alloc(12) },
      { ...sealed, subjects: ['user:v'] },
    ];
    for (const variant of variants)
      assert.throws(() => openEnvelope(variant, keys, 'event-1'), ValidationError);
    assert.throws(() => openEnvelope(sealed, keys, 'event-2'), ValidationError);
    assert.throws(
      () => openEnvelope({ ...sealed, ciphertext: Buffer.alloc(3) }, keys, 'event-1'),
      ValidationError,
    );
  });

  it('wraps a data key under the master key, bound to its subject', () => {
    const master = newDataKey();
    const key = newDataKey();
    const wrapped = wrapDataKey(master, 'user:u', key);
    assert.ok(!wrapped.includes(key));
    assert.deepEqual(unwrapDataKey(master, 'user:u', wrapped), key);
    assert.throws(() => unwrapDataKey(newDataKey(), 'user:u', wrapped), /DATA_KEY_MASTER_KEY/);
    assert.throws(() => unwrapDataKey(master, 'user:v', wrapped), ValidationError);
  });
});
