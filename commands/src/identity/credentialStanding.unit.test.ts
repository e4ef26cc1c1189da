import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '@deeplens/platform/auth/principal';
import { refusalOf, type Standing } from './credentialStanding.ts';

const now = Date.UTC(2026, 0, 1);
const user: Principal = {
  actor: 'user:u1',
  userId: 'u1',
  tenantId: 't1',
  role: 'tenant_admin',
  scopes: [],
  sessionId: 's1',
};
const key: Principal = { actor: 'apikey:k1', keyId: 'k1', tenantId: 't1', role: 'tenant_user', scopes: [] };
const standing: Standing = {
  tenant_status: 'active',
  user_status: 'active',
  user_role: 'tenant_admin',
  user_tenant: 't1',
  key_status: null,
  key_tenant: null,
  key_expires_at: null,
  session_revoked: false,
};
const keyStanding: Standing = {
  ...standing,
  user_status: null,
  user_role: null,
  user_tenant: null,
  key_status: 'active',
  key_tenant: 't1',
  key_expires_at: now + 1,
};

describe('refusalOf: what ends a token already issued', () => {
  it('lets a token whose subject still stands through', () => {
    assert.equal(refusalOf(user, standing, now), undefined);
    assert.equal(refusalOf(key, keyStanding, now), undefined);
    assert.equal(refusalOf(key, { ...keyStanding, key_expires_at: null }, now), undefined);
    const admin: Principal = {
      actor: 'user:a',
      userId: 'a',
      tenantId: null,
      role: 'platform_admin',
      scopes: [],
    };
    const adminStanding: Standing = {
      ...standing,
      tenant_status: null,
      user_role: 'platform_admin',
      user_tenant: null,
    };
    assert.equal(refusalOf(admin, adminStanding, now), undefined);
  });

  it('refuses each way a subject stops standing', () => {
    const cases: [string, Principal, Standing, RegExp][] = [
      ['suspended tenant', user, { ...standing, tenant_status: 'suspended' }, /tenant is not active/],
      ['deleted tenant', user, { ...standing, tenant_status: 'deleted' }, /tenant is not active/],
      ['tenant nobody has', user, { ...standing, tenant_status: null }, /tenant is not active/],
      ['disabled user', user, { ...standing, user_status: 'disabled' }, /user is disabled/],
      ['user nobody has', user, { ...standing, user_status: null }, /user is disabled/],
      ['role changed', user, { ...standing, user_role: 'tenant_user' }, /role has changed/],
      ['user moved tenant', user, { ...standing, user_tenant: 't2' }, /another tenant/],
      ['logged out', user, { ...standing, session_revoked: true }, /session has ended/],
      ['revoked key', key, { ...keyStanding, key_status: 'revoked' }, /revoked/],
      ['key nobody has', key, { ...keyStanding, key_status: null }, /revoked/],
      ['expired key', key, { ...keyStanding, key_expires_at: now }, /expired/],
      ['suspended tenant of a key', key, { ...keyStanding, tenant_status: 'suspended' }, /tenant/],
    ];
    for (const [name, principal, facts, reason] of cases) {
      assert.match(refusalOf(principal, facts, now) ?? 'stands', reason, name);
    }
  });
});
