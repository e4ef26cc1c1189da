import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { generatedDirectory, renderApiTypes } from './renderApiTypes.ts';

describe('generated API types', () => {
  it('match the OpenAPI documents (else: npm run generate -w @deeplens/client)', async () => {
    for (const [file, expected] of Object.entries(await renderApiTypes())) {
      const committed = await readFile(new URL(file, generatedDirectory), 'utf8');
      assert.ok(
        committed === expected,
        `client/src/generated/${file} is out of date: run npm run generate -w @deeplens/client`,
      );
    }
  });
});
