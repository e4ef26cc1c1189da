import {
  openEnvelope,
  sealEnvelope,
  tenantSubject,
  userSubject,
  type DataKeyStore,
  type SealedEnvelope,
} from '@deeplens/platform/dataKeys';
import { ValidationError } from '@deeplens/platform/errors';
import type { AvroEventValue } from './avroValues.ts';
import type { DeepLensEvent, DeepLensEventType, EventOfType } from './domainEvent.ts';

/**
 * Which event fields are personal data or secret verifiers, and under whose keys they are
 * sealed. In Kafka these fields are null and their values travel in `data.personalData`
 * (`deeplens.SealedPersonalData`), encrypted with the subjects' data keys; in PostgreSQL
 * (outbox, write model, read models) and in memory the events carry them in clear.
 *
 * Inventory (docs/security.md says why the rest is not here):
 * - `UserRegistered.email`, `.passwordHash` — the user's key and, for a tenant's user, the
 *   tenant's: erasing the user or the whole tenant shreds them.
 * - `ApiKeyIssued.name`, `.secretHash` — the tenant's key (an API key belongs to its tenant).
 * - `IntakeKeyRegistered.name` — the tenant's key (a label, like an API key's name).
 * - `TenantProvisioned.name` — the tenant's key (an organisation's, often a person's, name).
 */
type PersonalData<T extends DeepLensEventType> = {
  fields: readonly (keyof EventOfType<T>['data'] & string)[];
  subjects: (data: EventOfType<T>['data']) => string[];
  /** What a reader sees once a subject's key is gone. */
  erased: (data: EventOfType<T>['data']) => Record<string, string>;
};

/** The e-mail an erased user shows: unique (reservations stay distinct) and never a valid address. */
export const erasedEmail = (userId: string): string => `erased:${userId}`;
export const erasedName = 'erased';

export const personalDataOf: { readonly [T in DeepLensEventType]?: PersonalData<T> } = {
  UserRegistered: {
    fields: ['email', 'passwordHash'],
    subjects: ({ userId, tenantId }) =>
      tenantId === null ? [userSubject(userId)] : [tenantSubject(tenantId), userSubject(userId)],
    erased: ({ userId }) => ({ email: erasedEmail(userId), passwordHash: '' }),
  },
  ApiKeyIssued: {
    fields: ['name', 'secretHash'],
    subjects: ({ tenantId }) => [tenantSubject(tenantId)],
    erased: () => ({ name: '', secretHash: '' }),
  },
  IntakeKeyRegistered: {
    fields: ['name'],
    subjects: ({ tenantId }) => [tenantSubject(tenantId)],
    erased: () => ({ name: '' }),
  },
  TenantProvisioned: {
    fields: ['name'],
    subjects: ({ tenantId }) => [tenantSubject(tenantId)],
    erased: () => ({ name: erasedName }),
  },
};

export function carriesPersonalData(eventType: DeepLensEventType): boolean {
  return personalDataOf[eventType] !== undefined;
}

function specOf(eventType: DeepLensEventType): PersonalData<DeepLensEventType> | undefined {
  return personalDataOf[eventType] as PersonalData<DeepLensEventType> | undefined;
}

/**
 * The Avro value of an event as it goes to Kafka: its personal fields null, their values sealed
 * in `personalData`. When a subject is already erased there is nothing to seal them for: the
 * fields go out null with no envelope, and readers show the erased placeholders.
 */
export async function sealPersonalData(
  eventType: DeepLensEventType,
  value: AvroEventValue,
  keys: DataKeyStore,
): Promise<AvroEventValue> {
  const spec = specOf(eventType);
  if (!spec) return value;
  const data = value.data as EventOfType<DeepLensEventType>['data'] & Record<string, unknown>;
  // Already sealed (a record re-framed as it was read): nothing more to do.
  if (data.personalData) return value;
  const subjects = spec.subjects(data);
  const subjectKeys = await Promise.all(subjects.map((subject) => keys.keyForWriting(subject)));
  const cleared: Record<string, unknown> = { ...data, personalData: null };
  for (const field of spec.fields) cleared[field] = null;
  if (subjectKeys.some((key) => key === undefined)) return { ...value, data: cleared };
  const plain = Buffer.from(JSON.stringify(Object.fromEntries(spec.fields.map((f) => [f, data[f]]))));
  cleared.personalData = sealEnvelope(subjects, subjectKeys as Buffer[], plain, value.metadata.eventId);
  return { ...value, data: cleared };
}

/**
 * The event with its personal fields back in clear, or — when a subject's key was destroyed —
 * the erased placeholders. An envelope that does not open with the keys the store holds (a
 * changed byte, a foreign key) reads as erased too: a reader never halts on it.
 */
export async function openPersonalData<E extends DeepLensEvent>(
  event: E,
  keys: DataKeyStore | undefined,
): Promise<E> {
  const spec = specOf(event.type);
  if (!spec) return event;
  const { personalData, ...data } = event.data as Record<string, unknown> & {
    personalData?: SealedEnvelope | null;
  };
  const erased = spec.erased(event.data);
  if (!personalData) {
    // Written before sealing existed (clear fields), or when the subject was already erased (null).
    for (const field of spec.fields) data[field] ??= erased[field];
    return { ...event, data };
  }
  if (!keys) {
    throw new ValidationError(`${event.type} carries sealed personal data and this reader has no data keys`);
  }
  const subjectKeys = await Promise.all(personalData.subjects.map((subject) => keys.keyForReading(subject)));
  let opened: Record<string, unknown> | undefined;
  if (subjectKeys.every((key) => key !== undefined)) {
    try {
      opened = JSON.parse(
        openEnvelope(personalData, subjectKeys, event.metadata.eventId).toString('utf8'),
      ) as Record<string, unknown>;
    } catch {
      opened = undefined;
    }
  }
  for (const field of spec.fields) {
    const value = opened?.[field];
    data[field] = typeof value === 'string' ? value : erased[field];
  }
  return { ...event, data };
}
