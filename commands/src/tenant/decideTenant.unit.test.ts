import { describe, it } from 'node:test';
import type { TenantEvent, TenantLimits, TenantStorage } from '@deeplens/events/tenantEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata } from '../testing/testContext.ts';
import { plans } from './plans.ts';
import type { TenantCommand } from './tenantCommands.ts';
import { tenantDecider } from './tenantDecider.ts';

const { given } = deciderSpec(tenantDecider);
const tenantId = 'tenant-1';
const metadata = testContext();
const custom: TenantLimits = { maxImages: 5, maxBytes: 5_000, maxImageBytes: 1_000, requestsPerMinute: 10 };
const storage: TenantStorage = {
  endpoint: 'https://s3.example.com',
  bucket: 'acme',
  region: 'eu-west-1',
  prefix: 'images/',
  accessKeyId: 'AKIA1',
  encryptedSecret: 'v1:ciphertext',
  kind: 's3',
  credential: null,
  path: null,
};

const provisioned: TenantEvent = {
  type: 'TenantProvisioned',
  data: { tenantId, slug: 'acme', name: 'Acme', plan: 'free', limits: plans.free, databaseTarget: null },
  metadata: testMetadata(tenantId, 1, tenantId),
};
const suspended: TenantEvent = {
  type: 'TenantSuspended',
  data: { tenantId, reason: 'unpaid' },
  metadata: testMetadata(tenantId, 2, tenantId),
};
const deleted: TenantEvent = {
  type: 'TenantDeleted',
  data: { tenantId, slug: 'acme' },
  metadata: testMetadata(tenantId, 2, tenantId),
};

const provision: TenantCommand = {
  type: 'ProvisionTenant',
  data: { tenantId, slug: 'acme', name: 'Acme', plan: 'free' },
  metadata,
};
const changePlan = (data: { plan: 'free' | 'pro' | 'enterprise'; limits?: TenantLimits }): TenantCommand => ({
  type: 'ChangeTenantPlan',
  data: { tenantId, ...data },
  metadata,
});
const configureStorage = (s: TenantStorage): TenantCommand => ({
  type: 'ConfigureTenantStorage',
  data: { tenantId, ...s },
  metadata,
});
const suspend: TenantCommand = { type: 'SuspendTenant', data: { tenantId, reason: 'unpaid' }, metadata };
const reactivate: TenantCommand = { type: 'ReactivateTenant', data: { tenantId }, metadata };
const remove: TenantCommand = { type: 'DeleteTenant', data: { tenantId }, metadata };

describe('ProvisionTenant', () => {
  it('provisions a tenant with its plan limits', () => {
    given([]).when(provision).then([provisioned]);
  });

  it('takes custom limits and bring-your-own storage', () => {
    given([])
      .when({ ...provision, data: { ...provision.data, plan: 'enterprise', limits: custom, storage } })
      .then([
        {
          type: 'TenantProvisioned',
          data: {
            tenantId,
            slug: 'acme',
            name: 'Acme',
            plan: 'enterprise',
            limits: custom,
            databaseTarget: null,
          },
          metadata: testMetadata(tenantId, 1, tenantId, 0),
        },
        {
          type: 'TenantStorageConfigured',
          data: { tenantId, ...storage },
          metadata: testMetadata(tenantId, 2, tenantId, 1),
        },
      ]);
  });

  it('refuses an existing tenant', () => {
    given([provisioned]).when(provision).then(ConflictError);
  });

  it('refuses to reuse a deleted tenant id', () => {
    given([provisioned, deleted]).when(provision).then(ConflictError);
  });

  it('refuses limits that are not positive integers', () => {
    given([])
      .when({ ...provision, data: { ...provision.data, limits: { ...custom, maxImages: 0 } } })
      .then(ValidationError, /maxImages/);
  });

  it('refuses a single-image limit above the total', () => {
    given([])
      .when({ ...provision, data: { ...provision.data, limits: { ...custom, maxImageBytes: 10_000 } } })
      .then(ValidationError);
  });

  it('refuses storage whose endpoint is not a URL', () => {
    given([])
      .when({ ...provision, data: { ...provision.data, storage: { ...storage, endpoint: 'not a url' } } })
      .then(ValidationError);
  });

  it('needs an event id for every event', () => {
    given([])
      .when({
        ...provision,
        data: { ...provision.data, storage },
        metadata: testContext({ eventIds: ['only-one'] }),
      })
      .then(Error, /1 event ids, 2 needed/);
  });
});

describe('ChangeTenantPlan', () => {
  it('moves the tenant to the new plan and its limits', () => {
    given([provisioned])
      .when(changePlan({ plan: 'pro' }))
      .then([
        {
          type: 'TenantPlanChanged',
          data: { tenantId, plan: 'pro', limits: plans.pro, databaseTarget: null },
          metadata: testMetadata(tenantId, 2, tenantId),
        },
      ]);
  });

  it('gives custom limits', () => {
    given([provisioned])
      .when(changePlan({ plan: 'free', limits: custom }))
      .then([
        {
          type: 'TenantPlanChanged',
          data: { tenantId, plan: 'free', limits: custom, databaseTarget: null },
          metadata: testMetadata(tenantId, 2, tenantId),
        },
      ]);
  });

  it('is a no-op for the plan and limits the tenant already has', () => {
    given([provisioned])
      .when(changePlan({ plan: 'free' }))
      .then([]);
  });

  it('is allowed while suspended (an upgrade may be what lifts it)', () => {
    given([provisioned, suspended])
      .when(changePlan({ plan: 'pro' }))
      .then([
        {
          type: 'TenantPlanChanged',
          data: { tenantId, plan: 'pro', limits: plans.pro, databaseTarget: null },
          metadata: testMetadata(tenantId, 3, tenantId),
        },
      ]);
  });

  it('refuses invalid limits', () => {
    given([provisioned])
      .when(changePlan({ plan: 'pro', limits: { ...custom, requestsPerMinute: 1.5 } }))
      .then(ValidationError);
  });

  it('refuses an unknown tenant', () => {
    given([])
      .when(changePlan({ plan: 'pro' }))
      .then(NotFoundError);
  });
});

describe('ConfigureTenantStorage', () => {
  const configured: TenantEvent = {
    type: 'TenantStorageConfigured',
    data: { tenantId, ...storage },
    metadata: testMetadata(tenantId, 2, tenantId),
  };

  it('records the storage with its encrypted secret', () => {
    given([provisioned]).when(configureStorage(storage)).then([configured]);
  });

  it('records a change of storage', () => {
    given([provisioned, configured])
      .when(configureStorage({ ...storage, bucket: 'acme-2' }))
      .then([
        {
          type: 'TenantStorageConfigured',
          data: { tenantId, ...storage, bucket: 'acme-2' },
          metadata: testMetadata(tenantId, 3, tenantId),
        },
      ]);
  });

  it('is a no-op for the same storage', () => {
    given([provisioned, configured]).when(configureStorage(storage)).then([]);
  });

  it('refuses storage without a bucket or secret', () => {
    given([provisioned])
      .when(configureStorage({ ...storage, bucket: '', encryptedSecret: '' }))
      .then(ValidationError, /bucket, encryptedSecret/);
  });
});

describe('SuspendTenant and ReactivateTenant', () => {
  it('suspends an active tenant', () => {
    given([provisioned]).when(suspend).then([suspended]);
  });

  it('is a no-op on a suspended tenant', () => {
    given([provisioned, suspended]).when(suspend).then([]);
  });

  it('needs a reason', () => {
    given([provisioned])
      .when({ ...suspend, data: { tenantId, reason: ' ' } })
      .then(ValidationError);
  });

  it('reactivates a suspended tenant', () => {
    given([provisioned, suspended])
      .when(reactivate)
      .then([
        { type: 'TenantReactivated', data: { tenantId }, metadata: testMetadata(tenantId, 3, tenantId) },
      ]);
  });

  it('reactivating an active tenant is a no-op', () => {
    given([provisioned]).when(reactivate).then([]);
  });
});

describe('DeleteTenant', () => {
  it('deletes an active tenant', () => {
    given([provisioned]).when(remove).then([deleted]);
  });

  it('deletes a suspended tenant', () => {
    given([provisioned, suspended])
      .when(remove)
      .then([{ ...deleted, metadata: testMetadata(tenantId, 3, tenantId) }]);
  });

  it('refuses an unknown tenant', () => {
    given([]).when(remove).then(NotFoundError);
  });
});

describe('a deleted tenant', () => {
  const commands: TenantCommand[] = [
    changePlan({ plan: 'pro' }),
    configureStorage(storage),
    suspend,
    reactivate,
    remove,
  ];
  for (const command of commands) {
    it(`answers ${command.type} with NotFoundError`, () => {
      given([provisioned, deleted]).when(command).then(NotFoundError);
    });
  }
});

describe('a dedicated database (enterprise)', () => {
  const enterprise = plans.enterprise;
  const dedicated: TenantEvent = {
    type: 'TenantProvisioned',
    data: {
      tenantId,
      slug: 'acme',
      name: 'Acme',
      plan: 'enterprise',
      limits: enterprise,
      databaseTarget: 'default',
    },
    metadata: testMetadata(tenantId, 1, tenantId),
  };
  const provisionOn = (plan: 'free' | 'enterprise', databaseTarget: string): TenantCommand => ({
    type: 'ProvisionTenant',
    data: { tenantId, slug: 'acme', name: 'Acme', plan, databaseTarget },
    metadata,
  });
  const moveTo = (plan: 'pro' | 'enterprise', databaseTarget?: string): TenantCommand => ({
    type: 'ChangeTenantPlan',
    data: { tenantId, plan, ...(databaseTarget ? { databaseTarget } : {}) },
    metadata,
  });

  it('is given on provisioning an enterprise tenant, naming a configured server', () => {
    given([]).when(provisionOn('enterprise', 'default')).then([dedicated]);
  });

  it('is refused below the enterprise plan, and for a name that is not a server name', () => {
    given([]).when(provisionOn('free', 'default')).then(ValidationError);
    given([]).when(provisionOn('enterprise', 'postgres://u:p@db/x')).then(ValidationError);
  });

  it('moves a shared tenant on its change to enterprise', () => {
    given([provisioned])
      .when(moveTo('enterprise', 'eu'))
      .then([
        {
          type: 'TenantPlanChanged',
          data: { tenantId, plan: 'enterprise', limits: enterprise, databaseTarget: 'eu' },
          metadata: testMetadata(tenantId, 2, tenantId),
        },
      ]);
  });

  it('keeps a dedicated tenant where it is: the same server again is a no-op, another or a lower plan a conflict', () => {
    given([dedicated]).when(moveTo('enterprise', 'default')).then([]);
    given([dedicated]).when(moveTo('enterprise', 'eu')).then(ConflictError);
    given([dedicated]).when(moveTo('pro')).then(ConflictError);
  });
});

describe('storage kinds (issue #20)', () => {
  const azure: TenantStorage = {
    kind: 'azure',
    endpoint: 'https://acme.blob.core.windows.net',
    bucket: 'acme-images',
    region: '',
    prefix: '',
    accessKeyId: 'acme',
    encryptedSecret: 'v1:sealed-key',
    credential: 'sharedKey',
    path: null,
  };
  const path: TenantStorage = {
    kind: 'path',
    endpoint: '',
    bucket: '',
    region: '',
    prefix: '',
    accessKeyId: '',
    encryptedSecret: '',
    credential: null,
    path: 'acme/images',
  };
  const configured = (s: TenantStorage, version = 2): TenantEvent => ({
    type: 'TenantStorageConfigured',
    data: { tenantId, ...s },
    metadata: testMetadata(tenantId, version, tenantId),
  });

  it('records Azure storage with its sealed credential, and a path', () => {
    given([provisioned])
      .when(configureStorage(azure))
      .then([configured(azure)]);
    given([provisioned])
      .when(configureStorage(path))
      .then([configured(path)]);
  });

  it('spells out the kind of S3 storage given without one (the shape from before kinds)', () => {
    const { kind: _kind, credential: _credential, path: _path, ...old } = storage;
    given([provisioned])
      .when(configureStorage(old))
      .then([configured(storage)]);
    given([provisioned, configured(storage)])
      .when(configureStorage(old))
      .then([]);
  });

  it('a change of kind over the same fields is a change', () => {
    given([provisioned, configured(azure)])
      .when(configureStorage({ ...azure, credential: 'sasToken' }))
      .then([configured({ ...azure, credential: 'sasToken' }, 3)]);
  });

  it('refuses Azure without a credential kind or secret, a path with ".." or absolute, a path with a secret, an unknown kind', () => {
    given([provisioned])
      .when(configureStorage({ ...azure, credential: null }))
      .then(ValidationError);
    given([provisioned])
      .when(configureStorage({ ...azure, encryptedSecret: '' }))
      .then(ValidationError);
    given([provisioned])
      .when(configureStorage({ ...path, path: '../other-tenant' }))
      .then(ValidationError);
    given([provisioned])
      .when(configureStorage({ ...path, path: '/etc' }))
      .then(ValidationError);
    given([provisioned])
      .when(configureStorage({ ...path, encryptedSecret: 'v1:x' }))
      .then(ValidationError);
    given([provisioned])
      .when(configureStorage({ ...azure, kind: 'ftp' as unknown as 's3' }))
      .then(ValidationError);
  });
});
