import { createHash, randomUUID } from 'node:crypto';

export { randomUUID };

/**
 * A UUID (version 5 layout) derived from `parts`: the same parts always give the same id.
 * Used where a retry must reproduce the ids of the first attempt (idempotency keys), or
 * where an id must be a pure function of its source (vector point ids).
 */
export function deterministicUuid(...parts: string[]): string {
  const hash = createHash('sha256').update(parts.join('\u0000')).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
