import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import { decodeEvent, encodeEvent } from '@deeplens/events/eventCodec';
import { decideApiKey } from './identity/decideApiKey.ts';
import { decideUser } from './identity/decideUser.ts';
import { decideImage } from './image/decideImage.ts';
import { initialImageState } from './image/imageState.ts';
import { initialApiKeyState } from './identity/apiKeyState.ts';
import { initialUserState } from './identity/userState.ts';
import { decideTenant } from './tenant/decideTenant.ts';
import { plans } from './tenant/plans.ts';
import { initialTenantState } from './tenant/tenantState.ts';
import { testContext, testEventIds } from './testing/testContext.ts';

describe('decided events', () => {
  const metadata = testContext({ causationId: null, actor: 'apikey:key-9' });
  const events: DomainEvent[] = [
    ...decideTenant(
      {
        type: 'ProvisionTenant',
        data: {
          tenantId: 't-1',
          slug: 'acme',
          name: 'Acme',
          plan: 'pro',
          storage: {
            endpoint: 'http://127.0.0.1:9000',
            bucket: 'b',
            region: 'r',
            prefix: '',
            accessKeyId: 'k',
            encryptedSecret: 'x',
          },
        },
        metadata,
      },
      initialTenantState(),
    ),
    ...decideUser(
      {
        type: 'RegisterUser',
        data: {
          userId: 'u-1',
          tenantId: null,
          email: 'root@example.com',
          passwordHash: 'h',
          role: 'platform_admin',
        },
        metadata,
      },
      initialUserState(),
    ),
    ...decideApiKey(
      {
        type: 'IssueApiKey',
        data: {
          keyId: 'k-1',
          tenantId: 't-1',
          prefix: '12345678',
          secretHash: 'c'.repeat(64),
          scopes: ['search'],
        },
        metadata,
      },
      initialApiKeyState(),
    ),
    ...decideImage(
      {
        type: 'UploadImage',
        data: {
          tenantId: 't-1',
          imageId: 'i-1',
          objectKey: 'o',
          sha256: 'd'.repeat(64),
          mime: 'image/png',
          bytes: 10,
          width: 1,
          height: 1,
          filename: 'a.png',
          tags: [],
          attributes: {},
          source: 'intake',
          tenant: { status: 'active', limits: plans.pro },
        },
        metadata,
      },
      initialImageState(),
    ),
  ];

  it('number the versions from the state and take ids, clock and actor from the context', () => {
    const [provisioned, storageConfigured] = events;
    assert.deepEqual(
      [provisioned?.metadata, storageConfigured?.metadata].map((m) => [m?.eventId, m?.aggregateVersion]),
      [
        [testEventIds[0], 1],
        [testEventIds[1], 2],
      ],
    );
    for (const event of events) {
      assert.equal(event.metadata.occurredAt, metadata.now);
      assert.equal(event.metadata.actor, 'apikey:key-9');
      assert.equal(event.metadata.causationId, null);
    }
  });

  it('are valid Avro for their schemas', () => {
    for (const event of events) assert.deepStrictEqual(decodeEvent(event.type, encodeEvent(event)), event);
  });
});
