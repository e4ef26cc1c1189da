import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError, UnavailableError } from './errors.ts';
import { ObjectStorageError, storageError } from './objectStore.ts';

const s3 = (code: string | undefined, message = 'x') => Object.assign(new Error(message), { code });

describe('storageError: every S3 failure as one of ours', () => {
  it('no such object 404; unreachable or busy 503; anything else 502, without the upstream words', () => {
    for (const code of ['NoSuchKey', 'NotFound', 'NoSuchBucket'])
      assert.ok(storageError(s3(code)) instanceof NotFoundError, code);
    for (const code of [
      'ECONNREFUSED',
      'ETIMEDOUT',
      'ENOTFOUND',
      'SlowDown',
      'ServiceUnavailable',
      'InternalError',
    ])
      assert.ok(storageError(s3(code)) instanceof UnavailableError, code);
    // Wrapped socket errors are outages too.
    const wrapped = Object.assign(new Error('request failed'), { cause: s3('ECONNRESET') });
    assert.ok(storageError(wrapped) instanceof UnavailableError);
    for (const error of [
      s3('AccessDenied'),
      s3('SignatureDoesNotMatch'),
      s3(undefined, 'Unexpected token < in XML at position 0'),
      new TypeError('cannot read properties of undefined'),
    ]) {
      const mapped = storageError(error);
      assert.ok(mapped instanceof ObjectStorageError, String(error));
      assert.equal(mapped.status, 502);
      assert.doesNotMatch(mapped.message, /XML|undefined|Signature/);
    }
    assert.equal(storageError(s3('AccessDenied')).detail?.['storageCode'], 'AccessDenied');
  });
});
