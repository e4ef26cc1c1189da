import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestError } from '@azure/storage-blob';
import { azureStorageError, isAzureContainerName } from './azureObjectStore.ts';
import { NotFoundError, UnavailableError } from './errors.ts';
import { ObjectStorageError } from './objectStore.ts';

const rest = (statusCode: number | undefined, code?: string) =>
  new RestError('<?xml version="1.0"?><Error>AuthenticationFailed Signature</Error>', { statusCode, code });

describe('azureStorageError: every Blob service failure as one of ours', () => {
  it('404 not found; unreachable or busy 503; refused 502 without the upstream words', () => {
    assert.ok(azureStorageError(rest(404, 'BlobNotFound')) instanceof NotFoundError);
    assert.ok(azureStorageError(rest(404, 'ContainerNotFound')) instanceof NotFoundError);
    for (const status of [408, 429, 500, 502, 503, 504])
      assert.ok(azureStorageError(rest(status, 'ServerBusy')) instanceof UnavailableError, String(status));
    assert.ok(azureStorageError(rest(undefined, 'REQUEST_SEND_ERROR')) instanceof UnavailableError);
    const refused = azureStorageError(rest(403, 'AuthenticationFailed'));
    assert.ok(refused instanceof ObjectStorageError);
    assert.equal(refused.status, 502);
    assert.equal(refused.detail?.['storageCode'], 'AuthenticationFailed');
    assert.doesNotMatch(refused.message, /xml|Signature/i);
    const socket = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    assert.ok(azureStorageError(socket) instanceof UnavailableError);
  });
});

describe('isAzureContainerName: Azure rules, stricter than S3 buckets', () => {
  it('takes 3-63 lowercase letters, digits and single hyphens, letter or digit at both ends', () => {
    for (const name of ['abc', 'deeplens-0b7e5a4c-1f2d-4c3b-9a8e-7d6c5b4a3f21', 'a1-b2', 'x'.repeat(63)])
      assert.ok(isAzureContainerName(name), name);
    for (const name of ['ab', 'x'.repeat(64), 'Acme', 'a--b', '-ab', 'ab-', 'a.b', 'a_b'])
      assert.ok(!isAzureContainerName(name), name);
  });
});
