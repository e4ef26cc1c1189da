import type { DeepLensEventType, EventOfType } from '../domainEvent.ts';
import type { EventMetadata } from '../event.ts';
import type { IntakeEnvelope } from '../intakeRecords.ts';

/**
 * One realistic value of every event, built with the TypeScript types (so the compiler checks
 * them) and used by the tests that prove types and schemas agree. Nullable fields are set, so
 * the round trip exercises their non-null branch. Reusable by other packages' tests.
 */

const tenantId = '7d0c9a4e-3f57-4b1e-9d7e-2a1f0c8b5e61';
const userId = 'a3c1e2f0-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
const keyId = 'b4d2f3a1-6c7e-4f80-9b0c-1d2e3f4a5b6c';
const imageId = 'c5e3a4b2-7d8f-4a91-8c1d-2e3f4a5b6c7d';
const sha256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

export function sampleMetadata(aggregateId: string, aggregateVersion: number): EventMetadata {
  return {
    eventId: `00000000-0000-4000-8000-${String(aggregateVersion).padStart(12, '0')}`,
    aggregateId,
    aggregateVersion,
    tenantId,
    occurredAt: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
    correlationId: 'e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7',
    causationId: 'f2a3b4c5-d6e7-4f80-91a2-b3c4d5e6f7a8',
    actor: `user:${userId}`,
  };
}

const limits = {
  maxImages: 100_000,
  maxBytes: 100 * 2 ** 30,
  maxImageBytes: 25 * 2 ** 20,
  requestsPerMinute: 600,
};

export const sampleEvents: { readonly [T in DeepLensEventType]: EventOfType<T> } = {
  TenantProvisioned: {
    type: 'TenantProvisioned',
    data: { tenantId, slug: 'acme', name: 'Acme Inc.', plan: 'pro', limits, databaseTarget: null },
    metadata: sampleMetadata(tenantId, 1),
  },
  TenantPlanChanged: {
    type: 'TenantPlanChanged',
    data: {
      tenantId,
      plan: 'enterprise',
      limits: { ...limits, maxImages: 10_000_000 },
      databaseTarget: 'default',
    },
    metadata: sampleMetadata(tenantId, 2),
  },
  TenantStorageConfigured: {
    type: 'TenantStorageConfigured',
    data: {
      tenantId,
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      bucket: 'acme-images',
      region: 'eu-west-1',
      prefix: 'deeplens/',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      encryptedSecret: 'v1:aes-256-gcm:bm9uY2U=:Y2lwaGVydGV4dA==',
      kind: 's3',
      credential: null,
      path: null,
    },
    metadata: sampleMetadata(tenantId, 3),
  },
  TenantSuspended: {
    type: 'TenantSuspended',
    data: { tenantId, reason: 'invoice overdue' },
    metadata: sampleMetadata(tenantId, 4),
  },
  TenantReactivated: { type: 'TenantReactivated', data: { tenantId }, metadata: sampleMetadata(tenantId, 5) },
  TenantDeleted: {
    type: 'TenantDeleted',
    data: { tenantId, slug: 'acme' },
    metadata: sampleMetadata(tenantId, 6),
  },
  StorageMoveStarted: {
    type: 'StorageMoveStarted',
    data: {
      tenantId,
      moveId: '5b0c2f43-2d7e-4f0a-9a55-3a1f6f9c0d11',
      toPlatform: true,
      from: 's3 https://s3.eu-west-1.amazonaws.com acme-images/deeplens/',
      to: 'platform',
    },
    metadata: sampleMetadata(tenantId, 4),
  },
  StorageMoveProgressed: {
    type: 'StorageMoveProgressed',
    data: {
      tenantId,
      moveId: '5b0c2f43-2d7e-4f0a-9a55-3a1f6f9c0d11',
      cursor: '0b7e5a1c-8f43-4d2e-9c1a-2f6e7d8c9b0a',
      objects: 50,
      bytes: 6_291_456,
    },
    metadata: sampleMetadata(tenantId, 5),
  },
  StorageMoveVerified: {
    type: 'StorageMoveVerified',
    data: { tenantId, moveId: '5b0c2f43-2d7e-4f0a-9a55-3a1f6f9c0d11', objects: 120, bytes: 15_728_640 },
    metadata: sampleMetadata(tenantId, 6),
  },
  StorageMoveCompleted: {
    type: 'StorageMoveCompleted',
    data: { tenantId, moveId: '5b0c2f43-2d7e-4f0a-9a55-3a1f6f9c0d11' },
    metadata: sampleMetadata(tenantId, 7),
  },
  StorageMoveFailed: {
    type: 'StorageMoveFailed',
    data: {
      tenantId,
      moveId: '5b0c2f43-2d7e-4f0a-9a55-3a1f6f9c0d11',
      reason: 'images/ab/ab12… is in neither storage',
    },
    metadata: sampleMetadata(tenantId, 7),
  },
  UserRegistered: {
    type: 'UserRegistered',
    data: {
      userId,
      tenantId,
      email: 'ada@acme.example',
      passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
      role: 'tenant_admin',
    },
    metadata: sampleMetadata(userId, 1),
  },
  UserRoleChanged: {
    type: 'UserRoleChanged',
    data: { userId, tenantId, role: 'tenant_user', previousRole: 'tenant_admin' },
    metadata: sampleMetadata(userId, 2),
  },
  UserDisabled: {
    type: 'UserDisabled',
    data: { userId, tenantId, reason: 'left the company' },
    metadata: sampleMetadata(userId, 3),
  },
  UserErased: {
    type: 'UserErased',
    data: { userId, tenantId },
    metadata: sampleMetadata(userId, 4),
  },
  ApiKeyIssued: {
    type: 'ApiKeyIssued',
    data: {
      keyId,
      tenantId,
      name: 'catalogue sync',
      prefix: 'dl_7Hk2Q',
      secretHash: sha256,
      scopes: ['images:write', 'search'],
      expiresAt: Date.UTC(2026, 0, 1),
    },
    metadata: sampleMetadata(keyId, 1),
  },
  ApiKeyRevoked: {
    type: 'ApiKeyRevoked',
    data: { keyId, tenantId, prefix: 'dl_7Hk2Q', reason: 'leaked' },
    metadata: sampleMetadata(keyId, 2),
  },
  IntakeKeyRegistered: {
    type: 'IntakeKeyRegistered',
    data: {
      keyId,
      tenantId,
      name: 'catalogue sync',
      algorithm: 'Ed25519',
      publicKey:
        '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEArEFA7Gvlqbesvi7ufvZ7w0DQUN0kEV6HK+V80deMPAs=\n-----END PUBLIC KEY-----\n',
    },
    metadata: sampleMetadata(keyId, 1),
  },
  IntakeKeyRevoked: {
    type: 'IntakeKeyRevoked',
    data: { keyId, tenantId, reason: 'rotated' },
    metadata: sampleMetadata(keyId, 2),
  },
  ImageUploaded: {
    type: 'ImageUploaded',
    data: {
      tenantId,
      imageId,
      objectKey: `sha256/${sha256}`,
      sha256,
      mime: 'image/jpeg',
      bytes: 204_800,
      width: 1024,
      height: 768,
      filename: 'beach.jpg',
      tags: ['holiday', 'sea'],
      attributes: { camera: 'X100V', album: 'summer' },
      source: 'http',
    },
    metadata: sampleMetadata(imageId, 1),
  },
  ImageEmbedded: {
    type: 'ImageEmbedded',
    data: {
      tenantId,
      imageId,
      modelId: 'mobilenet-v2-140-gap',
      modelVersion: '1.0.0',
      dim: 4,
      vector: Float32Array.from([0.125, -1.5, 3.1415927, 1e-7]),
      perceptualHash: '8f3a00c4e1d2b697',
      localFeatures: null,
    },
    metadata: sampleMetadata(imageId, 2),
  },
  ImageEmbeddingFailed: {
    type: 'ImageEmbeddingFailed',
    data: {
      tenantId,
      imageId,
      modelId: 'mobilenet-v2-140-gap',
      modelVersion: '1.0.0',
      reason: 'object store unavailable',
      retriable: true,
    },
    metadata: sampleMetadata(imageId, 3),
  },
  ThumbnailGenerated: {
    type: 'ThumbnailGenerated',
    data: {
      tenantId,
      imageId,
      objectKey: `thumbnails/${imageId}.webp`,
      width: 256,
      height: 192,
      mime: 'image/webp',
    },
    metadata: sampleMetadata(imageId, 4),
  },
  ImageMetadataUpdated: {
    type: 'ImageMetadataUpdated',
    data: { tenantId, imageId, tags: ['holiday'], attributes: { camera: 'X100V' } },
    metadata: sampleMetadata(imageId, 5),
  },
  ImageDeleted: {
    type: 'ImageDeleted',
    data: { tenantId, imageId, objectKey: `sha256/${sha256}`, sha256, bytes: 204_800 },
    metadata: sampleMetadata(imageId, 6),
  },
  IntakeRejected: {
    type: 'IntakeRejected',
    data: {
      requestId: 'req-42',
      tenantId,
      reason: 'Image over the plan limit of 25 MiB',
      code: 'payload_too_large',
      topic: 'deeplens.intake.v1',
      partition: 3,
      offset: 1_234_567,
    },
    metadata: { ...sampleMetadata('req-42', 1), actor: 'system:intake' },
  },
  EmbeddingSpaceRetired: {
    type: 'EmbeddingSpaceRetired',
    data: { modelId: 'mobilenet_v2_140_mid', modelVersion: '1', replacedBy: 'mobilenet_v2_140_mid@2-gem3' },
    metadata: {
      ...sampleMetadata('embedding-space:mobilenet_v2_140_mid@1', 1),
      tenantId: null,
      actor: 'system:embedding-space-move',
    },
  },
};

export const sampleIntakeEnvelopes: readonly IntakeEnvelope[] = [
  {
    requestId: 'req-1',
    tenantId,
    command: {
      type: 'RegisterImage',
      data: {
        objectKey: `sha256/${sha256}`,
        sha256,
        mime: 'image/png',
        bytes: 1234,
        width: 32,
        height: 32,
        filename: 'icon.png',
        tags: ['icon'],
        attributes: { sku: 'A-1' },
      },
    },
  },
  {
    requestId: 'req-2',
    tenantId,
    command: { type: 'UpdateImageMetadata', data: { imageId, tags: ['a', 'b'], attributes: null } },
  },
  {
    requestId: 'req-3',
    tenantId,
    command: { type: 'DeleteImage', data: { imageId } },
  },
];
