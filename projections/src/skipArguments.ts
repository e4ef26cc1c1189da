import { parseArgs } from 'node:util';
import { parseRecordAddress } from '@deeplens/platform/consumerRuntime';

/**
 * The operator's `--skip topic:partition:offset` (repeatable) and the positional arguments of a
 * projector entry. A record is only ever passed over when named here; each skip is recorded in
 * `projections.failures` and logged.
 */
export function parseSkipArguments(args: readonly string[]): { skip: string[]; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { skip: { type: 'string', multiple: true } },
    allowPositionals: true,
    strict: true,
  });
  const skip = (values.skip ?? []).flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
  for (const address of skip) parseRecordAddress(address);
  return { skip: skip.map((s) => s.trim()), positionals };
}
