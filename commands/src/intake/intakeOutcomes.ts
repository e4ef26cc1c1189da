/** What intake recorded for each request id (`write.intake_outcomes`, migration `commands/migrations/003_intake.sql`). */
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { NotFoundError } from '@deeplens/platform/errors';

type Queryable = Parameters<Parameters<DatabasePool['transaction']>[0]>[0];

/** What `GET /v1/intake/{requestId}` answers. */
export type IntakeOutcome =
  | { requestId: string; status: 'pending' }
  | { requestId: string; status: 'accepted'; command: string; imageId: string | null; updatedAt: string }
  | { requestId: string; status: 'rejected'; code: string; reason: string; updatedAt: string };

const outcomeRow = z.object({
  tenant_id: z.string(),
  status: z.enum(['accepted', 'rejected']),
  command: z.string().nullable(),
  image_id: z.string().nullable(),
  code: z.string().nullable(),
  reason: z.string().nullable(),
  updated_at: z.number(),
});

/** The record was applied: final, whatever comes later under the same request id. */
export async function recordAccepted(
  db: Queryable | DatabasePool,
  outcome: { tenantId: string; requestId: string; command: string; imageId: string | null },
): Promise<void> {
  await db.query(sql.typeAlias('void')`
    insert into write.intake_outcomes (tenant_id, request_id, status, command, image_id)
    values (${outcome.tenantId}, ${outcome.requestId}, 'accepted', ${outcome.command}, ${outcome.imageId})
    on conflict (tenant_id, request_id) do update
      set status = 'accepted', command = excluded.command, image_id = excluded.image_id, code = null,
        reason = null, updated_at = now()`);
}

/** The record was refused; an accepted request id stays accepted. */
export async function recordRejected(
  db: Queryable | DatabasePool,
  outcome: { tenantId: string; requestId: string; code: string; reason: string },
): Promise<void> {
  await db.query(sql.typeAlias('void')`
    insert into write.intake_outcomes (tenant_id, request_id, status, code, reason)
    values (${outcome.tenantId}, ${outcome.requestId}, 'rejected', ${outcome.code}, ${outcome.reason})
    on conflict (tenant_id, request_id) do update
      set status = 'rejected', code = excluded.code, reason = excluded.reason, updated_at = now()
      where write.intake_outcomes.status <> 'accepted'`);
}

/**
 * The outcome of one of the tenant's intake records. No outcome yet is `pending` (not yet
 * consumed, or never sent); a request id only another tenant used answers not found.
 */
export async function readIntakeOutcome(
  pool: DatabasePool,
  tenantId: string,
  requestId: string,
): Promise<IntakeOutcome> {
  const rows = await pool.any(sql.type(outcomeRow)`
    select tenant_id, status, command, image_id, code, reason,
      (extract(epoch from updated_at) * 1000)::float8 as updated_at
    from write.intake_outcomes where request_id = ${requestId}`);
  const own = rows.find((row) => row.tenant_id === tenantId);
  if (!own) {
    if (rows.length > 0) throw new NotFoundError(`no intake request ${requestId}`);
    return { requestId, status: 'pending' };
  }
  const updatedAt = new Date(own.updated_at).toISOString();
  return own.status === 'accepted'
    ? { requestId, status: 'accepted', command: own.command ?? '', imageId: own.image_id, updatedAt }
    : { requestId, status: 'rejected', code: own.code ?? '', reason: own.reason ?? '', updatedAt };
}
