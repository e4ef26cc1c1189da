import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UserEvent } from '@deeplens/events/identityEvents';
import { erasedEmail } from '@deeplens/events/personalData';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata } from '../testing/testContext.ts';
import type { UserCommand } from './userCommands.ts';
import { userDecider } from './userDecider.ts';

const { given } = deciderSpec(userDecider);
const userId = 'user-1';
const tenantId = 'tenant-1';
const metadata = testContext();
const passwordHash = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA';

const register: UserCommand = {
  type: 'RegisterUser',
  data: { userId, tenantId, email: 'ada@acme.example', passwordHash, role: 'tenant_user' },
  metadata,
};
const registered: UserEvent = {
  type: 'UserRegistered',
  data: { userId, tenantId, email: 'ada@acme.example', passwordHash, role: 'tenant_user' },
  metadata: testMetadata(userId, 1, tenantId),
};
const disabled: UserEvent = {
  type: 'UserDisabled',
  data: { userId, tenantId, reason: null },
  metadata: testMetadata(userId, 2, tenantId),
};
const changeRole = (role: 'platform_admin' | 'tenant_admin' | 'tenant_user'): UserCommand => ({
  type: 'ChangeUserRole',
  data: { userId, role },
  metadata,
});
const disable: UserCommand = { type: 'DisableUser', data: { userId }, metadata };

describe('RegisterUser', () => {
  it('registers a tenant user with a password hash', () => {
    given([]).when(register).then([registered]);
  });

  it('registers a platform admin without a tenant', () => {
    given([])
      .when({ ...register, data: { ...register.data, tenantId: null, role: 'platform_admin' } })
      .then([
        {
          type: 'UserRegistered',
          data: { ...registered.data, tenantId: null, role: 'platform_admin' },
          metadata: testMetadata(userId, 1, null),
        },
      ]);
  });

  it('refuses an existing user', () => {
    given([registered]).when(register).then(ConflictError);
  });

  it('refuses a platform admin in a tenant', () => {
    given([])
      .when({ ...register, data: { ...register.data, role: 'platform_admin' } })
      .then(ValidationError);
  });

  it('refuses a tenant user without a tenant', () => {
    given([])
      .when({ ...register, data: { ...register.data, tenantId: null } })
      .then(ValidationError);
  });

  it('refuses something that is not an e-mail address', () => {
    given([])
      .when({ ...register, data: { ...register.data, email: 'ada' } })
      .then(ValidationError);
  });
});

describe('ChangeUserRole', () => {
  it('changes the role and says what it was', () => {
    given([registered])
      .when(changeRole('tenant_admin'))
      .then([
        {
          type: 'UserRoleChanged',
          data: { userId, tenantId, role: 'tenant_admin', previousRole: 'tenant_user' },
          metadata: testMetadata(userId, 2, tenantId),
        },
      ]);
  });

  it('is a no-op for the role the user has', () => {
    given([registered]).when(changeRole('tenant_user')).then([]);
  });

  it('refuses a disabled user', () => {
    given([registered, disabled]).when(changeRole('tenant_admin')).then(ConflictError);
  });

  it('refuses to make a tenant user a platform admin', () => {
    given([registered]).when(changeRole('platform_admin')).then(ValidationError);
  });

  it('refuses an unknown user', () => {
    given([]).when(changeRole('tenant_admin')).then(NotFoundError);
  });
});

describe('DisableUser', () => {
  it('disables a user', () => {
    given([registered]).when(disable).then([disabled]);
  });

  it('keeps the reason', () => {
    given([registered])
      .when({ ...disable, data: { userId, reason: 'left' } })
      .then([{ ...disabled, data: { ...disabled.data, reason: 'left' } }]);
  });

  it('is a no-op on a disabled user', () => {
    given([registered, disabled]).when(disable).then([]);
  });

  it('refuses an unknown user', () => {
    given([]).when(disable).then(NotFoundError);
  });
});

describe('EraseUser', () => {
  const erase: UserCommand = { type: 'EraseUser', data: { userId }, metadata };
  const erased: UserEvent = {
    type: 'UserErased',
    data: { userId, tenantId },
    metadata: testMetadata(userId, 3, tenantId),
  };

  it('records the erasure of a disabled user', () => {
    given([registered, disabled]).when(erase).then([erased]);
  });

  it('records the erasure of an active user, which leaves it disabled', () => {
    given([registered])
      .when(erase)
      .then([{ ...erased, metadata: testMetadata(userId, 2, tenantId) }]);
    given([registered, { ...erased, metadata: testMetadata(userId, 2, tenantId) }])
      .when(changeRole('tenant_admin'))
      .then(ConflictError);
  });

  it('is a no-op on an erased user: a second erasure emits nothing', () => {
    given([registered, disabled, erased]).when(erase).then([]);
    given([registered, disabled, erased]).when(disable).then([]);
  });

  it('refuses an unknown user', () => {
    given([]).when(erase).then(NotFoundError);
  });

  it('leaves the erased placeholders in the state, not the e-mail or hash', () => {
    const state = [registered, disabled, erased].reduce(userDecider.evolve, userDecider.initialState());
    assert.deepStrictEqual(state, {
      status: 'disabled',
      version: 3,
      userId,
      tenantId,
      email: erasedEmail(userId),
      passwordHash: '',
      role: 'tenant_user',
      erased: true,
    });
  });
});
