/**
 * How search fuses its two signals for near-duplicates: the global descriptor ranks the
 * candidates, and among its top `depth` a candidate whose perceptual hash is within
 * `maxHammingDistance` of the query's is ranked first (nearest hash first, then the
 * descriptor's order). The hash is exact on colour, blur, re-encoding and overlays, where the
 * descriptor slips; it says nothing on crops, padding or flips, where the descriptor holds.
 * The defaults are chosen on the development set (`bench/quality.ts`, docs/search-quality.md).
 */
import { hammingDistance, isInformativeHash, isPerceptualHash } from './perceptualHash.ts';

export type FusionOptions = {
  /** How many of the descriptor's best candidates the hash may lift to the top. */
  depth: number;
  /** A candidate at most this many bits from the query's hash counts as the same picture. */
  maxHammingDistance: number;
};

export const defaultFusion: FusionOptions = { depth: 20, maxHammingDistance: 10 };

/** What put a hit where it is: the hash match, or the descriptor's similarity alone. */
export type RankedBy = 'perceptual-hash' | 'descriptor';

export type FusionCandidate = { perceptualHash?: string | null | undefined };

export type Fused<T> = T & { rankedBy: RankedBy; hammingDistance: number | null };

/**
 * `candidates` in the descriptor's order, best first, re-ranked. Without a query hash (or
 * candidates without one) the order is the descriptor's.
 */
export function fuseNearDuplicateRanking<T extends FusionCandidate>(
  queryHash: string | null | undefined,
  candidates: readonly T[],
  options: FusionOptions = defaultFusion,
): Fused<T>[] {
  // A flat picture's hash is nearly all zeros, whatever the picture: it matches nothing.
  const usable = (hash: string | null | undefined): hash is string =>
    isPerceptualHash(hash) && isInformativeHash(hash);
  const distances = candidates.map((c) =>
    usable(queryHash) && usable(c.perceptualHash) ? hammingDistance(queryHash, c.perceptualHash) : null,
  );
  const lifted: number[] = [];
  for (let i = 0; i < Math.min(options.depth, candidates.length); i++) {
    const d = distances[i];
    if (d !== null && d !== undefined && d <= options.maxHammingDistance) lifted.push(i);
  }
  lifted.sort((a, b) => distances[a]! - distances[b]! || a - b);
  const liftedSet = new Set(lifted);
  const order = [...lifted, ...[...candidates.keys()].filter((i) => !liftedSet.has(i))];
  return order.map((i) => ({
    ...candidates[i]!,
    rankedBy: liftedSet.has(i) ? 'perceptual-hash' : 'descriptor',
    hammingDistance: distances[i] ?? null,
  }));
}

/**
 * Geometric verification on top of the fusion: the first `depth` candidates (in the fused
 * order) are compared with the query by their local features (`verifyGeometry`), and one whose
 * matches a single similarity transform explains at least `minInliers` times is the same
 * picture, `verified`, ranked first (most inliers first). Chosen on the development set
 * (`bench/quality.ts`, docs/search-quality.md).
 */
export type VerificationRanking = {
  depth: number;
  minInliers: number;
  /**
   * Stop comparing once a candidate has at least this many inliers: the candidates after it (in
   * the fused order) are not compared (`inliers: null`), which saves most of the cost when the
   * original is near the top. Undefined: compare all `depth`.
   */
  stopAt?: number;
};

export const defaultVerificationRanking: VerificationRanking = { depth: 10, minInliers: 15, stopAt: 40 };

export type Verified<T> = Omit<T, 'rankedBy'> & {
  rankedBy: RankedBy | 'geometric';
  verified: boolean;
  /** Matches the transform explains; null when not compared (beyond `depth`, or no features). */
  inliers: number | null;
};

/**
 * `fused` (best first) re-ranked by `inliersOf` (null: cannot compare), which is called for the
 * first `depth` candidates only, in order (and no further once one reaches `stopAt`).
 */
export function promoteVerified<T extends { rankedBy: RankedBy }>(
  fused: readonly T[],
  inliersOf: (candidate: T, index: number) => number | null,
  options: VerificationRanking = defaultVerificationRanking,
): Verified<T>[] {
  const inliers: (number | null)[] = fused.map(() => null);
  for (let i = 0; i < Math.min(options.depth, fused.length); i++) {
    const n = inliersOf(fused[i]!, i);
    inliers[i] = n;
    if (options.stopAt !== undefined && n !== null && n >= options.stopAt) break;
  }
  const verified = [...fused.keys()].filter((i) => (inliers[i] ?? -1) >= options.minInliers);
  verified.sort((a, b) => inliers[b]! - inliers[a]! || a - b);
  const verifiedSet = new Set(verified);
  const order = [...verified, ...[...fused.keys()].filter((i) => !verifiedSet.has(i))];
  return order.map((i) => ({
    ...fused[i]!,
    rankedBy: verifiedSet.has(i) ? 'geometric' : fused[i]!.rankedBy,
    verified: verifiedSet.has(i),
    inliers: inliers[i] ?? null,
  }));
}
