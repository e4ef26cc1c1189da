import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect, defaultEndpoints, resolveEndpoints } from './cliConnection.ts';
import { NotSignedInError } from './cliErrors.ts';
import { loadCredentials, saveCredentials } from './credentialsStore.ts';

const stored = { writeUrl: 'http://stored:1', readUrl: 'http://stored:2', savedAt: '' };
const token = (exp: number) =>
  [
    'e30',
    Buffer.from(JSON.stringify({ sub: 'u', tenant_id: null, role: 'platform_admin', exp })).toString(
      'base64url',
    ),
    's',
  ].join('.');

describe('endpoints', () => {
  it('default to the servers’ own host and port variables', () => {
    assert.deepEqual(defaultEndpoints({}), {
      writeUrl: 'http://127.0.0.1:8080',
      readUrl: 'http://127.0.0.1:8090',
    });
    assert.deepEqual(
      defaultEndpoints({ WRITE_API_HOST: '0.0.0.0', WRITE_API_PORT: '9080', READ_API_HOST: '::1' }),
      {
        writeUrl: 'http://127.0.0.1:9080',
        readUrl: 'http://[::1]:8090',
      },
    );
  });

  it('come from the flags, else the environment, else the login, else the defaults', () => {
    const env = { DEEPLENS_WRITE_URL: 'http://env:1/', DEEPLENS_READ_URL: 'http://env:2' };
    assert.deepEqual(resolveEndpoints({ json: false, writeUrl: 'http://flag:1' }, env, stored), {
      writeUrl: 'http://flag:1',
      readUrl: 'http://env:2',
    });
    assert.deepEqual(resolveEndpoints({ json: false }, {}, stored), {
      writeUrl: 'http://stored:1',
      readUrl: 'http://stored:2',
    });
    assert.deepEqual(resolveEndpoints({ json: false }, env), {
      writeUrl: 'http://env:1',
      readUrl: 'http://env:2',
    });
  });
});

describe('connect', () => {
  it('refreshes an expiring stored session and saves the rotated tokens, 0600', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'deeplens', 'credentials.json');
    const now = 1_700_000_000_000;
    await saveCredentials(file, { ...stored, accessToken: token(now / 1000 + 10), refreshToken: 'r1' });
    const fresh = token(now / 1000 + 900);
    const fetch = async (request: Request) => {
      assert.equal(request.url, 'http://stored:1/v1/auth/refresh');
      assert.deepEqual(await request.json(), { refresh_token: 'r1' });
      return Response.json({
        access_token: fresh,
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: 'r2',
      });
    };
    const connection = await connect(
      { json: false },
      {},
      { credentialsFile: file, requireCredentials: true, fetch, now: () => now },
    );
    assert.equal(connection.auth, 'stored session');
    assert.equal(connection.client.token, fresh);
    const saved = await loadCredentials(file);
    assert.equal(saved?.refreshToken, 'r2');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('prefers DEEPLENS_API_KEY, and refuses stored credentials for another server', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'credentials.json');
    await saveCredentials(file, { ...stored, apiKey: 'dl_stored' });
    const options = { credentialsFile: file, requireCredentials: true };
    assert.equal(
      (await connect({ json: false }, { DEEPLENS_API_KEY: 'dl_env' }, options)).auth,
      'DEEPLENS_API_KEY',
    );
    assert.equal((await connect({ json: false }, {}, options)).auth, 'stored API key');
    await assert.rejects(
      connect({ json: false, writeUrl: 'http://elsewhere:1' }, {}, options),
      (e: unknown) => e instanceof NotSignedInError && /are for http:\/\/stored:1/.test(e.message),
    );
  });
});
