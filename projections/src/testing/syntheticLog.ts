import type { DomainEvent } from '@deeplens/events/domainEvent';
import type { EventMetadata } from '@deeplens/events/event';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { deterministicUuid } from '@deeplens/platform/ids';

/**
 * A deterministic, realistic event log for projection tests and the replay benchmark: tenants
 * with users and API keys, images uploaded, embedded (small vectors), failed, thumbnailed,
 * re-tagged and deleted, and optionally an erased tenant. Each aggregate's events are in
 * version order; aggregates are interleaved as the write side would publish them.
 */
export type SyntheticLogOptions = {
  seed: string;
  tenants: number;
  imagesPerTenant: number;
  dim: number;
  /** Suspend, then erase, the last tenant (its events stay in the log). */
  eraseLastTenant?: boolean;
  startAt?: number;
  model?: { modelId: string; modelVersion: string };
};

export const testModel = { modelId: 'test-model', modelVersion: '1.0.0' };

export function syntheticLog(options: SyntheticLogOptions): DomainEvent[] {
  const model = options.model ?? testModel;
  let clock = options.startAt ?? Date.UTC(2025, 5, 1);
  let rnd = hash32(options.seed);
  const random = () => {
    rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0;
    return rnd / 2 ** 32;
  };
  const meta = (aggregateId: string, version: number, tenantId: string | null): EventMetadata => ({
    eventId: deterministicUuid(options.seed, aggregateId, String(version)),
    aggregateId,
    aggregateVersion: version,
    tenantId,
    occurredAt: (clock += 1),
    correlationId: deterministicUuid(options.seed, 'correlation', aggregateId),
    causationId: null,
    actor: 'system:test',
  });
  const streams: DomainEvent[][] = [];
  const tenantStreams: DomainEvent[][] = [];
  for (let t = 0; t < options.tenants; t++) {
    const tenantId = deterministicUuid(options.seed, 'tenant', String(t));
    const erase = options.eraseLastTenant === true && t === options.tenants - 1;
    const limits = {
      maxImages: 1_000_000,
      maxBytes: 2 ** 40,
      maxImageBytes: 2 ** 25,
      requestsPerMinute: 600,
    };
    const tenant: DomainEvent[] = [
      {
        type: 'TenantProvisioned',
        data: { tenantId, slug: `t${t}-${options.seed}`, name: `Tenant ${t}`, plan: 'pro', limits },
        metadata: meta(tenantId, 1, tenantId),
      },
      {
        type: 'TenantPlanChanged',
        data: { tenantId, plan: 'enterprise', limits: { ...limits, maxImages: 2_000_000 } },
        metadata: meta(tenantId, 2, tenantId),
      },
    ];
    if (t === 0) {
      tenant.push({
        type: 'TenantStorageConfigured',
        data: {
          tenantId,
          endpoint: 'http://127.0.0.1:18333',
          bucket: 'byo',
          region: 'us-east-1',
          prefix: 'dl/',
          accessKeyId: 'AKIA',
          encryptedSecret: 'v1:cipher',
        },
        metadata: meta(tenantId, 3, tenantId),
      });
    }
    tenantStreams.push(tenant);
    const userId = deterministicUuid(options.seed, 'user', String(t));
    streams.push([
      {
        type: 'UserRegistered',
        data: {
          userId,
          tenantId,
          email: `admin${t}@${options.seed}.example`,
          passwordHash: `$argon2id$hash${t}`,
          role: 'tenant_admin',
        },
        metadata: meta(userId, 1, tenantId),
      },
      {
        type: 'UserRoleChanged',
        data: { userId, tenantId, role: 'tenant_user', previousRole: 'tenant_admin' },
        metadata: meta(userId, 2, tenantId),
      },
    ]);
    for (let k = 0; k < 2; k++) {
      const keyId = deterministicUuid(options.seed, 'key', String(t), String(k));
      const prefix = keyId.replaceAll('-', '').slice(0, 8);
      const key: DomainEvent[] = [
        {
          type: 'ApiKeyIssued',
          data: {
            keyId,
            tenantId,
            name: `key ${k}`,
            prefix,
            secretHash: 'ab'.repeat(32),
            scopes: ['search'],
            expiresAt: null,
          },
          metadata: meta(keyId, 1, tenantId),
        },
      ];
      if (k === 1)
        key.push({
          type: 'ApiKeyRevoked',
          data: { keyId, tenantId, prefix, reason: 'rotated' },
          metadata: meta(keyId, 2, tenantId),
        });
      streams.push(key);
    }
    for (let i = 0; i < options.imagesPerTenant; i++) {
      streams.push(imageStream(tenantId, deterministicUuid(options.seed, 'image', String(t), String(i)), i));
    }
    if (erase) {
      tenant.push({
        type: 'TenantSuspended',
        data: { tenantId, reason: 'closing' },
        metadata: meta(tenantId, tenant.length + 1, tenantId),
      });
    }
  }

  function imageStream(tenantId: string, imageId: string, i: number): ImageEvent[] {
    const sha256 = deterministicUuid(imageId, 'sha').replaceAll('-', '').repeat(2);
    const bytes = 1000 + Math.floor(random() * 100_000);
    const tags = [i % 2 === 0 ? 'even' : 'odd', ...(i % 10 === 0 ? ['tenth'] : [])];
    const attributes = { shelf: String(i % 5) };
    const events: ImageEvent[] = [
      {
        type: 'ImageUploaded',
        data: {
          tenantId,
          imageId,
          objectKey: `sha256/${sha256}`,
          sha256,
          mime: 'image/jpeg',
          bytes,
          width: 640,
          height: 480,
          filename: `img-${i}.jpg`,
          tags,
          attributes,
          source: 'http',
        },
        metadata: meta(imageId, 1, tenantId),
      },
    ];
    const roll = random();
    const next = () => events.length + 1;
    if (roll < 0.1) {
      events.push({
        type: 'ImageEmbeddingFailed',
        data: { tenantId, imageId, ...model, reason: 'corrupt image', retriable: false },
        metadata: meta(imageId, next(), tenantId),
      });
    } else {
      const vector = Float32Array.from({ length: options.dim }, () => random() * 2 - 1);
      events.push({
        type: 'ImageEmbedded',
        data: { tenantId, imageId, ...model, dim: options.dim, vector },
        metadata: meta(imageId, next(), tenantId),
      });
      events.push({
        type: 'ThumbnailGenerated',
        data: {
          tenantId,
          imageId,
          objectKey: `thumbnails/${imageId}.webp`,
          width: 256,
          height: 192,
          mime: 'image/webp',
        },
        metadata: meta(imageId, next(), tenantId),
      });
    }
    if (random() < 0.2) {
      events.push({
        type: 'ImageMetadataUpdated',
        data: {
          tenantId,
          imageId,
          tags: [...tags, 'curated'],
          attributes: { ...attributes, reviewed: 'yes' },
        },
        metadata: meta(imageId, next(), tenantId),
      });
    }
    if (random() < 0.1) {
      events.push({
        type: 'ImageDeleted',
        data: { tenantId, imageId, objectKey: `sha256/${sha256}`, sha256, bytes },
        metadata: meta(imageId, next(), tenantId),
      });
    }
    return events;
  }

  // Interleave: one event of each open stream in turn, as concurrent commands would publish them.
  const all = [...tenantStreams, ...streams];
  const out: DomainEvent[] = [];
  const queues = all.map((s) => [...s]);
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const q of queues) {
      const e = q.shift();
      if (e) {
        out.push(e);
        progressed = true;
      }
    }
  }
  if (options.eraseLastTenant) {
    const tenantId = deterministicUuid(options.seed, 'tenant', String(options.tenants - 1));
    const version = tenantStreams.at(-1)!.length + 1;
    out.push({
      type: 'TenantDeleted',
      data: { tenantId, slug: `t${options.tenants - 1}-${options.seed}` },
      metadata: meta(tenantId, version, tenantId),
    });
  }
  return out;
}

/** Events for `count` more images of a tenant (uploaded, embedded), e.g. continuous ingest. */
export function moreImages(
  seed: string,
  tenantId: string,
  from: number,
  count: number,
  dim: number,
): ImageEvent[] {
  const out: ImageEvent[] = [];
  let at = Date.UTC(2025, 6, 1) + from * 10;
  for (let i = from; i < from + count; i++) {
    const imageId = deterministicUuid(seed, 'more', tenantId, String(i));
    const sha256 = deterministicUuid(imageId, 'sha').replaceAll('-', '').repeat(2);
    const m = (version: number): EventMetadata => ({
      eventId: deterministicUuid(seed, imageId, String(version)),
      aggregateId: imageId,
      aggregateVersion: version,
      tenantId,
      occurredAt: (at += 1),
      correlationId: imageId,
      causationId: null,
      actor: 'system:test',
    });
    const vector = Float32Array.from({ length: dim }, (_, j) => Math.sin(i * 31 + j * 7));
    out.push(
      {
        type: 'ImageUploaded',
        data: {
          tenantId,
          imageId,
          objectKey: `sha256/${sha256}`,
          sha256,
          mime: 'image/png',
          bytes: 5000 + i,
          width: 10,
          height: 10,
          filename: `more-${i}.png`,
          tags: ['more'],
          attributes: {},
          source: 'intake',
        },
        metadata: m(1),
      },
      { type: 'ImageEmbedded', data: { tenantId, imageId, ...testModel, dim, vector }, metadata: m(2) },
    );
  }
  return out;
}

function hash32(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}
