/**
 * What the write API's route contracts share: the `Idempotency-Key` header every command takes,
 * JSON content, and the error answers of a command (those of every operation, plus 409).
 */
import { problemResponses } from '@deeplens/platform/http/openApiRegistry';
import { problemResponse } from '@deeplens/platform/http/openApiProblems';
import { z } from 'zod';

/** `components.parameters.IdempotencyKey` (`idempotencyKeyHeader`, registered by `openApi.ts`). */
export const idempotencyKeyParameter = { $ref: '#/components/parameters/IdempotencyKey' };

/** A JSON answer described by `schema`. */
export const jsonContent = <T extends z.ZodTypeAny>(schema: T) => ({
  content: { 'application/json': { schema } },
});

/** The `Location` header of an answer that created something (or started it): where it is. */
export const locationHeader = z.object({
  Location: z.string().openapi({ description: 'Where what the command created can be read' }),
});

/** The error answers a command can give: those of every operation, and 409 (a conflict). */
export const commandProblems = { ...problemResponses, 409: problemResponse };

/** A JSON request body described, and validated, by `schema`: required, as the routes refuse none. */
export const jsonRequest = <T extends z.ZodTypeAny>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/** The zod schema of a route's JSON body: what `jsonBody` validates it with. */
export const bodyOf = <T extends z.ZodTypeAny>(route: {
  request: { body: { content: { 'application/json': { schema: T } } } };
}): T => route.request.body.content['application/json'].schema;
