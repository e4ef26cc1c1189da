import type { Event } from './event.ts';
import type { ImageFields } from './imageFields.ts';

/**
 * Records external integrations write to `deeplens.intake.v1` (`schemas/intake/`). The write
 * side authenticates them, turns them into commands and runs the same deciders as HTTP.
 */

/**
 * The image's fields but `source` (an intake record's is `intake`). The integration already
 * stored the bytes under `objectKey` in the tenant's storage.
 */
export type RegisterImageRecord = Omit<ImageFields, 'source'>;

/** `null` leaves that part unchanged; a value replaces it. */
export type UpdateImageMetadataRecord = {
  imageId: string;
  tags: string[] | null;
  attributes: Record<string, string> | null;
};

export type DeleteImageRecord = { imageId: string };

/** The Avro union `command`, tagged by record name as TypeScript likes it. */
export type IntakeCommand =
  | { type: 'RegisterImage'; data: RegisterImageRecord }
  | { type: 'UpdateImageMetadata'; data: UpdateImageMetadataRecord }
  | { type: 'DeleteImage'; data: DeleteImageRecord };

/**
 * The record's value. Who sent it is not in the value but in the record's headers
 * (`intakeHeaders`): the key id and an Ed25519 signature over the value's bytes.
 */
export type IntakeEnvelope = {
  /** Chosen by the integration; the idempotency key of the record. */
  requestId: string;
  tenantId: string;
  command: IntakeCommand;
};

/** Kafka record headers of an intake record. */
export const intakeHeaders = {
  /** The id `POST /v1/tenants/{id}/intake-keys` returned for the signing key. */
  keyId: 'deeplens-key-id',
  /** Ed25519 signature (64 raw bytes) over `intakeSigningPayload(value)`. */
  signature: 'deeplens-signature',
  /** W3C trace context, when the producer has a trace. */
  traceparent: 'traceparent',
} as const;

/** An intake record was refused; published to `deeplens.intake-rejections.v1`. */
export type IntakeRejected = Event<
  'IntakeRejected',
  {
    /** Null when the record could not be decoded. */
    requestId: string | null;
    /** The record's tenant; for a record that could not be decoded, the tenant its Kafka key claims. */
    tenantId: string | null;
    reason: string;
    /** The error's `code`, as in problem+json. */
    code: string;
    topic: string;
    partition: number;
    offset: number;
  }
>;

export type IntakeEvent = IntakeRejected;
