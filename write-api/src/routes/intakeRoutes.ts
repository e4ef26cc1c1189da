import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { largestImageBytes } from '@deeplens/commands/image/imageDecider';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import { intakeHeaders } from '@deeplens/events/intakeRecords';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '@deeplens/platform/errors';
import { requireRole, requireScope, tenantScope } from '@deeplens/platform/http/authenticate';
import { defaultUploadLimits, receiveUpload } from '@deeplens/platform/http/receiveUpload';
import { storageProblemResponses } from '@deeplens/platform/http/openApiProblems';
import { defineRoute, paramsOf, uuidPathParameter } from '@deeplens/platform/http/openApiRegistry';
import { jsonBody } from '@deeplens/platform/http/requestBody';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import { supportedImageTypes } from '@deeplens/platform/images/inspectImage';
import { createTenantStorageResolver } from '@deeplens/platform/tenantStorage';
import { commandOrigin } from '../commandOrigin.ts';
import { readIntakeOutcome } from '@deeplens/commands/intake/intakeOutcomes';
import {
  bodyOf,
  commandProblems,
  idempotencyKeyParameter,
  jsonContent,
  jsonRequest,
  locationHeader,
} from './commandContract.ts';
import { createIntakeUploads, presignedUrlSeconds, s3PresignTargets } from '../intakeUploads.ts';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';
import type { WriteApiEnv } from '../writeApiEnv.ts';
import { intakeKeyAggregate } from '@deeplens/commands/writeModelRules';

const intakeKeyBody = z
  .object({
    name: z.string().trim().max(200).default(''),
    publicKey: z
      .string()
      .max(4096)
      .optional()
      .openapi({ description: 'SPKI PEM ("-----BEGIN PUBLIC KEY-----")' }),
    jwk: z
      .object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().max(64) })
      .passthrough()
      .optional()
      .openapi({ description: 'Or a JWK: { kty: "OKP", crv: "Ed25519", x }' }),
  })
  .strict();

const outcomeParams = z.object({ requestId: z.string().min(1).max(200) });

const presignBody = z
  .object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex SHA-256'),
    mime: z.enum(supportedImageTypes),
    bytes: z.number().int().positive(),
  })
  .strict();

const intakeKeyAnswer = z
  .object({
    id: z.guid(),
    tenantId: z.guid(),
    name: z.string(),
    algorithm: z.literal('Ed25519'),
    publicKey: z.string().openapi({ description: 'SPKI PEM' }),
    headers: z
      .record(z.string(), z.string())
      .openapi({ description: 'What every intake record signed with this key carries' }),
  })
  .strict()
  .openapi('IntakeKey');

const uploadForm = z
  .object({ file: z.string().openapi({ type: 'string', format: 'binary' }) })
  .strict()
  .openapi({ description: 'Exactly one part: the image' });

const storedUploadAnswer = z
  .object({
    objectKey: z.string(),
    sha256: z.string(),
    mime: z.enum(supportedImageTypes),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    expiresAt: z.string().datetime(),
  })
  .strict()
  .openapi('StoredUpload');

const presignedUploadAnswer = z
  .object({
    objectKey: z.string(),
    method: z.literal('PUT'),
    url: z.string().url(),
    urlExpiresAt: z.string().datetime(),
    expiresAt: z.string().datetime(),
  })
  .strict()
  .openapi('PresignedUpload');

const intakeOutcomeAnswer = z
  .discriminatedUnion('status', [
    z.object({ requestId: z.string(), status: z.literal('pending') }).strict(),
    z
      .object({
        requestId: z.string(),
        status: z.literal('accepted'),
        command: z.string(),
        imageId: z.string().nullable(),
        updatedAt: z.string().datetime(),
      })
      .strict(),
    z
      .object({
        requestId: z.string(),
        status: z.literal('rejected'),
        code: z.string(),
        reason: z.string(),
        updatedAt: z.string().datetime(),
      })
      .strict(),
  ])
  .openapi('IntakeOutcome');

const tenantParams = z.object({ id: uuidPathParameter });

/** Intake keys, uploads for intake records, and their outcomes: what each route takes and answers. */
export const intakeContract = {
  registerKey: defineRoute({
    method: 'post',
    path: '/v1/tenants/{id}/intake-keys',
    summary: "Register an integration's Ed25519 public key; intake records it signs act for the tenant",
    description:
      'Tenant admins (or platform admins). Give the public key as SPKI PEM or as a JWK (kty OKP, crv Ed25519); a private key is refused. Only the public key is kept and published. See docs/integrations.md.',
    parameters: [idempotencyKeyParameter],
    request: { params: tenantParams, body: jsonRequest(intakeKeyBody) },
    responses: {
      201: {
        description: 'Registered: put id in the deeplens-key-id header of every record it signs',
        headers: locationHeader,
        ...jsonContent(intakeKeyAnswer),
      },
      ...commandProblems,
    },
  }),
  revokeKey: defineRoute({
    method: 'delete',
    path: '/v1/tenants/{id}/intake-keys/{keyId}',
    summary: 'Revoke an intake key: records it signs are refused from now on',
    parameters: [idempotencyKeyParameter],
    request: { params: z.object({ id: uuidPathParameter, keyId: uuidPathParameter }) },
    responses: { 204: { description: 'Revoked' }, ...commandProblems },
  }),
  upload: defineRoute({
    method: 'post',
    path: '/v1/uploads',
    summary: 'Store one image for an intake record to register (expires after 24 h if never registered)',
    parameters: [idempotencyKeyParameter],
    request: { body: { required: true, content: { 'multipart/form-data': { schema: uploadForm } } } },
    responses: {
      201: {
        description: "Stored in the tenant's storage: name objectKey (and these values) in RegisterImage",
        ...jsonContent(storedUploadAnswer),
      },
      ...commandProblems,
      ...storageProblemResponses,
    },
  }),
  presign: defineRoute({
    method: 'post',
    path: '/v1/uploads/presigned',
    summary:
      "A presigned S3 PUT URL for one image's bytes, where the tenant's storage is S3 (409 on a filesystem store)",
    parameters: [idempotencyKeyParameter],
    request: { body: jsonRequest(presignBody) },
    responses: {
      201: {
        description: 'PUT the bytes to url before urlExpiresAt; register objectKey before expiresAt',
        ...jsonContent(presignedUploadAnswer),
      },
      ...commandProblems,
      ...storageProblemResponses,
    },
  }),
  outcome: defineRoute({
    method: 'get',
    path: '/v1/intake/{requestId}',
    summary:
      "The outcome of one of the tenant's intake records: pending, accepted (with the image id) or rejected",
    request: { params: outcomeParams },
    responses: {
      200: { description: 'The outcome', ...jsonContent(intakeOutcomeAnswer) },
      ...commandProblems,
    },
  }),
};

/** The integration's public key as one canonical SPKI PEM; a private key is refused, not used. */
function publicKeyPem(body: z.infer<typeof intakeKeyBody>): string {
  if ((body.publicKey === undefined) === (body.jwk === undefined))
    throw new ValidationError(
      'give the Ed25519 public key as publicKey (SPKI PEM) or as jwk, one of the two',
    );
  if (body.publicKey?.includes('PRIVATE KEY') || (body.jwk && 'd' in body.jwk))
    throw new ValidationError('send the public key only: the private key never leaves the integration');
  let key: KeyObject;
  try {
    key = body.publicKey
      ? createPublicKey({ key: body.publicKey, format: 'pem' })
      : createPublicKey({ key: body.jwk as JsonWebKey, format: 'jwk' });
  } catch (error) {
    throw new ValidationError('the public key cannot be read', { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new ValidationError('an intake key is an Ed25519 public key', {
      detail: { keyType: key.asymmetricKeyType ?? null },
    });
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * What an event-producing integration needs over HTTP: its intake keys (public keys it signs
 * intake records with), a place for image bytes (`/v1/uploads`), and each record's outcome.
 */
export function intakeRoutes(deps: WriteApiDependencies) {
  const { handler, pool, config } = deps;
  const uploads = createIntakeUploads({
    pool,
    storageOf: createTenantStorageResolver(config, deps.objects, deps.secrets),
    maxPixels: config.IMAGE_MAX_PIXELS,
    clock: deps.clock,
    presignTarget: s3PresignTargets(config, deps.secrets),
  });
  const app = new Hono<WriteApiEnv>();

  async function callerTenant(c: Context<WriteApiEnv>): Promise<ProvisionedTenant> {
    const { tenantId } = c.get('principal');
    if (!tenantId)
      throw new ForbiddenError(
        'intake belongs to a tenant: sign in as a tenant user or use a tenant API key',
      );
    const tenant = c.get('callerTenant') ?? (await handler.load(tenantDecider, tenantId));
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    return tenant;
  }

  app.post('/v1/tenants/:id/intake-keys', requireRole('platform_admin', 'tenant_admin'), async (c) => {
    const { id: tenantId } = paramsOf(c, intakeContract.registerKey.request.params);
    tenantScope(c, tenantId);
    const body = await jsonBody(c, bodyOf(intakeContract.registerKey));
    const publicKey = publicKeyPem(body);
    const tenant = await handler.load(tenantDecider, tenantId);
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    const idempotencyKey = c.get('idempotencyKey');
    const keyId = idempotencyKey
      ? deterministicUuid('intake-key', c.get('principal').actor, idempotencyKey)
      : randomUUID();
    await handler.handle(
      intakeKeyAggregate,
      { type: 'RegisterIntakeKey', data: { keyId, tenantId, name: body.name, publicKey } },
      commandOrigin(c),
    );
    c.header('location', `/v1/tenants/${tenantId}/intake-keys/${keyId}`);
    return c.json(
      {
        id: keyId,
        tenantId,
        name: body.name,
        algorithm: 'Ed25519',
        publicKey,
        // What every intake record signed with this key carries.
        headers: { [intakeHeaders.keyId]: keyId, [intakeHeaders.signature]: 'Ed25519 signature (64 bytes)' },
      } satisfies z.input<typeof intakeKeyAnswer>,
      201,
    );
  });

  app.delete(
    '/v1/tenants/:id/intake-keys/:keyId',
    requireRole('platform_admin', 'tenant_admin'),
    async (c) => {
      const { id: tenantId, keyId } = paramsOf(c, intakeContract.revokeKey.request.params);
      tenantScope(c, tenantId);
      await handler.handle(
        intakeKeyAggregate,
        { type: 'RevokeIntakeKey', data: { keyId, tenantId } },
        commandOrigin(c),
      );
      return c.body(null, 204);
    },
  );

  app.post('/v1/uploads', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    if (tenant.status === 'suspended')
      throw new ConflictError('the tenant is suspended and accepts no uploads');
    const upload = await receiveUpload(
      c.req.header('content-type'),
      c.req.raw.body as WebReadableStream<Uint8Array> | null,
      // The size of an image is the decider's rule; a file over it is cut off while it streams in.
      { ...defaultUploadLimits, maxFiles: 1, maxFields: 0, maxFileBytes: largestImageBytes(tenant) },
    );
    const [file] = upload.files;
    if (!file || upload.fields.size > 0)
      throw new ValidationError('send exactly one file part (the image) and no other field');
    const stored = await uploads.put(tenant, file.bytes);
    return c.json(
      {
        objectKey: stored.objectKey,
        sha256: stored.sha256,
        mime: stored.mime,
        bytes: stored.bytes,
        width: stored.width,
        height: stored.height,
        expiresAt: new Date(stored.expiresAt).toISOString(),
      } satisfies z.input<typeof storedUploadAnswer>,
      201,
    );
  });

  app.post('/v1/uploads/presigned', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    if (tenant.status === 'suspended')
      throw new ConflictError('the tenant is suspended and accepts no uploads');
    const body = await jsonBody(c, bodyOf(intakeContract.presign));
    // The bytes go straight to the tenant's storage: the size they are declared at is held to
    // the decider's rule before any is sent (and checked again as they are registered).
    const limit = largestImageBytes(tenant);
    if (body.bytes > limit)
      throw new PayloadTooLargeError(`the plan takes images up to ${limit} bytes`, { detail: { limit } });
    const presigned = await uploads.presign(tenant, body);
    if (!presigned)
      throw new ConflictError("this tenant's storage is not S3: send the bytes with POST /v1/uploads");
    return c.json(
      {
        objectKey: presigned.objectKey,
        method: 'PUT',
        url: presigned.url,
        urlExpiresAt: new Date(deps.clock() + presignedUrlSeconds * 1000).toISOString(),
        expiresAt: new Date(presigned.expiresAt).toISOString(),
      } satisfies z.input<typeof presignedUploadAnswer>,
      201,
    );
  });

  app.get('/v1/intake/:requestId', requireScope('images:write'), async (c) => {
    const tenant = await callerTenant(c);
    const parsed = intakeContract.outcome.request.params.safeParse(c.req.param());
    if (!parsed.success) throw new ValidationError('a request id has 1 to 200 characters');
    return c.json(
      (await readIntakeOutcome(pool, tenant.tenantId, parsed.data.requestId)) satisfies z.input<
        typeof intakeOutcomeAnswer
      >,
    );
  });

  return app;
}
