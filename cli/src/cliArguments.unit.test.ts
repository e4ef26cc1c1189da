import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCliArguments, UsageError } from './cliArguments.ts';

const tenant = '0b8f4c1e-5d6a-4f3b-9c2d-1e2f3a4b5c6d';
const parse = (line: string) => parseCliArguments(line.split(' ').filter(Boolean));
const refused = (line: string, message: RegExp) =>
  assert.throws(
    () => parse(line),
    (e: unknown) => e instanceof UsageError && message.test(e.message),
  );

describe('parseCliArguments', () => {
  it('finds two-word commands and their options, wherever the global options stand', () => {
    assert.deepEqual(parse('--write-url http://w:1/ tenant create acme --name Acme --plan pro --json'), {
      command: { name: 'tenant create', slug: 'acme', tenantName: 'Acme', plan: 'pro' },
      global: { writeUrl: 'http://w:1', json: true },
    });
  });

  it('parses import with defaults, tags sorted and deduplicated, attributes as pairs', () => {
    assert.deepEqual(
      parse('import ./photos --tags b,a --tags a --attributes camera=x100 --attributes year=2024').command,
      {
        name: 'import',
        folder: './photos',
        tags: ['a', 'b'],
        attributes: { camera: 'x100', year: '2024' },
        concurrency: 4,
        wait: false,
        waitTimeoutSeconds: 600,
      },
    );
    assert.equal(
      (parse('import p --concurrency 8 --wait').command as { concurrency: number }).concurrency,
      8,
    );
  });

  it('parses search with k, threshold and repeated tags', () => {
    assert.deepEqual(parse('search cat.jpg --k 5 --threshold 0.8 --tag pets --tag cats').command, {
      name: 'search',
      file: 'cat.jpg',
      k: 5,
      threshold: 0.8,
      tags: ['pets', 'cats'],
    });
    assert.deepEqual(parse('search cat.jpg').command, { name: 'search', file: 'cat.jpg', k: 10, tags: [] });
  });

  it('defaults an API key to every scope and checks the ones given', () => {
    assert.deepEqual(parse(`key create --tenant ${tenant}`).command, {
      name: 'key create',
      tenantId: tenant,
      scopes: ['images:read', 'images:write', 'search'],
    });
    assert.deepEqual(
      (parse(`key create --tenant ${tenant} --scopes search,images:read`).command as { scopes: string[] })
        .scopes,
      ['search', 'images:read'],
    );
    refused(`key create --tenant ${tenant} --scopes admin`, /unknown scopes: admin/);
  });

  it('checks users: a role, and a tenant unless a platform admin', () => {
    assert.deepEqual(parse(`user create a@b.c --tenant ${tenant} --role tenant_admin`).command, {
      name: 'user create',
      email: 'a@b.c',
      tenantId: tenant,
      role: 'tenant_admin',
      generatePassword: false,
    });
    refused('user create a@b.c --role tenant_user', /needs --tenant/);
    refused(`user create a@b.c --role platform_admin --tenant ${tenant}`, /belongs to no tenant/);
    refused(`user create a@b.c --tenant ${tenant} --role boss`, /--role must be one of/);
  });

  it('refuses what it cannot run, saying why', () => {
    refused('frobnicate', /unknown command: frobnicate/);
    refused('search', /search takes <file>/);
    refused('search a.jpg b.jpg', /search takes <file>, not a.jpg b.jpg/);
    refused('search a.jpg --k 0', /--k must be a whole number from 1 to 100/);
    refused('search a.jpg --threshold 2', /--threshold is a cosine similarity/);
    refused('search a.jpg --bogus', /search: unknown option '--bogus'/i);
    refused('search a.jpg --k', /search: option '--k <value>' argument missing/);
    refused('tenant frobnicate', /unknown command: tenant frobnicate/);
    refused('tenant', /unknown command: tenant/);
    refused('status not-a-uuid', /<imageId> must be an id/);
    refused('tenant create acme', /needs --name/);
    refused('login', /needs --email/);
    refused('import p --attributes novalue', /key=value/);
    refused('usage --write-url ftp://x', /http\(s\) URL/);
  });

  it('answers help for no command, help, or --help', () => {
    assert.equal(parse('').command.name, 'help');
    assert.equal(parse('help').command.name, 'help');
    assert.deepEqual(parse('search --help').command, { name: 'help', topic: 'search' });
    assert.deepEqual(parse('tenant create -h').command, { name: 'help', topic: 'tenant create' });
    assert.deepEqual(parse('help search').command, { name: 'help', topic: 'search' });
  });

  it('takes option values as --option=value too, and global options before the command', () => {
    assert.deepEqual(
      parse('--json --read-url=http://r:2 similar 0B8F4C1E-5D6A-4F3B-9C2D-1E2F3A4B5C6D --k=3'),
      {
        command: { name: 'similar', imageId: '0b8f4c1e-5d6a-4f3b-9c2d-1e2f3a4b5c6d', k: 3 },
        global: { readUrl: 'http://r:2', json: true },
      },
    );
  });
});
