import type { TestContext } from 'node:test';
import { createTenantDatabases, type TenantDatabases } from '@deeplens/projections/tenantDatabases';
import type { RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';

/**
 * The dedicated tenant databases of a test's DeepLens (named after its database), to look at
 * what the test made; every one of them is dropped when the test ends.
 */
export function dedicatedDatabases(
  t: Pick<TestContext, 'after'>,
  deeplens: RunningDeepLens,
): TenantDatabases {
  const databases = createTenantDatabases({
    DATABASE_URL: deeplens.env.DATABASE_URL!,
    TENANT_DATABASE_URLS: {},
  });
  t.after(async () => {
    await databases.dropAll();
    await databases.close();
  });
  return databases;
}
