import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TenantEvent, TenantStorage } from '@deeplens/events/tenantEvents';
import { ConflictError } from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata } from '../testing/testContext.ts';
import { plans } from './plans.ts';
import { describeStorage } from './storageMove.ts';
import type { TenantCommand } from './tenantCommands.ts';
import { tenantDecider } from './tenantDecider.ts';

const { given } = deciderSpec(tenantDecider);
const tenantId = 'tenant-1';
const moveId = 'move-1';
const metadata = testContext();
const byo: TenantStorage = {
  endpoint: 'https://s3.example.com',
  bucket: 'acme',
  region: 'eu-west-1',
  prefix: 'images/',
  accessKeyId: 'AKIA1',
  encryptedSecret: 'v1:ciphertext',
};
const byoDescription = describeStorage(byo);

const provisioned: TenantEvent = {
  type: 'TenantProvisioned',
  data: { tenantId, slug: 'acme', name: 'Acme', plan: 'free', limits: plans.free },
  metadata: testMetadata(tenantId, 1, tenantId),
};
const onByo: TenantEvent = {
  type: 'TenantStorageConfigured',
  data: { tenantId, ...byo },
  metadata: testMetadata(tenantId, 2, tenantId),
};
const startedToPlatform: TenantEvent = {
  type: 'StorageMoveStarted',
  data: { tenantId, moveId, toPlatform: true, from: byoDescription, to: 'platform' },
  metadata: testMetadata(tenantId, 3, tenantId),
};
const progressed = (version: number, cursor: string, objects: number, bytes: number): TenantEvent => ({
  type: 'StorageMoveProgressed',
  data: { tenantId, moveId, cursor, objects, bytes },
  metadata: testMetadata(tenantId, version, tenantId),
});
const verified: TenantEvent = {
  type: 'StorageMoveVerified',
  data: { tenantId, moveId, objects: 3, bytes: 300 },
  metadata: testMetadata(tenantId, 5, tenantId),
};
const failed: TenantEvent = {
  type: 'StorageMoveFailed',
  data: { tenantId, moveId, reason: 'images/ab/ab… is in neither storage' },
  metadata: testMetadata(tenantId, 5, tenantId),
};

const start = (target: TenantStorage | null, id = moveId): TenantCommand => ({
  type: 'StartStorageMove',
  data: { tenantId, moveId: id, target },
  metadata,
});
const progress = (cursor: string, objects: number, bytes: number): TenantCommand => ({
  type: 'RecordStorageMoveProgress',
  data: { tenantId, moveId, cursor, objects, bytes },
  metadata,
});
const verify: TenantCommand = {
  type: 'VerifyStorageMove',
  data: { tenantId, moveId, objects: 3, bytes: 300 },
  metadata,
};
const complete: TenantCommand = { type: 'CompleteStorageMove', data: { tenantId, moveId }, metadata };

describe('StartStorageMove', () => {
  it('starts a move to the platform storage: one event, writes switch with it', () => {
    given([provisioned, onByo]).when(start(null)).then([startedToPlatform]);
    const state = [provisioned, onByo, startedToPlatform].reduce(
      tenantDecider.evolve,
      tenantDecider.initialState(),
    );
    assert.ok(state.status === 'active');
    assert.equal(state.storage, null, 'new objects go to the platform storage at once');
    assert.deepEqual(state.storageMove?.from, byo, 'the source is kept for reads and the copy');
    assert.equal(state.storageMove?.status, 'copying');
  });

  it('starts a move to its own storage with the target configured in the same decision', () => {
    given([provisioned])
      .when(start(byo))
      .then([
        {
          type: 'StorageMoveStarted',
          data: { tenantId, moveId, toPlatform: false, from: 'platform', to: byoDescription },
          metadata: testMetadata(tenantId, 2, tenantId),
        },
        {
          type: 'TenantStorageConfigured',
          data: { tenantId, ...byo },
          metadata: testMetadata(tenantId, 3, tenantId, 1),
        },
      ]);
  });

  it('keeps credentials out of the descriptions', () => {
    assert.doesNotMatch(byoDescription, /ciphertext/);
    assert.match(byoDescription, /bucket=acme/);
  });

  it('refuses a second move while one runs, and a move to where the objects are', () => {
    given([provisioned, onByo, startedToPlatform])
      .when(start(byo, 'move-2'))
      .then(ConflictError, /already running/);
    given([provisioned])
      .when(start(null))
      .then(ConflictError, /already in that storage/);
    // The same place with its secret sealed again is the same place.
    given([provisioned, onByo])
      .when(start({ ...byo, encryptedSecret: 'v1:other' }))
      .then(ConflictError, /already in that storage/);
    // Another key to the same bucket and prefix, or the setting written before storage kinds.
    given([provisioned, onByo])
      .when(
        start({ ...byo, kind: 's3', accessKeyId: 'AKIA2', prefix: 'images', credential: null, path: null }),
      )
      .then(ConflictError, /already in that storage/);
  });

  it('refuses to configure storage outright while a move runs', () => {
    given([provisioned, onByo, startedToPlatform])
      .when({ type: 'ConfigureTenantStorage', data: { tenantId, ...byo, bucket: 'other' }, metadata })
      .then(ConflictError, /storage move is running/);
  });

  it('after a failure, starts again only toward the failed target, from the failed source', () => {
    given([provisioned, onByo, startedToPlatform, failed]).when(start(byo, 'move-2')).then(ConflictError);
    const restarted: TenantEvent = {
      type: 'StorageMoveStarted',
      data: { tenantId, moveId: 'move-2', toPlatform: true, from: byoDescription, to: 'platform' },
      metadata: testMetadata(tenantId, 6, tenantId),
    };
    given([provisioned, onByo, startedToPlatform, failed]).when(start(null, 'move-2')).then([restarted]);
    const state = [provisioned, onByo, startedToPlatform, failed, restarted].reduce(
      tenantDecider.evolve,
      tenantDecider.initialState(),
    );
    assert.ok(state.status === 'active');
    assert.deepEqual(state.storageMove?.from, byo);
  });
});

describe('the copier records', () => {
  it('progress forward only: a batch recorded already emits nothing', () => {
    given([provisioned, onByo, startedToPlatform])
      .when(progress('b', 2, 200))
      .then([progressed(4, 'b', 2, 200)]);
    given([provisioned, onByo, startedToPlatform, progressed(4, 'b', 2, 200)])
      .when(progress('b', 2, 200))
      .then([]);
    given([provisioned, onByo, startedToPlatform, progressed(4, 'b', 2, 200)])
      .when(progress('a', 1, 100))
      .then([]);
  });

  it('verification, then completion, each once; completion only after verification', () => {
    given([provisioned, onByo, startedToPlatform, progressed(4, 'c', 3, 300)])
      .when(verify)
      .then([verified]);
    given([provisioned, onByo, startedToPlatform])
      .when(complete)
      .then(ConflictError, /not verified/);
    given([provisioned, onByo, startedToPlatform, progressed(4, 'c', 3, 300), verified])
      .when(complete)
      .then([
        {
          type: 'StorageMoveCompleted',
          data: { tenantId, moveId },
          metadata: testMetadata(tenantId, 6, tenantId),
        },
      ]);
    given([provisioned, onByo, startedToPlatform, progressed(4, 'c', 3, 300), verified])
      .when(verify)
      .then([]);
  });

  it('refuses progress for a move that is not the current one', () => {
    given([provisioned, onByo, startedToPlatform])
      .when({
        type: 'RecordStorageMoveProgress',
        data: { tenantId, moveId: 'other', cursor: 'z', objects: 1, bytes: 1 },
        metadata,
      })
      .then(ConflictError);
  });
});
