import type { TenantLimits, TenantPlan, TenantStorage } from '@deeplens/events/tenantEvents';
import type { Command } from '../command.ts';
import type { StorageMoveCommand } from './storageMove.ts';

export type ProvisionTenant = Command<
  'ProvisionTenant',
  {
    /** Chosen by the handler (a fresh UUID). */
    tenantId: string;
    slug: string;
    name: string;
    plan: TenantPlan;
    /** Custom limits; the plan's when absent. */
    limits?: TenantLimits;
    /** Bring-your-own storage, its secret already encrypted by the handler. */
    storage?: TenantStorage;
  }
>;

export type ChangeTenantPlan = Command<
  'ChangeTenantPlan',
  { tenantId: string; plan: TenantPlan; limits?: TenantLimits }
>;

/** The handler encrypts the secret before the command is built; the decider never sees plaintext. */
export type ConfigureTenantStorage = Command<'ConfigureTenantStorage', { tenantId: string } & TenantStorage>;

export type SuspendTenant = Command<'SuspendTenant', { tenantId: string; reason: string }>;

export type ReactivateTenant = Command<'ReactivateTenant', { tenantId: string }>;

export type DeleteTenant = Command<'DeleteTenant', { tenantId: string }>;

export type TenantCommand =
  | ProvisionTenant
  | ChangeTenantPlan
  | ConfigureTenantStorage
  | SuspendTenant
  | ReactivateTenant
  | DeleteTenant
  | StorageMoveCommand;
