import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseCliArguments } from './cliArguments.ts';
import { runCommand } from './cliCommands.ts';
import { loadCredentials, saveCredentials } from './credentialsStore.ts';

const writeUrl = 'http://write.test:1';
const readUrl = 'http://read.test:2';
const token = (exp: number) =>
  [
    'e30',
    Buffer.from(JSON.stringify({ sub: 'u', tenant_id: null, role: 'platform_admin', exp })).toString(
      'base64url',
    ),
    's',
  ].join('.');
const unauthorized = (detail: string) =>
  Response.json(
    { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'unauthenticated', detail },
    { status: 401, headers: { 'content-type': 'application/problem+json' } },
  );

/** A server that has forgotten every session: refresh and logout answer 401, sign-in works. */
function forgetfulServer(seen: string[]) {
  return async (request: Request) => {
    const path = new URL(request.url).pathname;
    seen.push(`${request.method} ${path}${request.headers.has('authorization') ? ' (authorised)' : ''}`);
    if (path === '/v1/auth/token')
      return Response.json({
        access_token: token(Date.now() / 1000 + 900),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: 'fresh',
      });
    return unauthorized('unknown refresh token');
  };
}

async function run(t: TestContext, argv: string[], prepare?: (file: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'deeplens', 'credentials.json');
  await prepare?.(file);
  const seen: string[] = [];
  const lines: string[] = [];
  const { command, global } = parseCliArguments(argv);
  await runCommand(command, {
    global,
    env: {},
    credentialsFile: file,
    out: (line) => lines.push(line),
    stderr: process.stderr,
    readSecret: async () => 'a password of sorts',
    fetch: forgetfulServer(seen),
  });
  return { file, seen, lines };
}

const staleSession = (file: string) =>
  saveCredentials(file, {
    writeUrl,
    readUrl,
    email: 'old@example.com',
    accessToken: token(1),
    refreshToken: 'forgotten',
    savedAt: '',
  });

describe('login and logout after the server forgot the session', () => {
  it('login replaces the stale credentials without trying to refresh them', async (t) => {
    const { file, seen } = await run(t, ['login', '--email', 'new@example.com'], staleSession);
    assert.deepEqual(seen, ['POST /v1/auth/token']);
    const saved = await loadCredentials(file);
    assert.equal(saved?.email, 'new@example.com');
    assert.equal(saved?.refreshToken, 'fresh');
    assert.equal(saved?.writeUrl, writeUrl, 'the stored server is still the default one');
  });

  it('logout forgets the credentials locally although the server refuses to end the session', async (t) => {
    const { file, seen, lines } = await run(t, ['logout'], staleSession);
    assert.deepEqual(seen, ['POST /v1/auth/logout']);
    assert.equal(await loadCredentials(file), undefined);
    assert.match(
      lines.join('\n'),
      /^Signed out; stored credentials removed \(the server did not end the session: unknown refresh token/,
    );
  });

  it('login replaces a damaged credentials file', async (t) => {
    const { file } = await run(
      t,
      ['login', '--email', 'new@example.com', '--write-url', writeUrl, '--read-url', readUrl],
      async (path) => {
        await saveCredentials(path, { writeUrl, readUrl, savedAt: '' });
        await writeFile(path, '{ not json');
      },
    );
    assert.equal((await loadCredentials(file))?.email, 'new@example.com');
  });
});

describe('recover on the command line', () => {
  it('takes --force or --verify, not both', () => {
    assert.deepEqual(parseCliArguments(['recover']).command, { name: 'recover', mode: 'recover' });
    assert.deepEqual(parseCliArguments(['recover', '--verify']).command, { name: 'recover', mode: 'verify' });
    assert.throws(() => parseCliArguments(['recover', '--force', '--verify']), /not both/);
  });
});
