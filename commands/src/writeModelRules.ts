import type { IdentityEvent } from '@deeplens/events/identityEvents';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { TenantEvent } from '@deeplens/events/tenantEvents';
import { withRules, type WriteModelRules } from './commandHandler.ts';
import type { ApiKeyCommand } from './identity/apiKeyCommands.ts';
import { apiKeyDecider } from './identity/apiKeyDecider.ts';
import { intakeKeyDecider } from './identity/intakeKeyDecider.ts';
import type { UserCommand } from './identity/userCommands.ts';
import { userDecider } from './identity/userDecider.ts';
import type { ImageCommand } from './image/imageCommands.ts';
import { imageDecider } from './image/imageDecider.ts';
import type { TenantCommand } from './tenant/tenantCommands.ts';
import { tenantDecider } from './tenant/tenantDecider.ts';

/**
 * A slug names one tenant; an erased tenant gives its slug back. A new plan takes back the
 * usage grants not yet used, so lower limits hold from the next upload on. A suspended or
 * erased tenant's credentials end with it.
 */
export const tenantRules: WriteModelRules<TenantCommand, TenantEvent> = {
  changesCredentials: true,
  usage: (event) =>
    event.type === 'TenantPlanChanged' ? { kind: 'limitsChanged', tenantId: event.data.tenantId } : undefined,
  reservations: (event) => {
    if (event.type === 'TenantProvisioned') return [{ kind: 'tenant_slug', value: event.data.slug }];
    if (event.type === 'TenantDeleted')
      return [{ kind: 'tenant_slug', value: event.data.slug, release: true }];
    return [];
  },
};

/**
 * An e-mail address signs in one user, across all tenants (sign-in names no tenant). A user's
 * role, state and password are what their tokens stand on.
 */
export const userRules: WriteModelRules<UserCommand, IdentityEvent> = {
  changesCredentials: true,
  reservations: (event) =>
    event.type === 'UserRegistered' ? [{ kind: 'user_email', value: event.data.email.toLowerCase() }] : [],
};

/** A key's 8-character prefix finds it at sign-in, so it names one key; a revoked key ends. */
export const apiKeyRules: WriteModelRules<ApiKeyCommand, IdentityEvent> = {
  changesCredentials: true,
  reservations: (event) =>
    event.type === 'ApiKeyIssued' ? [{ kind: 'api_key_prefix', value: event.data.prefix }] : [],
};

/**
 * Uploads count against the plan's image and byte limits, exactly and atomically; deletes give
 * back. Folded from the log (no command), an upload counts without a limit: it was checked then.
 */
export const imageRules: WriteModelRules<ImageCommand, ImageEvent> = {
  usage: (event, command) => {
    if (event.type === 'ImageUploaded') {
      const limits = command?.type === 'UploadImage' ? command.data.tenant.limits : undefined;
      return {
        kind: 'count',
        tenantId: event.data.tenantId,
        images: 1,
        bytes: event.data.bytes,
        ...(limits ? { limits: { maxImages: limits.maxImages, maxBytes: limits.maxBytes } } : {}),
      };
    }
    if (event.type === 'ImageDeleted')
      return { kind: 'count', tenantId: event.data.tenantId, images: -1, bytes: -event.data.bytes };
    return undefined;
  },
};

/**
 * The write model's aggregates: each decider bound to its rules once, so
 * `handler.handle(imageAggregate, command, origin)` cannot forget them.
 */
export const tenantAggregate = withRules(tenantDecider, tenantRules);
export const userAggregate = withRules(userDecider, userRules);
export const apiKeyAggregate = withRules(apiKeyDecider, apiKeyRules);
/** Intake keys reserve nothing and count against no limit. */
export const intakeKeyAggregate = withRules(intakeKeyDecider, {});
export const imageAggregate = withRules(imageDecider, imageRules);
