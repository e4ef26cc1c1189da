import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryDataKeyStore, tenantSubject, userSubject } from '@deeplens/platform/dataKeys';
import { toAvro, type AvroEventValue } from './avroValues.ts';
import { decodeEvent } from './eventCodec.ts';
import { eventSchemas } from './eventSchemas.ts';
import { erasedEmail, openPersonalData, sealPersonalData } from './personalData.ts';
import { sampleEvents } from './testing/sampleEvents.ts';

const user = sampleEvents.UserRegistered;

/** What goes to Kafka: the sealed Avro value, through the real schema's bytes. */
async function sealedBytes(keys: ReturnType<typeof memoryDataKeyStore>) {
  const value = await sealPersonalData('UserRegistered', toAvro(user), keys);
  return eventSchemas.UserRegistered.type.toBuffer(value);
}

describe('personal data in events', () => {
  it('goes to Kafka sealed: no e-mail or password hash in the bytes, back in clear for a reader with the keys', async () => {
    const keys = memoryDataKeyStore();
    const bytes = await sealedBytes(keys);
    assert.ok(!bytes.includes(Buffer.from(user.data.email)));
    assert.ok(!bytes.includes(Buffer.from(user.data.passwordHash)));
    const raw = eventSchemas.UserRegistered.type.fromBuffer(bytes) as AvroEventValue;
    assert.equal(raw.data.email, null);
    assert.deepStrictEqual(await openPersonalData(decodeEvent('UserRegistered', bytes), keys), user);
  });

  it('reads as erased once the user’s key, or the tenant’s, is destroyed', async () => {
    for (const subject of [userSubject(user.data.userId), tenantSubject(user.data.tenantId!)]) {
      const keys = memoryDataKeyStore();
      const bytes = await sealedBytes(keys);
      await keys.destroy(subject);
      const opened = await openPersonalData(decodeEvent('UserRegistered', bytes), keys);
      assert.equal(opened.data.email, erasedEmail(user.data.userId));
      assert.equal(opened.data.passwordHash, '');
      assert.equal(opened.data.role, user.data.role);
    }
  });

  it('is not written at all for a subject already erased', async () => {
    const keys = memoryDataKeyStore();
    await keys.destroy(userSubject(user.data.userId));
    const bytes = await sealedBytes(keys);
    const opened = await openPersonalData(decodeEvent('UserRegistered', bytes), keys);
    assert.equal(opened.data.email, erasedEmail(user.data.userId));
  });

  it('a changed ciphertext reads as erased, never as a crash', async () => {
    const keys = memoryDataKeyStore();
    const value = await sealPersonalData('TenantProvisioned', toAvro(sampleEvents.TenantProvisioned), keys);
    const sealed = value.data.personalData as { ciphertext: Buffer };
    sealed.ciphertext[0]! ^= 1;
    const bytes = eventSchemas.TenantProvisioned.type.toBuffer(value);
    const opened = await openPersonalData(decodeEvent('TenantProvisioned', bytes), keys);
    assert.equal(opened.data.name, 'erased');
  });

  it('an event written before sealing (clear fields) still reads as written', async () => {
    const bytes = eventSchemas.ApiKeyIssued.type.toBuffer(toAvro(sampleEvents.ApiKeyIssued));
    assert.deepStrictEqual(
      await openPersonalData(decodeEvent('ApiKeyIssued', bytes), memoryDataKeyStore()),
      sampleEvents.ApiKeyIssued,
    );
  });

  it('a reader without data keys refuses a sealed event rather than guessing', async () => {
    const bytes = await sealedBytes(memoryDataKeyStore());
    await assert.rejects(openPersonalData(decodeEvent('UserRegistered', bytes), undefined), /no data keys/);
  });
});
