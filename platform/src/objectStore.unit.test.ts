import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { NotFoundError, UnavailableError } from './errors.ts';
import { ObjectStorageError, s3ObjectStore, storageError } from './objectStore.ts';

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

describe('s3ObjectStore against a server that accepts connections and never answers', () => {
  it('fails each call as unavailable (retriable) within its timeout instead of waiting for ever', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const { port } = silent.address() as { port: number };
    const store = s3ObjectStore({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      accessKey: 'test',
      secretKey: 'test-secret',
      timeoutMs: 300,
    });
    for (const [what, call] of [
      ['get', () => store.get('bucket-a', 'images/aa/x')],
      ['put', () => store.put('bucket-a', 'images/aa/x', Buffer.from('x'), 'image/jpeg')],
      ['stat', () => store.stat('bucket-a', 'images/aa/x')],
      ['ensureBucket', () => store.ensureBucket('bucket-a')],
    ] as const) {
      const started = Date.now();
      await assert.rejects(call(), (error) => error instanceof UnavailableError, what);
      assert.ok(Date.now() - started < 5_000, `${what} gave up after its timeout`);
    }
    assert.ok(sockets.size > 0, 'the calls reached the silent server');
  });
});
