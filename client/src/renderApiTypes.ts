import openapiTS, { astToString } from 'openapi-typescript';
import { format, resolveConfig } from 'prettier';
import { readApiOpenApi } from '@deeplens/read-api/openApi';
import { writeApiOpenApi } from '@deeplens/write-api/openApi';

/** The OpenAPI documents the client is typed from, by the file their types go to. */
export const apiDocuments = {
  'writeApi.ts': { source: 'write-api/src/openApi.ts', document: writeApiOpenApi },
  'readApi.ts': { source: 'read-api/src/openApi.ts', document: readApiOpenApi },
} as const;

export const generatedDirectory = new URL('./generated/', import.meta.url);

/**
 * The TypeScript of `generated/<file>` for each API, formatted with the repository's Prettier
 * settings so the committed files pass `prettier --check` as they are.
 */
export async function renderApiTypes(): Promise<Record<keyof typeof apiDocuments, string>> {
  const prettierOptions = (await resolveConfig(new URL('writeApi.ts', generatedDirectory))) ?? {};
  const rendered = {} as Record<keyof typeof apiDocuments, string>;
  for (const [file, { source, document }] of Object.entries(apiDocuments)) {
    // openapi-typescript wants a plain mutable object; the documents are `as const`.
    const ast = await openapiTS(JSON.parse(JSON.stringify(document)) as Parameters<typeof openapiTS>[0]);
    const header = `/**\n * Generated from ${source} by client/src/generateTypes.ts: do not edit.\n * Regenerate with \`npm run generate -w @deeplens/client\`.\n */\n`;
    rendered[file as keyof typeof apiDocuments] = await format(header + astToString(ast), {
      ...prettierOptions,
      parser: 'typescript',
    });
  }
  return rendered;
}
