import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStorableText } from './requestBody.ts';
import { cleanFilename, truncateCodePoints } from './receiveUpload.ts';

describe('cleanFilename', () => {
  it('truncates on a code point boundary: an emoji at the cut is dropped whole, not split', () => {
    const name = `${'a'.repeat(254)}😀😀.jpg`;
    const clean = cleanFilename(name);
    assert.equal(clean, 'a'.repeat(254));
    assert.ok(isStorableText(clean));
    const fits = `${'a'.repeat(253)}😀.jpg`;
    assert.equal(cleanFilename(fits), `${'a'.repeat(253)}😀`);
    assert.ok(isStorableText(cleanFilename('😀'.repeat(200))));
    assert.equal(cleanFilename('😀'.repeat(200)).length, 254);
  });

  it('keeps the last path segment only, without control characters', () => {
    assert.equal(cleanFilename('../../etc/pass\u0000wd'), 'passwd');
    assert.equal(cleanFilename('C:\\\\Users\\\\x\\\\..'), 'unnamed');
    assert.equal(truncateCodePoints('abc', 2), 'ab');
  });
});
