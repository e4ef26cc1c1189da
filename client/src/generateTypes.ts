/**
 * Writes `generated/writeApi.ts` and `generated/readApi.ts` from the two APIs' OpenAPI
 * documents. Run it after changing either document:
 *
 *   npm run generate -w @deeplens/client
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generatedDirectory, renderApiTypes } from './renderApiTypes.ts';

for (const [file, source] of Object.entries(await renderApiTypes())) {
  const target = new URL(file, generatedDirectory);
  await writeFile(target, source);
  console.log(`wrote ${fileURLToPath(target)}`);
}
