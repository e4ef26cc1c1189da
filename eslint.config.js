// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers, bottom first: a workspace imports its own layer and the ones below, never one above
 * (`@deeplens/<workspace>` names; checked by `no-restricted-imports` per folder).
 */
const layers = [
  ['platform'],
  ['events'],
  ['commands', 'projections'],
  ['write-api', 'read-api', 'embedder'],
  ['cli', 'client', 'web', 'reliability', 'stack'],
];
/** Tests that already reach a layer above their own to drive the whole system (issue #16 lists them). */
const knownUpwardImports = [
  'commands/src/recoverWriteModel.e2e.test.ts', // @deeplens/client
  'read-api/src/searchJourney.e2e.test.ts', // @deeplens/client
  'write-api/src/storageMove.e2e.test.ts', // @deeplens/reliability
];
const layerRules = layers.slice(0, -1).map((workspaces, i) => {
  const above = layers.slice(i + 1).flat();
  return {
    files: workspaces.map((w) => `${w}/**/*.{ts,tsx}`),
    ignores: knownUpwardImports,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: above.flatMap((w) => [`@deeplens/${w}`, `@deeplens/${w}/**`]),
              message: `${workspaces.join(', ')} may not import a layer above it (${layers
                .map((l) => l.join(', '))
                .join(' < ')}).`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['node_modules/', '.stack/', '**/*.js', '**/*.mjs'] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Ports are async; an adapter that happens to finish synchronously still honours them.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  {
    // Every query's rows are typed (`sql.type(zodRow)`, checked at run time by the result parser
    // interceptor, or `sql.typeAlias('void')` for none); `sql.unsafe` is left to tests.
    files: ['**/*.ts'],
    ignores: ['**/*.test.ts', '**/testing/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='sql'][property.name='unsafe']",
          message: "Type the query's rows: sql.type(zodRow), or sql.typeAlias('void') when it returns none.",
        },
      ],
    },
  },
);
