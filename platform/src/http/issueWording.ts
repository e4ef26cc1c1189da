/**
 * The words our 400s use for what zod found wrong (`errors[].message`), kept as they were with
 * zod 3 (`Required`, `Expected string, received number`, `String must contain at most 64
 * character(s)`, `Invalid enum value. Expected 'a' | 'b', received 'c'`…) rather than zod 4's:
 * clients may show or match them. A schema's own message wins; this words the rest. Pass it to
 * each parse whose issues an answer carries: `schema.safeParse(value, { error: issueWording })`.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodRawIssue;

/** zod 3's name for the kind of `value` (`received` in its messages). */
function kindOf(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isNaN(value) ? 'nan' : 'number';
  if (value instanceof Date) return 'date';
  if (value instanceof Map) return 'map';
  if (value instanceof Set) return 'set';
  return typeof value;
}

const quoted = (value: unknown) => (typeof value === 'string' ? `'${value}'` : String(value));

const formats: Record<string, string> = {
  regex: 'Invalid',
  email: 'Invalid email',
  url: 'Invalid url',
  uuid: 'Invalid uuid',
  guid: 'Invalid uuid',
  datetime: 'Invalid datetime',
  date: 'Invalid date',
  time: 'Invalid time',
};

function sized(issue: Issue & { origin?: string; inclusive?: boolean; exact?: boolean }, small: boolean) {
  const bound = (small ? issue.minimum : issue.maximum) as number | bigint;
  const { origin, inclusive, exact } = issue;
  if (origin === 'string' || origin === 'array') {
    const what = origin === 'string' ? 'String' : 'Array';
    const unit = origin === 'string' ? 'character(s)' : 'element(s)';
    const relation = exact
      ? 'exactly'
      : small
        ? inclusive
          ? 'at least'
          : 'more than'
        : inclusive
          ? 'at most'
          : 'less than';
    return `${what} must contain ${relation} ${bound} ${unit}`;
  }
  if (origin === 'number' || origin === 'int' || origin === 'bigint') {
    const what = origin === 'bigint' ? 'BigInt' : 'Number';
    if (exact) return `${what} must be exactly ${bound}`;
    const relation = small
      ? inclusive
        ? 'greater than or equal to'
        : 'greater than'
      : inclusive
        ? 'less than or equal to'
        : 'less than';
    return `${what} must be ${relation} ${bound}`;
  }
  return undefined;
}

/** zod 3's message for an issue a schema gave no message of its own; else zod 4's. */
export function issueWording(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'Required';
      if (issue.expected === 'int')
        return `Expected integer, received ${typeof issue.input === 'number' ? 'float' : kindOf(issue.input)}`;
      return `Expected ${issue.expected}, received ${kindOf(issue.input)}`;
    }
    case 'too_small':
      return sized(issue, true);
    case 'too_big':
      return sized(issue, false);
    case 'invalid_format': {
      const { format } = issue as { format: string; prefix?: string; suffix?: string; includes?: string };
      const text = issue as { prefix?: string; suffix?: string; includes?: string };
      if (format === 'starts_with') return `Invalid input: must start with "${text.prefix}"`;
      if (format === 'ends_with') return `Invalid input: must end with "${text.suffix}"`;
      if (format === 'includes') return `Invalid input: must include "${text.includes}"`;
      return formats[format] ?? `Invalid ${format}`;
    }
    case 'invalid_value': {
      const { values } = issue as { values: readonly unknown[] };
      if (values.length === 1) return `Invalid literal value, expected ${JSON.stringify(values[0])}`;
      return `Invalid enum value. Expected ${values.map(quoted).join(' | ')}, received ${quoted(issue.input)}`;
    }
    case 'unrecognized_keys': {
      const { keys } = issue as { keys: readonly string[] };
      return `Unrecognized key(s) in object: ${keys.map((k) => `'${k}'`).join(', ')}`;
    }
    case 'not_multiple_of':
      return `Number must be a multiple of ${String((issue as { divisor: number }).divisor)}`;
    case 'invalid_union': {
      const { note, options } = issue as { note?: string; options?: readonly unknown[] };
      if (note === 'No matching discriminator' && options)
        return `Invalid discriminator value. Expected ${options.map(quoted).join(' | ')}`;
      return 'Invalid input';
    }
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return 'Invalid input';
    default:
      return undefined;
  }
}

/** `path` (dotted) and message of each issue, as our 400s list them in `errors`. */
export const issuesOf = (error: z.ZodError) =>
  error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
