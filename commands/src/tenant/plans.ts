import type { TenantLimits, TenantPlan } from '@deeplens/events/tenantEvents';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Each plan's default limits; an enterprise tenant may be given custom ones. */
export const plans: { readonly [P in TenantPlan]: Readonly<TenantLimits> } = {
  free: { maxImages: 1_000, maxBytes: 1 * GiB, maxImageBytes: 10 * MiB, requestsPerMinute: 60 },
  pro: { maxImages: 100_000, maxBytes: 100 * GiB, maxImageBytes: 25 * MiB, requestsPerMinute: 600 },
  enterprise: {
    maxImages: 10_000_000,
    maxBytes: 10_240 * GiB,
    maxImageBytes: 50 * MiB,
    requestsPerMinute: 6_000,
  },
};

export function limitsOf(plan: TenantPlan): TenantLimits {
  return { ...plans[plan] };
}
