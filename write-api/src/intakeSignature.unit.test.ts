import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeIntakeEnvelope } from '@deeplens/events/eventCodec';
import { frame } from '@deeplens/events/eventSerde';
import { signIntakeRecord, verifyIntakeSignature } from './intakeSignature.ts';

// The worked example of docs/integrations.md ("A worked example"): if this changes, so must the guide.
const seed = Buffer.alloc(32, 1);
const privateKey = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
  format: 'der',
  type: 'pkcs8',
});
const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
const value = frame(
  42,
  encodeIntakeEnvelope({
    requestId: 'req-1',
    tenantId: 't-1',
    command: { type: 'DeleteImage', data: { imageId: 'img-1' } },
  }),
);
const documented = {
  value: '000000002a0a7265712d3106742d31040a696d672d31',
  signature:
    'd989204beb43ae1db21a98f82e41e4825efd255ae9088d0a2f03829c49dddbb76402790a7553fc6628342a1e9f6ab1bab66955a8ace9970e038fb3ec2cebaa0c',
  publicKey:
    '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAiojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=\n-----END PUBLIC KEY-----\n',
};

describe('intake signature', () => {
  it('is Ed25519 over the value without its magic byte, as the guide’s worked example says', () => {
    assert.equal(value.toString('hex'), documented.value);
    assert.equal(publicKey, documented.publicKey);
    const signature = signIntakeRecord(value, privateKey);
    assert.equal(signature.toString('hex'), documented.signature);
    assert.ok(verifyIntakeSignature(value, signature, publicKey));
  });

  it('fails for any other byte, a signature of the whole value, or a short signature', () => {
    const signature = Buffer.from(documented.signature, 'hex');
    const changed = Buffer.from(value);
    changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 1, changed.length - 1);
    assert.equal(verifyIntakeSignature(changed, signature, publicKey), false);
    const overWhole = sign(null, value, privateKey); // the magic byte included: not what is signed
    assert.equal(verifyIntakeSignature(value, overWhole, publicKey), false);
    assert.equal(verifyIntakeSignature(value, signature.subarray(0, 63), publicKey), false);
  });
});
