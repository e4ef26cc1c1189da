import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { LimitExceededError, PayloadTooLargeError } from '@deeplens/platform/errors';

/**
 * A tenant's usage (images and bytes) is kept exact in the write model, in the same transaction
 * as the event that changes it, so a plan limit is never overrun. It is split over stripes
 * (`write.usage_stripes`) so concurrent uploads of one tenant do not queue on one row: a stripe
 * may only grow within the allowance it was granted, and the grants of a tenant never add up to
 * more than its limits. An upload takes a random stripe; only when that stripe's grant is used
 * up does it lock all of the tenant's stripes and grant again (`planGrant`, pure).
 */
export const usageStripeCount = 16;

/** How an event changes its tenant's usage; `limits` makes an increase conditional. */
export type UsageChange =
  | {
      kind: 'count';
      tenantId: string;
      images: number;
      bytes: number;
      limits?: { maxImages: number; maxBytes: number };
    }
  /** The plan changed: take back every grant not yet used, so lower limits hold at once. */
  | { kind: 'limitsChanged'; tenantId: string };

export type UsageStripe = {
  stripe: number;
  images: number;
  bytes: number;
  imagesGranted: number;
  bytesGranted: number;
};

/** How far beyond what it needs now a stripe is granted, so most uploads take the fast path. */
export function grantHeadroom(bytes: number): { images: number; bytes: number } {
  return { images: 256, bytes: 256 * Math.max(bytes, 1 << 20) };
}

/**
 * The stripes after `change` is counted on stripe `target` when its grant did not cover it, or
 * `limit` when the tenant's total would pass its limits. Other stripes keep their grants unless
 * the limits leave no room for them; then they are cut back to what they use.
 */
export function planGrant(
  stripes: readonly UsageStripe[],
  target: number,
  change: { images: number; bytes: number },
  limits: { maxImages: number; maxBytes: number },
  headroom: { images: number; bytes: number } = grantHeadroom(change.bytes),
): UsageStripe[] | 'limit' {
  const sum = (rows: readonly UsageStripe[], field: keyof UsageStripe) =>
    rows.reduce((total, row) => total + row[field], 0);
  const totalImages = sum(stripes, 'images') + Math.max(change.images, 0);
  const totalBytes = sum(stripes, 'bytes') + Math.max(change.bytes, 0);
  if (
    (change.images > 0 && totalImages > limits.maxImages) ||
    (change.bytes > 0 && totalBytes > limits.maxBytes)
  )
    return 'limit';

  const current = stripes.find((s) => s.stripe === target) ?? {
    stripe: target,
    images: 0,
    bytes: 0,
    imagesGranted: 0,
    bytesGranted: 0,
  };
  let others = stripes.filter((s) => s.stripe !== target);
  const images = current.images + change.images;
  const bytes = current.bytes + change.bytes;
  if (
    sum(others, 'imagesGranted') + images > limits.maxImages ||
    sum(others, 'bytesGranted') + bytes > limits.maxBytes
  ) {
    others = others.map((s) => ({ ...s, imagesGranted: s.images, bytesGranted: s.bytes }));
  }
  const spareImages = limits.maxImages - sum(others, 'imagesGranted') - images;
  const spareBytes = limits.maxBytes - sum(others, 'bytesGranted') - bytes;
  const updated: UsageStripe = {
    stripe: target,
    images,
    bytes,
    imagesGranted: images + Math.max(0, Math.min(headroom.images, spareImages)),
    bytesGranted: bytes + Math.max(0, Math.min(headroom.bytes, spareBytes)),
  };
  return [...others, updated].sort((a, b) => a.stripe - b.stripe);
}

type Queryable = Pick<DatabasePool, 'query' | 'any' | 'maybeOne'>;

const stripeRow = z.object({
  stripe: z.number(),
  images: z.number(),
  bytes: z.number(),
  images_granted: z.number(),
  bytes_granted: z.number(),
});
const limitsRow = z.object({
  plan: z.string().nullable(),
  max_images: z.number().nullable(),
  max_bytes: z.number().nullable(),
});

/**
 * Grants of one tenant change only under this transaction-scoped lock (slow paths and plan
 * changes), so a slow path reads the other stripes' grants without locking their rows.
 */
async function lockGrants(tx: Queryable, tenantId: string): Promise<void> {
  await tx.query(
    sql.typeAlias(
      'void',
    )`select from pg_advisory_xact_lock(hashtextextended(${`deeplens.usage:${tenantId}`}, 0))`,
  );
}

async function readStripes(
  tx: Queryable,
  tenantId: string,
  which: 'target' | 'others' | 'all',
  target: number,
): Promise<UsageStripe[]> {
  const query =
    which === 'target'
      ? sql.type(stripeRow)`
          select stripe, images, bytes, images_granted, bytes_granted from write.usage_stripes
          where tenant_id = ${tenantId} and stripe = ${target} for update`
      : which === 'others'
        ? sql.type(stripeRow)`
          select stripe, images, bytes, images_granted, bytes_granted from write.usage_stripes
          where tenant_id = ${tenantId} and stripe <> ${target}`
        : sql.type(stripeRow)`
          select stripe, images, bytes, images_granted, bytes_granted from write.usage_stripes
          where tenant_id = ${tenantId} order by stripe for update`;
  return (await tx.any(query)).map((r) => ({
    stripe: r.stripe,
    images: r.images,
    bytes: r.bytes,
    imagesGranted: r.images_granted,
    bytesGranted: r.bytes_granted,
  }));
}

/** Applies a usage change inside the command's transaction; refuses one past the plan's limits. */
export async function changeUsage(tx: Queryable, change: UsageChange): Promise<void> {
  const { tenantId } = change;
  if (change.kind === 'limitsChanged') {
    await lockGrants(tx, tenantId);
    await tx.query(sql.typeAlias('void')`
      update write.usage_stripes set images_granted = images, bytes_granted = bytes
      where tenant_id = ${tenantId}`);
    return;
  }
  const stripe = randomInt(usageStripeCount);
  const { images, bytes } = change;
  if (images <= 0 && bytes <= 0) {
    // Giving back always fits; the total over the stripes stays exact.
    await tx.query(sql.typeAlias('void')`
      insert into write.usage_stripes (tenant_id, stripe, images, bytes)
      values (${tenantId}, ${stripe}, ${images}, ${bytes})
      on conflict (tenant_id, stripe) do update
        set images = write.usage_stripes.images + excluded.images,
            bytes = write.usage_stripes.bytes + excluded.bytes`);
    return;
  }
  // The fast path: this stripe's grant covers the change; one row, locked until commit.
  const counted = await tx.query(sql.typeAlias('void')`
    update write.usage_stripes set images = images + ${images}, bytes = bytes + ${bytes}
    where tenant_id = ${tenantId} and stripe = ${stripe}
      and (${images} <= 0 or images + ${images} <= images_granted)
      and (${bytes} <= 0 or bytes + ${bytes} <= bytes_granted)`);
  if (counted.rowCount === 1) return;

  // The slow path: grant again, against the limits in force (a plan change holds the same lock
  // from its tenant update to its commit, so its limits are visible once we hold it).
  await lockGrants(tx, tenantId);
  const planned = await tx.maybeOne(sql.type(limitsRow)`
    select state->>'plan' as plan, (state->'limits'->>'maxImages')::float8 as max_images,
           (state->'limits'->>'maxBytes')::float8 as max_bytes
    from write.aggregates where aggregate_type = 'tenant' and aggregate_id = ${tenantId}`);
  const fallback = change.limits ?? { maxImages: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER };
  const limits = {
    maxImages: planned?.max_images ?? fallback.maxImages,
    maxBytes: planned?.max_bytes ?? fallback.maxBytes,
  };
  await tx.query(sql.typeAlias('void')`
    insert into write.usage_stripes (tenant_id, stripe)
    select ${tenantId}, n from generate_series(0, ${usageStripeCount - 1}) as n
    on conflict do nothing`);
  // Other stripes' grants cannot move while we hold the lock, and their use stays within them:
  // while they keep their grants, only this stripe needs its row locked.
  let stripes = [
    ...(await readStripes(tx, tenantId, 'target', stripe)),
    ...(await readStripes(tx, tenantId, 'others', stripe)),
  ];
  let plan = planGrant(stripes, stripe, change, limits);
  const takesBack = (next: UsageStripe[]) =>
    next.some((row) => {
      const before = stripes.find((s) => s.stripe === row.stripe);
      return (
        row.stripe !== stripe &&
        (before?.imagesGranted !== row.imagesGranted || before.bytesGranted !== row.bytesGranted)
      );
    });
  if (plan === 'limit' || takesBack(plan)) {
    // Near the limits: what the others use must be exact, so every stripe is locked.
    stripes = await readStripes(tx, tenantId, 'all', stripe);
    plan = planGrant(stripes, stripe, change, limits);
  }
  if (plan === 'limit') throw refusal(stripes, change, limits, planned?.plan ?? null);
  for (const next of plan) {
    const before = stripes.find((s) => s.stripe === next.stripe);
    if (
      before?.images === next.images &&
      before.bytes === next.bytes &&
      before.imagesGranted === next.imagesGranted &&
      before.bytesGranted === next.bytesGranted
    )
      continue;
    await tx.query(sql.typeAlias('void')`
      update write.usage_stripes
      set images = ${next.images}, bytes = ${next.bytes},
          images_granted = ${next.imagesGranted}, bytes_granted = ${next.bytesGranted}
      where tenant_id = ${tenantId} and stripe = ${next.stripe}`);
  }
}

/**
 * The refusal of a change past the limits (every stripe locked, so `used` is exact): images
 * first (429), then bytes (413), each naming the limit and what the tenant used before it.
 */
function refusal(
  stripes: readonly UsageStripe[],
  change: { images: number; bytes: number },
  limits: { maxImages: number; maxBytes: number },
  planName: string | null,
): LimitExceededError | PayloadTooLargeError {
  const used = {
    images: stripes.reduce((total, s) => total + s.images, 0),
    bytes: stripes.reduce((total, s) => total + s.bytes, 0),
  };
  const plan = planName ? `the ${planName} plan` : 'the plan';
  if (change.images > 0 && used.images + change.images > limits.maxImages)
    return new LimitExceededError(
      `${plan} holds ${limits.maxImages} images; this tenant has ${used.images}`,
      { detail: { limit: limits.maxImages, used: used.images } },
    );
  return new PayloadTooLargeError(`${plan} holds ${limits.maxBytes} bytes; this tenant has ${used.bytes}`, {
    detail: { limit: limits.maxBytes, used: used.bytes },
  });
}

const usageRow = z.object({ images: z.number(), bytes: z.number() });

/** The tenant's exact usage as the write model counts it (the sum over its stripes). */
export async function readTenantUsage(
  pool: Pick<DatabasePool, 'one'>,
  tenantId: string,
): Promise<{ images: number; bytes: number }> {
  return pool.one(sql.type(usageRow)`
    select coalesce(sum(images), 0)::int8 as images, coalesce(sum(bytes), 0)::int8 as bytes
    from write.usage_stripes where tenant_id = ${tenantId}`);
}
