import { tenantSubject, userSubject, type DataKeyStore } from '@deeplens/platform/dataKeys';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { erasedEmail, erasedName } from '@deeplens/events/personalData';
import type { CommandHandler, CommandOrigin } from '../commandHandler.ts';
import { userAggregate } from '../writeModelRules.ts';

/**
 * Crypto-shredding of one user: the user's data key is destroyed (a tombstone on the key
 * topic), so every e-mail and password hash of theirs in the log reads as erased; then the
 * write model's copy is made to say what a recovery from the log now says; last, `UserErased`
 * is appended (through the decider), so the read models overwrite their copies too. Every step
 * is idempotent and the event comes only after the key is gone: an erasure cut short at any
 * line is finished by running it again, and a second run emits nothing.
 */
export async function eraseUserPersonalData(
  pool: DatabasePool,
  dataKeys: DataKeyStore,
  handler: Pick<CommandHandler, 'handle'>,
  userId: string,
  origin: CommandOrigin = { actor: 'system:user-erasure' },
): Promise<void> {
  await dataKeys.destroy(userSubject(userId));
  await pool.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`
      update write.aggregates
      set state = state || jsonb_build_object('email', ${erasedEmail(userId)}::text, 'passwordHash', ''), updated_at = now()
      where aggregate_type = 'user' and aggregate_id = ${userId}`);
    await tx.query(sql.typeAlias('void')`
      update write.unique_reservations set value = ${erasedEmail(userId)}
      where kind = 'user_email' and aggregate_id = ${userId}`);
  });
  await handler.handle(userAggregate, { type: 'EraseUser', data: { userId } }, origin);
}

/**
 * Crypto-shredding of a tenant: its data key is destroyed, which takes with it its name, its
 * API keys' names and secret hashes, its intake keys' names, and its users' e-mails and password hashes (theirs are
 * sealed under the tenant's key and the user's together); the write model follows.
 */
export async function eraseTenantPersonalData(
  pool: DatabasePool,
  dataKeys: DataKeyStore,
  tenantId: string,
): Promise<void> {
  await dataKeys.destroy(tenantSubject(tenantId));
  await pool.transaction(async (tx) => {
    await tx.query(sql.typeAlias('void')`
      update write.aggregates set state = state || jsonb_build_object('name', ${erasedName}::text), updated_at = now()
      where aggregate_type = 'tenant' and aggregate_id = ${tenantId}`);
    await tx.query(sql.typeAlias('void')`
      update write.aggregates set state = state || jsonb_build_object('secretHash', ''), updated_at = now()
      where aggregate_type = 'apiKey' and tenant_id = ${tenantId}`);
    await tx.query(sql.typeAlias('void')`
      update write.aggregates set state = state || jsonb_build_object('name', ''), updated_at = now()
      where aggregate_type = 'intakeKey' and tenant_id = ${tenantId}`);
    await tx.query(sql.typeAlias('void')`
      update write.aggregates
      set state = state || jsonb_build_object('email', 'erased:' || aggregate_id, 'passwordHash', ''), updated_at = now()
      where aggregate_type = 'user' and tenant_id = ${tenantId}`);
    await tx.query(sql.typeAlias('void')`
      update write.unique_reservations set value = 'erased:' || aggregate_id
      where kind = 'user_email'
        and aggregate_id in (select aggregate_id from write.aggregates where aggregate_type = 'user' and tenant_id = ${tenantId})`);
  });
}
