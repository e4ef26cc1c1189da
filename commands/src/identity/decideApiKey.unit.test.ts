import { describe, it } from 'node:test';
import type { ApiKeyEvent } from '@deeplens/events/identityEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata, testNow } from '../testing/testContext.ts';
import type { ApiKeyCommand, IssueApiKey } from './apiKeyCommands.ts';
import { apiKeyDecider } from './apiKeyDecider.ts';

const { given } = deciderSpec(apiKeyDecider);
const keyId = 'key-1';
const tenantId = 'tenant-1';
const metadata = testContext();
const secretHash = 'a'.repeat(64);

const issue: IssueApiKey = {
  type: 'IssueApiKey',
  data: { keyId, tenantId, prefix: 'dl_abcde', secretHash, scopes: ['search'] },
  metadata,
};
const issued: ApiKeyEvent = {
  type: 'ApiKeyIssued',
  data: { keyId, tenantId, name: '', prefix: 'dl_abcde', secretHash, scopes: ['search'], expiresAt: null },
  metadata: testMetadata(keyId, 1, tenantId),
};
const revoke: ApiKeyCommand = { type: 'RevokeApiKey', data: { keyId, tenantId }, metadata };
const revoked: ApiKeyEvent = {
  type: 'ApiKeyRevoked',
  data: { keyId, tenantId, prefix: 'dl_abcde', reason: null },
  metadata: testMetadata(keyId, 2, tenantId),
};
const issueWith = (data: Partial<IssueApiKey['data']>): ApiKeyCommand => ({
  ...issue,
  data: { ...issue.data, ...data },
});

describe('IssueApiKey', () => {
  it('issues a key with its prefix and hash, never the secret', () => {
    given([]).when(issue).then([issued]);
  });

  it('keeps a name and an expiry', () => {
    const expiresAt = testNow + 86_400_000;
    given([])
      .when(issueWith({ name: 'sync', expiresAt }))
      .then([{ ...issued, data: { ...issued.data, name: 'sync', expiresAt } }]);
  });

  it('collapses a scope listed twice into one', () => {
    given([])
      .when(issueWith({ scopes: ['search', 'images:read', 'search'] }))
      .then([{ ...issued, data: { ...issued.data, scopes: ['search', 'images:read'] } }]);
  });

  it('refuses an existing key', () => {
    given([issued]).when(issue).then(ConflictError);
  });

  it('refuses a prefix that is not 8 characters', () => {
    given([])
      .when(issueWith({ prefix: 'dl_' }))
      .then(ValidationError);
  });

  it('refuses a hash that is not hex SHA-256', () => {
    given([])
      .when(issueWith({ secretHash: 'plaintext-secret' }))
      .then(ValidationError);
  });

  it('refuses a key without scopes', () => {
    given([])
      .when(issueWith({ scopes: [] }))
      .then(ValidationError);
  });

  it('refuses an expiry in the past', () => {
    given([])
      .when(issueWith({ expiresAt: testNow }))
      .then(ValidationError);
  });
});

describe('RevokeApiKey', () => {
  it('revokes a key', () => {
    given([issued]).when(revoke).then([revoked]);
  });

  it('keeps the reason', () => {
    given([issued])
      .when({ ...revoke, data: { keyId, tenantId, reason: 'leaked' } })
      .then([{ ...revoked, data: { ...revoked.data, reason: 'leaked' } }]);
  });

  it('is a no-op on a revoked key', () => {
    given([issued, revoked]).when(revoke).then([]);
  });

  it('refuses an unknown key', () => {
    given([]).when(revoke).then(NotFoundError);
  });

  it("answers another tenant's key as not found", () => {
    given([issued])
      .when({ ...revoke, data: { keyId, tenantId: 'tenant-2' } })
      .then(NotFoundError);
  });
});
