/**
 * A 64-bit DCT perceptual hash (pHash) of an image: the signs, against their median, of the
 * 8 × 8 lowest non-constant frequencies of a 32 × 32 greyscale copy. Colour, blur, re-encoding,
 * resizing and faint overlays barely move it; crops, padding, flips and rotations do. The
 * global descriptor is the other way round, which is why search fuses the two
 * (`fuseNearDuplicateRanking`).
 *
 * Computed from pixels already decoded for the model (RGB, HWC), so it costs no second decode:
 * with a `fill` resize those pixels are the whole image stretched, as pHash wants.
 */

const SIDE = 32;
const BAND = 8;

/** cos((2x + 1)uπ / 64) for u in 0..BAND, x in 0..SIDE: the DCT-II basis rows we need. */
const basis: Float64Array = (() => {
  const table = new Float64Array((BAND + 1) * SIDE);
  for (let u = 0; u <= BAND; u++)
    for (let x = 0; x < SIDE; x++) table[u * SIDE + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * SIDE));
  return table;
})();

/** The hash of `width × height` RGB pixels (HWC, 3 bytes a pixel) as 16 lowercase hex digits. */
export function perceptualHash(rgb: Uint8Array, width: number, height: number): string {
  if (width <= 0 || height <= 0 || rgb.length < width * height * 3)
    throw new Error(`perceptualHash needs ${width} × ${height} RGB pixels, got ${rgb.length} bytes`);
  // Area average into a 32 × 32 luma grid.
  const sums = new Float64Array(SIDE * SIDE);
  const counts = new Float64Array(SIDE * SIDE);
  for (let y = 0; y < height; y++) {
    const row = Math.floor((y * SIDE) / height) * SIDE;
    for (let x = 0, at = y * width * 3; x < width; x++, at += 3) {
      const cell = row + Math.floor((x * SIDE) / width);
      sums[cell]! += 0.299 * rgb[at]! + 0.587 * rgb[at + 1]! + 0.114 * rgb[at + 2]!;
      counts[cell]! += 1;
    }
  }
  for (let i = 0; i < sums.length; i++) sums[i] = sums[i]! / Math.max(1, counts[i]!);

  // Separable DCT-II, only the rows and columns 1..8 (0 is the mean: no information).
  const partial = new Float64Array(SIDE * (BAND + 1)); // [y][v]
  for (let y = 0; y < SIDE; y++)
    for (let v = 1; v <= BAND; v++) {
      let s = 0;
      for (let x = 0; x < SIDE; x++) s += sums[y * SIDE + x]! * basis[v * SIDE + x]!;
      partial[y * (BAND + 1) + v] = s;
    }
  const coefficients = new Float64Array(BAND * BAND);
  for (let u = 1; u <= BAND; u++)
    for (let v = 1; v <= BAND; v++) {
      let s = 0;
      for (let y = 0; y < SIDE; y++) s += partial[y * (BAND + 1) + v]! * basis[u * SIDE + y]!;
      coefficients[(u - 1) * BAND + (v - 1)] = s;
    }

  const sorted = Float64Array.from(coefficients).sort();
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let value = 0;
    for (let bit = 0; bit < 4; bit++)
      value = (value << 1) | (coefficients[nibble * 4 + bit]! > median ? 1 : 0);
    hex += value.toString(16);
  }
  return hex;
}

const hashPattern = /^[0-9a-f]{16}$/;

/** Whether `value` is a hash as `perceptualHash` writes it. */
export function isPerceptualHash(value: unknown): value is string {
  return typeof value === 'string' && hashPattern.test(value);
}

function popcount32(n: number): number {
  n = n - ((n >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** How many of the 64 bits differ between two hashes. */
export function hammingDistance(a: string, b: string): number {
  return (
    popcount32(Number.parseInt(a.slice(0, 8), 16) ^ Number.parseInt(b.slice(0, 8), 16)) +
    popcount32(Number.parseInt(a.slice(8, 16), 16) ^ Number.parseInt(b.slice(8, 16), 16))
  );
}

/**
 * Whether a hash says anything about its image. Thresholding at the median sets 32 of the 64
 * bits; a flat picture (one colour, an empty page) has coefficients of 0 that tie with the
 * median, and its hash is nearly all zeros, the same for every flat picture.
 */
export function isInformativeHash(hash: string): boolean {
  const ones =
    popcount32(Number.parseInt(hash.slice(0, 8), 16)) + popcount32(Number.parseInt(hash.slice(8, 16), 16));
  return ones >= 24 && ones <= 40;
}
