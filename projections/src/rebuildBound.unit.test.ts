import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '@deeplens/platform/errors';
import { formatBound, parseUntil } from './rebuildBound.ts';

describe('parseUntil', () => {
  it('takes an ISO time with its zone', () => {
    const until = parseUntil('2026-12-03T10:15:00+01:00');
    assert.equal(until.kind, 'time');
    assert.equal(until.kind === 'time' && until.at.toISOString(), '2026-12-03T09:15:00.000Z');
  });

  it('takes topic:partition:offset for each partition, and renders it back', () => {
    const until = parseUntil('deeplens.image.v1:1:40, deeplens.image.v1:0:7,deeplens.tenant.v1:0:0');
    assert.equal(until.kind, 'offsets');
    if (until.kind !== 'offsets') return;
    assert.equal(until.ends.get('deeplens.image.v1:0'), 7);
    assert.equal(
      formatBound(until.ends),
      'deeplens.image.v1:0:7,deeplens.image.v1:1:40,deeplens.tenant.v1:0:0',
    );
  });

  it('refuses what is neither, a time without a zone, and a partition named twice', () => {
    for (const bad of ['yesterday', '2026-12-03T10:15:00', 'topic:1', 'topic:0:1,topic:0:2', '', 'a:b:c']) {
      assert.throws(() => parseUntil(bad), ValidationError, bad);
    }
  });
});
