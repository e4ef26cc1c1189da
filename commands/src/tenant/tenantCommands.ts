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
    /** Enterprise: a dedicated metadata database on this configured server (checked by the handler). */
    databaseTarget?: string;
  }
>;

export type ChangeTenantPlan = Command<
  'ChangeTenantPlan',
  {
    tenantId: string;
    plan: TenantPlan;
    limits?: TenantLimits;
    /** Enterprise: move the tenant's metadata to a dedicated database on this configured server. */
    databaseTarget?: string;
  }
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
