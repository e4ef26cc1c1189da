import { AsyncLocalStorage } from 'node:async_hooks';
import { schemaOfGeneration } from './postgresProjection.ts';

/**
 * The generations one read looks at instead of the active ones: a platform admin reading a
 * point-in-time snapshot (`DeepLens-Generation`). Set for the duration of a request with
 * `withGenerations`; the queries (`metadataQueries`, `vectorQueries`) consult it, so routes
 * stay unaware of it. Only non-active generations are put here: the active one is the plain
 * name anyway.
 */
export type GenerationSelection = Readonly<Partial<Record<'metadata' | 'usage' | 'vectors', number>>>;

const scope = new AsyncLocalStorage<GenerationSelection>();

/** Runs `work` reading the selected generations. */
export function withGenerations<T>(selection: GenerationSelection, work: () => T): T {
  return scope.run(selection, work);
}

/** The non-active generation of `projection` this read looks at, if any. */
export function selectedGeneration(projection: keyof GenerationSelection): number | undefined {
  return scope.getStore()?.[projection];
}

/** The schema a read-model base name has for this read: the plain (active) name, or a snapshot's. */
export function readSchema(base: string, projection: keyof GenerationSelection): string {
  const generation = selectedGeneration(projection);
  return generation === undefined ? base : schemaOfGeneration(base, generation, false);
}
