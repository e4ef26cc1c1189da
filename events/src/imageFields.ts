import { z } from 'zod';

/** How an image arrived. */
export const imageSources = ['http', 'intake'] as const;
export type ImageSource = (typeof imageSources)[number];

/**
 * An image's descriptive fields, the one list of them: what an upload records about the stored
 * bytes. `ImageUploaded`'s data, the `UploadImage` command, the intake's `RegisterImage` record
 * and the metadata read model's row (its columns, snake-cased) are derived from it. The Avro
 * schemas stay the wire contract; `imageFields.unit.test.ts` fails when they and this list part.
 */
export const imageFields = z.object({
  /** Content-addressed key in the tenant's bucket or prefix. */
  objectKey: z.string(),
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: z.string(),
  mime: z.string(),
  bytes: z.number(),
  width: z.number(),
  height: z.number(),
  filename: z.string(),
  tags: z.array(z.string()),
  attributes: z.record(z.string(), z.string()),
  source: z.enum(imageSources),
});

export type ImageFields = z.infer<typeof imageFields>;

/** The names of `imageFields`, in their declared order. */
export const imageFieldNames = imageFields.keyof().options;

/**
 * Exactly the image fields of `value` (an event's data, a command's, a row mapped back), without
 * whatever else it carries: what is written to an event is the list, never a caller's extras.
 */
export function imageFieldsOf(value: ImageFields): ImageFields {
  return Object.fromEntries(imageFieldNames.map((name) => [name, value[name]])) as ImageFields;
}
