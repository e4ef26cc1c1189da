import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import { deepLensEventTypes } from '@deeplens/events/domainEvent';
import { installationEventTypes } from '@deeplens/events/embeddingSpaceEvents';
import { topicOf, topics } from '@deeplens/events/topics';
import { UnprocessableError } from '@deeplens/platform/errors';
import { syntheticLog } from '@deeplens/projections/testing/syntheticLog';
import { imageDecider } from './image/imageDecider.ts';
import { tenantDecider } from './tenant/tenantDecider.ts';
import { testMetadata } from './testing/testContext.ts';
import { foldedEventTypes } from './writeModelAggregates.ts';
import { createWriteModelFold, type LogPosition } from './writeModelFold.ts';

const at = (offset: number): LogPosition => ({
  topic: 'deeplens.tenant.v1',
  partition: 0,
  offset: String(offset),
});

const limits = { maxImages: 10, maxBytes: 10_000, maxImageBytes: 1_000, requestsPerMinute: 60 };
const provisioned = (tenantId: string, slug: string, occurredAt = 1): DomainEvent => ({
  type: 'TenantProvisioned',
  data: { tenantId, slug, name: slug, plan: 'free', limits },
  metadata: { ...testMetadata(tenantId, 1, tenantId), eventId: `${tenantId}-1`, occurredAt },
});
const deleted = (tenantId: string, slug: string, version: number): DomainEvent => ({
  type: 'TenantDeleted',
  data: { tenantId, slug },
  metadata: { ...testMetadata(tenantId, version, tenantId), eventId: `${tenantId}-${version}` },
});
const suspended = (tenantId: string, version: number, eventId = `${tenantId}-${version}`): DomainEvent => ({
  type: 'TenantSuspended',
  data: { tenantId, reason: 'unpaid' },
  metadata: { ...testMetadata(tenantId, version, tenantId), eventId },
});

describe('write-model fold', () => {
  it('has an aggregate for every domain event type (a new event must be listed)', () => {
    const domainTopics = new Set<string>([topics.tenant, topics.identity, topics.image]);
    const domainTypes = deepLensEventTypes.filter(
      (type) =>
        domainTopics.has(topicOf(type)) && !(installationEventTypes as readonly string[]).includes(type),
    );
    assert.deepEqual([...foldedEventTypes()].sort(), [...domainTypes].sort());
  });

  it('folds a log into the states evolve gives, with reservations and usage', () => {
    const log = syntheticLog({
      seed: 'fold',
      tenants: 3,
      imagesPerTenant: 20,
      dim: 4,
      eraseLastTenant: true,
    });
    const fold = createWriteModelFold();
    log.forEach((event, i) => fold.apply(event, at(i)));
    const { aggregates, reservations, usage, clashes } = fold.result();
    assert.equal(fold.applied, log.length);
    assert.equal(clashes.length, 0);

    // Each aggregate's state is its events reduced through its decider's evolve.
    const image = log.find((e) => e.type === 'ImageDeleted')!;
    const imageEvents = log.filter((e) => e.metadata.aggregateId === image.metadata.aggregateId);
    const expected = imageEvents.reduce(
      (s, e) => imageDecider.evolve(s, e as never),
      imageDecider.initialState(),
    );
    const folded = aggregates.find((a) => a.aggregateId === image.metadata.aggregateId)!;
    assert.deepEqual(folded.state, expected);
    assert.equal(folded.version, imageEvents.length);
    assert.equal(folded.aggregateType, 'image');

    // Slugs of live tenants are held; the erased tenant gave its slug back.
    const slugs = reservations.filter((r) => r.kind === 'tenant_slug').map((r) => r.value);
    assert.deepEqual(slugs.sort(), ['t0-fold', 't1-fold']);
    assert.equal(reservations.filter((r) => r.kind === 'user_email').length, 3);
    assert.equal(reservations.filter((r) => r.kind === 'api_key_prefix').length, 6);

    // Usage: uploads less deletes, per tenant.
    for (const [tenantId, counted] of usage) {
      const uploads = log.filter((e) => e.type === 'ImageUploaded' && e.data.tenantId === tenantId);
      const deletes = log.filter((e) => e.type === 'ImageDeleted' && e.data.tenantId === tenantId);
      const bytes = (events: DomainEvent[]) =>
        events.reduce((sum, e) => sum + (e.data as { bytes: number }).bytes, 0);
      assert.deepEqual(counted, {
        images: uploads.length - deletes.length,
        bytes: bytes(uploads) - bytes(deletes),
      });
    }
  });

  it('skips a republished event and keeps the first event of each version', () => {
    const fold = createWriteModelFold();
    const tenantId = 'tenant-a';
    const events = [provisioned(tenantId, 'a'), suspended(tenantId, 2)];
    [...events, ...events].forEach((event, i) => fold.apply(event, at(i)));
    assert.equal(fold.applied, 2);
    assert.equal(fold.duplicates, 2);
    const [tenant] = fold.result().aggregates;
    assert.deepEqual(
      tenant?.state,
      events.reduce((s, e) => tenantDecider.evolve(s, e as never), tenantDecider.initialState()),
    );
  });

  it('stops at a version gap or a second, different event under one version, naming the record', () => {
    const fold = createWriteModelFold();
    fold.apply(provisioned('tenant-b', 'b'), at(0));
    assert.throws(
      () => fold.apply(suspended('tenant-b', 3), at(7)),
      (e: unknown) =>
        e instanceof UnprocessableError && /deeplens\.tenant\.v1:0:7.*from version 1 to 3/.test(e.message),
    );
    fold.apply(suspended('tenant-b', 2), at(8));
    assert.throws(
      () => fold.apply(suspended('tenant-b', 2, 'another-id'), at(9)),
      (e: unknown) =>
        e instanceof UnprocessableError && /:0:9.*two different events at version 2/.test(e.message),
    );
  });

  it('gives a slug claimed twice (a log written while the write model was lost) to its first owner', () => {
    const fold = createWriteModelFold();
    fold.apply(provisioned('tenant-late', 'alpha', 20), at(0));
    fold.apply(provisioned('tenant-early', 'alpha', 10), at(1));
    fold.apply(provisioned('tenant-c', 'gamma', 5), at(2));
    fold.apply(deleted('tenant-c', 'gamma', 2), at(3));
    fold.apply(provisioned('tenant-d', 'gamma', 30), at(4));
    const { reservations, clashes } = fold.result();
    assert.deepEqual(
      reservations.filter((r) => r.kind === 'tenant_slug').sort((a, b) => a.value.localeCompare(b.value)),
      [
        { kind: 'tenant_slug', value: 'alpha', aggregateId: 'tenant-early' },
        { kind: 'tenant_slug', value: 'gamma', aggregateId: 'tenant-d' },
      ],
    );
    assert.deepEqual(clashes, [
      { kind: 'tenant_slug', value: 'alpha', keptBy: 'tenant-early', alsoClaimedBy: ['tenant-late'] },
    ]);
  });
});
