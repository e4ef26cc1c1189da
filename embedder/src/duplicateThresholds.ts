/**
 * The descriptor similarity (cosine) above which two images count as the same picture, per
 * embedding space (`modelId@modelVersion`): `/v1/duplicates`' default threshold. Measured on the
 * development set by `bench/qualityDuplicates.ts` (the lowest threshold whose precision of "same
 * picture" is ≥ 99.5 % against each edited copy's nearest other original); see
 * docs/search-quality.md, "Duplicates". Cosines are not comparable across spaces: v2's whitened
 * ones are spread wider than v1's.
 */
export const duplicateThresholds: Readonly<Record<string, number>> = {
  // Descriptor v1 (average pooling, 1792-d): chosen before this measurement, kept.
  'mobilenet_v2_140_nsfwjs_mid@24d74ca05924': 0.95,
  // Descriptor v2 (GeM p = 3, learned whitening to 512-d): measured, bench/RESULTS.md "Duplicate thresholds".
  'mobilenet_v2_140_nsfwjs_mid@24d74ca05924-gem3-wd1f132ad9b6d-512': 0.9,
};

/** A space not measured keeps v1's threshold (the strictest known). */
export const fallbackDuplicateThreshold = 0.95;

export function duplicateThresholdFor(space: { modelId: string; modelVersion: string }): number {
  return duplicateThresholds[`${space.modelId}@${space.modelVersion}`] ?? fallbackDuplicateThreshold;
}
