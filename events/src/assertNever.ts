/**
 * The last branch of every `switch` over a union: it fails to compile when a member is
 * unhandled, and fails loudly at run time if an unknown value slips in anyway.
 */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
