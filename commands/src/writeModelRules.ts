import type { IdentityEvent } from '@deeplens/events/identityEvents';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { TenantEvent } from '@deeplens/events/tenantEvents';
import type { WriteModelRules } from './commandHandler.ts';
import type { ApiKeyCommand } from './identity/apiKeyCommands.ts';
import type { UserCommand } from './identity/userCommands.ts';
import type { ImageCommand } from './image/imageCommands.ts';
import type { TenantCommand } from './tenant/tenantCommands.ts';

/**
 * A slug names one tenant; an erased tenant gives its slug back. A new plan takes back the
 * usage grants not yet used, so lower limits hold from the next upload on.
 */
export const tenantRules: WriteModelRules<TenantCommand, TenantEvent> = {
  usage: (event) =>
    event.type === 'TenantPlanChanged' ? { kind: 'limitsChanged', tenantId: event.data.tenantId } : undefined,
  reservations: (event) => {
    if (event.type === 'TenantProvisioned') return [{ kind: 'tenant_slug', value: event.data.slug }];
    if (event.type === 'TenantDeleted')
      return [{ kind: 'tenant_slug', value: event.data.slug, release: true }];
    return [];
  },
};

/** An e-mail address signs in one user, across all tenants (sign-in names no tenant). */
export const userRules: WriteModelRules<UserCommand, IdentityEvent> = {
  reservations: (event) =>
    event.type === 'UserRegistered' ? [{ kind: 'user_email', value: event.data.email.toLowerCase() }] : [],
};

/** A key's 8-character prefix finds it at sign-in, so it names one key. */
export const apiKeyRules: WriteModelRules<ApiKeyCommand, IdentityEvent> = {
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
