/**
 * Assembles `hammingKernel.wat` with wabt and prints the base64 of the module, to paste into
 * `hammingKernel.ts` after a change to the `.wat` (the unit test says when they differ).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import wabtInit from 'wabt';

export async function assembleHammingKernel(): Promise<Buffer> {
  const wabt = await wabtInit();
  const path = join(import.meta.dirname, 'hammingKernel.wat');
  const module = wabt.parseWat(path, await readFile(path, 'utf8'));
  try {
    return Buffer.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await assembleHammingKernel()).toString('base64'));
}
