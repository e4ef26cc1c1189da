import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { issueWording } from './issueWording.ts';

const messagesOf = (schema: z.ZodType, value: unknown) => {
  const parsed = schema.safeParse(value, { error: issueWording });
  assert.equal(parsed.success, false);
  return parsed.error.issues.map((i) => i.message);
};

describe('issueWording: our 400s word what zod found as they did with zod 3', () => {
  it('words a missing member, a wrong type and a non-integer', () => {
    const schema = z.object({ a: z.string(), b: z.number().int(), c: z.number().int() });
    assert.deepEqual(messagesOf(schema, { b: 'x', c: 1.5 }), [
      'Required',
      'Expected number, received string',
      'Expected integer, received float',
    ]);
  });

  it('words sizes of texts, lists and numbers', () => {
    const schema = z.object({
      s: z.string().max(3),
      t: z.string().min(1),
      l: z.array(z.string()).max(1),
      n: z.number().min(1),
      m: z.number().lt(10),
    });
    assert.deepEqual(messagesOf(schema, { s: 'long', t: '', l: ['a', 'b'], n: 0, m: 10 }), [
      'String must contain at most 3 character(s)',
      'String must contain at least 1 character(s)',
      'Array must contain at most 1 element(s)',
      'Number must be greater than or equal to 1',
      'Number must be less than 10',
    ]);
  });

  it('words formats, enums, literals, unknown members and discriminators', () => {
    const schema = z
      .object({
        id: z.guid(),
        e: z.string().email(),
        r: z.string().regex(/^a$/),
        k: z.enum(['a', 'b']),
        v: z.literal('x'),
        d: z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('s3') }),
          z.object({ kind: z.literal('path') }),
        ]),
      })
      .strict();
    assert.deepEqual(
      messagesOf(schema, { id: 'nope', e: 'nope', r: 'b', k: 'c', v: 'y', d: { kind: 'ftp' }, extra: 1 }),
      [
        'Invalid uuid',
        'Invalid email',
        'Invalid',
        "Invalid enum value. Expected 'a' | 'b', received 'c'",
        'Invalid literal value, expected "x"',
        "Invalid discriminator value. Expected 's3' | 'path'",
        "Unrecognized key(s) in object: 'extra'",
      ],
    );
  });

  it("keeps a schema's own message", () => {
    const schema = z
      .string()
      .max(2, 'too long')
      .refine((s) => s !== 'no', 'not that');
    assert.deepEqual(messagesOf(schema, 'abc'), ['too long']);
    assert.deepEqual(messagesOf(schema, 'no'), ['not that']);
  });
});
