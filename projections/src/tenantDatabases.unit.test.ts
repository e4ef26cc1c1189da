import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTenantDatabases, isMissingDatabase } from './tenantDatabases.ts';

const tenantId = '0f8fad5b-d9cb-469f-a165-70867728950e';
const at = (database: string) =>
  createTenantDatabases({
    DATABASE_URL: `postgres://u:p@127.0.0.1:5432/${database}`,
    TENANT_DATABASE_URLS: {},
  });

describe('dedicated tenant database names', () => {
  it('name the installation, the tenant and the generation, within PostgreSQL 63 characters', async () => {
    const databases = at('deeplens_with_a_rather_long_database_name_for_an_installation');
    const name = databases.nameOf(tenantId, 123_456);
    assert.match(name, /^dl[0-9a-f]{8}_0f8fad5bd9cb469fa16570867728950e_g123456$/);
    assert.ok(name.length <= 63);
    assert.notEqual(databases.nameOf(tenantId, 1), databases.nameOf(tenantId, 2));
    assert.notEqual(at('one').nameOf(tenantId, 1), at('two').nameOf(tenantId, 1), 'installations never meet');
    await databases.close();
  });

  it('know only the configured servers', () => {
    const databases = createTenantDatabases({
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/deeplens',
      TENANT_DATABASE_URLS: { eu: 'postgres://u:p@10.0.0.2:5432/postgres' },
    });
    assert.ok(databases.hasTarget('default'));
    assert.ok(databases.hasTarget('eu'));
    assert.ok(!databases.hasTarget('us'));
    assert.ok(!databases.hasTarget('constructor'), 'no prototype key passes for a server');
    void databases.close();
  });

  it('recognise a database that does not exist, also as a cause', () => {
    assert.ok(isMissingDatabase({ code: '3D000' }));
    assert.ok(isMissingDatabase(new Error('wrapped', { cause: { code: '57P01' } })));
    assert.ok(!isMissingDatabase({ code: '42P01' }));
  });
});
