import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRecovery, parseRecoverArguments } from './recoverCommand.ts';
import type { RecoveryResult } from './recoverWriteModel.ts';

const result: RecoveryResult = {
  mode: 'verify',
  records: 120,
  applied: 118,
  duplicates: 2,
  aggregates: 40,
  reservations: 12,
  tenantsWithUsage: 3,
  clashes: [],
  logEnd: { 'deeplens.tenant.v1:0': 10 },
  readSeconds: 1,
  writeSeconds: 0.2,
  differences: [],
};

describe('recover command', () => {
  it('takes --force or --verify, not both', () => {
    assert.deepEqual(parseRecoverArguments([]), { mode: 'recover', json: false, help: false });
    assert.equal(parseRecoverArguments(['--force']).mode, 'force');
    assert.equal(parseRecoverArguments(['--verify', '--json']).json, true);
    assert.throws(() => parseRecoverArguments(['--force', '--verify']), /not both/);
    assert.throws(() => parseRecoverArguments(['--skip']), /Unknown option/);
  });

  it('says the write model matches, or lists what differs field by field', () => {
    assert.match(describeRecovery(result, 1.5).join('\n'), /^The write model matches the log: 40 aggregates/);
    const lines = describeRecovery(
      {
        ...result,
        changedDuringCheck: 1,
        differences: [
          {
            table: 'aggregates',
            key: 'tenant t1',
            live: { version: 3 },
            recovered: { version: 3 },
            fields: ['name'],
          },
          { table: 'unique_reservations', key: 'user_email bob@example.com', live: null, recovered: 'u1' },
        ],
      },
      1.5,
    );
    assert.match(lines[0]!, /differs from the log in 2 rows \(1 aggregates written during the check/);
    assert.match(lines[1]!, /aggregates tenant t1 fields name: live/);
    assert.match(lines[2]!, /unique_reservations user_email bob@example.com: live null · log "u1"/);
  });

  it('warns about a value two aggregates claim, naming the one that keeps it', () => {
    const lines = describeRecovery(
      {
        ...result,
        mode: 'recover',
        clashes: [{ kind: 'tenant_slug', value: 'alpha', keptBy: 't1', alsoClaimedBy: ['t2'] }],
      },
      2,
    );
    assert.match(lines[0]!, /^warning: tenant_slug 'alpha' is claimed by t1, t2 .* stays with the first, t1/);
    assert.match(
      lines[1]!,
      /^Recovered the write model from 120 records \(2 republished duplicates skipped\)/,
    );
  });
});
