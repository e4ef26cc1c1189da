import { AsyncLocalStorage } from 'node:async_hooks';
import type { MiddlewareHandler } from 'hono';
import {
  missingInTargetSpace,
  recordedEmbeddingSpaceMove,
  spaceName,
} from '@deeplens/embedder/embeddingSpaceMove';
import { loadModelManifest, type ModelManifest } from '@deeplens/embedder/modelManifest';
import { retiredEmbeddingSpaces } from '@deeplens/embedder/embeddingSpaceRetirement';
import type { EmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import type { DatabasePool } from '@deeplens/platform/database';
import { UnavailableError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import type { ModelRef } from '@deeplens/projections/vectorQueries';
import type { ReadApiEnv } from './readApiEnv.ts';

/** The space a request searches, and the model that embeds its query images in that space. */
export type SearchSpace = { model: ModelRef; queryModel: () => Promise<EmbeddingModel> };

/** What the read API says about a move in progress (`/readyz`): no tenant is named. */
export type EmbeddingSpaceMoveStatus = {
  serving: string;
  target: string;
  /** Tenants this process has seen complete, and answers from the target space. */
  tenantsSwitched: number;
} | null;

type Target = { space: string; search: SearchSpace };

/**
 * Which embedding space each tenant's searches read while the installation moves to another
 * (`embedder/src/embeddingSpaceMove.ts`): the configured (serving) space, until every image of
 * the tenant that has a vector in the read model has one in the target space (seen so for
 * `settleMs`); from then on the target space, for good (a tenant never goes back within this
 * process). The recorded move and each tenant's completeness are looked up at most every
 * `cacheMs` (a tenant's at most 5 % of the time: every 20 times as long as its last check took,
 * if longer); the target's query model is loaded before any tenant is switched to it. A failed
 * lookup keeps the serving space: searches answer from what is complete.
 *
 * The middleware (mounted after `authenticate`) runs each request in its tenant's space; the
 * read API's `defaultModel` and `queryModel` read it through `current()`, so routes stay unaware
 * of a move.
 *
 * A retired space (`embeddingSpaceMoveMain.ts retire`, looked up at most every `cacheMs`) is never
 * searched: its vectors are gone from the read model, so a tenant whose space it still is gets a
 * 503 naming it and its replacement from anything that reads the space, never an empty answer.
 */
export function createEmbeddingSpaceSelection(options: {
  pool: DatabasePool;
  serving: SearchSpace;
  loadQueryModel: (manifest: ModelManifest) => Promise<EmbeddingModel>;
  log: Logger;
  clock: () => number;
  cacheMs?: number;
  /** How long a tenant must have been seen complete before it is switched. */
  settleMs?: number;
}) {
  const { pool, serving, log, clock } = options;
  const cacheMs = options.cacheMs ?? 2000;
  const settleMs = options.settleMs ?? 2000;
  const scope = new AsyncLocalStorage<{ search: SearchSpace; retiredFor?: string }>();
  const servingSpace = spaceName(serving.model);
  const switched = new Map<string, Target>();
  let lastTarget: Target | undefined;
  // Targets by space, each with its query model loading once; `ready` once it has loaded.
  const targets = new Map<string, { target: Target; ready: boolean }>();
  let moveLookup: { at: number; target: Promise<Target | undefined> } | undefined;
  const completeness = new Map<
    string,
    { at: number; interval: number; checking: boolean; complete: Promise<boolean> }
  >();
  const checks = new Set<Promise<boolean>>();
  const completeSince = new Map<string, number>();
  let retiredLookup: { at: number; retired: Promise<Map<string, string>> } | undefined;

  function retiredSpaces(): Promise<Map<string, string>> {
    const now = clock();
    if (!retiredLookup || now - retiredLookup.at >= cacheMs) {
      const retired = retiredEmbeddingSpaces(pool).catch((error: unknown) => {
        log.warn('embedding space move: looking up the retired spaces failed', { error });
        return new Map<string, string>();
      });
      retiredLookup = { at: now, retired };
    }
    return retiredLookup.retired;
  }

  function targetOf(manifest: ModelManifest, space: string): { target: Target; ready: boolean } {
    let known = targets.get(space);
    if (!known) {
      const model = options.loadQueryModel(manifest);
      const entry = {
        target: {
          space,
          search: {
            model: { modelId: manifest.modelId, modelVersion: manifest.modelVersion },
            queryModel: () => model,
          },
        },
        ready: false,
      };
      known = entry;
      targets.set(space, entry);
      model.then(
        () => {
          entry.ready = true;
          log.info('embedding space move: target query model loaded', { target: space });
        },
        (error: unknown) => {
          targets.delete(space);
          log.warn('embedding space move: the target query model did not load', { target: space, error });
        },
      );
    }
    return known;
  }

  async function lookUpTarget(): Promise<Target | undefined> {
    const move = await recordedEmbeddingSpaceMove(pool);
    if (!move || move.targetSpace === servingSpace) return undefined;
    const manifest = await loadModelManifest(move.manifestPath);
    if (spaceName(manifest) !== move.targetSpace) {
      throw new Error(
        `the move's manifest ${move.manifestPath} is ${spaceName(manifest)}, not ${move.targetSpace}`,
      );
    }
    const known = targetOf(manifest, move.targetSpace);
    return known.ready ? known.target : undefined;
  }

  function currentTarget(): Promise<Target | undefined> {
    const now = clock();
    if (!moveLookup || now - moveLookup.at >= cacheMs) {
      const target = lookUpTarget().catch((error: unknown) => {
        log.warn('embedding space move: looking up the move failed', { error });
        return undefined;
      });
      moveLookup = { at: now, target };
    }
    return moveLookup.target;
  }

  /**
   * Whether the tenant is complete in the target, as last checked. The first check of a tenant
   * is waited for; later ones run in the background while requests get the last answer, so a
   * large tenant's check (0.1 s for 100 000 images) never delays a search.
   */
  function isComplete(tenantId: string, target: Target): Promise<boolean> {
    const now = clock();
    const key = `${tenantId}:${target.space}`;
    const known = completeness.get(key);
    if (known && (known.checking || now - known.at < known.interval)) return known.complete;
    const check = missingInTargetSpace(pool, tenantId, target.search.model).then(
      (missing) => missing === 0,
      (error: unknown) => {
        log.warn("embedding space move: reading a tenant's progress failed", { tenantId, error });
        return false;
      },
    );
    const entry = known ?? { at: now, interval: cacheMs, checking: true, complete: check };
    entry.checking = true;
    completeness.set(key, entry);
    const done = check.then((complete) => {
      entry.complete = Promise.resolve(complete);
      entry.at = clock();
      // A large tenant's check costs more: at most 5 % of the time.
      entry.interval = Math.max(cacheMs, 20 * (entry.at - now));
      entry.checking = false;
      return complete;
    });
    checks.add(done);
    void done.finally(() => checks.delete(done));
    return known ? known.complete : done;
  }

  async function spaceOf(tenantId: string | null): Promise<SearchSpace> {
    if (tenantId === null) return serving;
    const already = switched.get(tenantId);
    if (already) return already.search;
    const target = await currentTarget();
    const key = `${tenantId}:${target?.space}`;
    if (!target || !(await isComplete(tenantId, target))) {
      completeSince.delete(key);
      return serving;
    }
    // The read model's status table is committed a moment before this process's copy of the
    // vector index reads the commit (an embedded index's follower looks every 200 ms): wait.
    const since = completeSince.get(key) ?? clock();
    completeSince.set(key, since);
    if (clock() - since < settleMs) return serving;
    if (!switched.has(tenantId)) {
      switched.set(tenantId, target);
      lastTarget = target;
      log.info('embedding space move: tenant searches the target space', { tenantId, target: target.space });
    }
    return switched.get(tenantId)!.search;
  }

  const middleware: MiddlewareHandler<ReadApiEnv> = async (c, next) => {
    const [space, retired] = await Promise.all([
      spaceOf(c.get('principal')?.tenantId ?? null),
      retiredSpaces(),
    ]);
    const retiredFor = retired.get(spaceName(space.model));
    await scope.run(retiredFor === undefined ? { search: space } : { search: space, retiredFor }, next);
  };

  return {
    middleware,
    /** The space of the request being answered (the serving space outside a request). */
    current(): SearchSpace {
      const store = scope.getStore();
      if (store?.retiredFor !== undefined) {
        const space = spaceName(store.search.model);
        throw new UnavailableError(
          `embedding space ${space} is retired (replaced by ${store.retiredFor}) and its vectors are gone; this read API still searches it: restart it on ${store.retiredFor}`,
          { detail: { space, replacedBy: store.retiredFor } },
        );
      }
      return store?.search ?? serving;
    },
    /** Resolves once the tenant checks running now have answered (tests wait on it). */
    async idle(): Promise<void> {
      await Promise.all([...checks]);
    },
    /** The move as this process sees it, for `/readyz`; null when it sees none. */
    async status(): Promise<EmbeddingSpaceMoveStatus> {
      const target = (await currentTarget()) ?? lastTarget;
      if (!target) return null;
      return {
        serving: servingSpace,
        target: target.space,
        tenantsSwitched: [...switched.values()].filter((t) => t.space === target.space).length,
      };
    },
  };
}

export type EmbeddingSpaceSelection = ReturnType<typeof createEmbeddingSpaceSelection>;
