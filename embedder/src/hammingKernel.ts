/**
 * Nearest neighbours between binary descriptors, by Hamming distance, in WebAssembly: the
 * inner loop of geometric verification (500 × 500 ORB descriptors per candidate), where
 * JavaScript's 32-bit popcount by bit tricks cost ~4 ms per candidate and WebAssembly's
 * `i64.popcnt` ~1 ms (measured on this machine; the answers are identical).
 *
 * The module is `hammingKernel.wat`, assembled with wabt into the bytes below by
 * `npx tsx embedder/src/buildHammingKernel.ts`; a unit test assembles it again and compares.
 */
const kernelBase64 =
  'AGFzbQEAAAABCgFgBn9/f39/fwADAgEABQMBAAEHFAIGbWVtb3J5AgAHbmVhcmVzdAAACuQJAeEJCQh/CH4EfwR+BH8EfgR/BH4EfyAFIQoCQANAIAcgA08NASAKQX82AgAgCkH//wM2AgQgCkH//wM2AgggCkEMaiEKIAdBAWohBwwACwsgAiADQQV0aiELAkADQCAGQQRqIAFLDQEgACAGQQV0aiEIIAgpAwAhEiAIKQMIIRMgCCkDECEUIAgpAxghFUH//wMhF0H//wMhGEF/IRkgCCkDICEaIAgpAyghGyAIKQMwIRwgCCkDOCEdQf//AyEfQf//AyEgQX8hISAIKQNAISIgCCkDSCEjIAgpA1AhJCAIKQNYISVB//8DISdB//8DIShBfyEpIAgpA2AhKiAIKQNoISsgCCkDcCEsIAgpA3ghLUH//wMhL0H//wMhMEF/ITEgAiEJIAUhCkEAIQcCQANAIAkgC08NASAJKQMAIQ4gCSkDCCEPIAkpAxAhECAJKQMYIREgEiAOhXsgEyAPhXt8IBQgEIV7IBUgEYV7fHynIRYgGiAOhXsgGyAPhXt8IBwgEIV7IB0gEYV7fHynIR4gIiAOhXsgIyAPhXt8ICQgEIV7ICUgEYV7fHynISYgKiAOhXsgKyAPhXt8ICwgEIV7IC0gEYV7fHynIS4gFiAYSQRAIBYgF0kEQCAXIRggFiEXIAchGQUgFiEYCwsgHiAgSQRAIB4gH0kEQCAfISAgHiEfIAchIQUgHiEgCwsgJiAoSQRAICYgJ0kEQCAnISggJiEnIAchKQUgJiEoCwsgLiAwSQRAIC4gL0kEQCAvITAgLiEvIAchMQUgLiEwCwsgCigCCCENIBYgDUkgHiANSXIgJiANSXIgLiANSXIEQCAKKAIEIQwgFiAMSQRAIAwhDSAWIQwgCiAGQQBqNgIABSAWIA1JBEAgFiENCwsgHiAMSQRAIAwhDSAeIQwgCiAGQQFqNgIABSAeIA1JBEAgHiENCwsgJiAMSQRAIAwhDSAmIQwgCiAGQQJqNgIABSAmIA1JBEAgJiENCwsgLiAMSQRAIAwhDSAuIQwgCiAGQQNqNgIABSAuIA1JBEAgLiENCwsgCiAMNgIEIAogDTYCCAsgCUEgaiEJIApBDGohCiAHQQFqIQcMAAsLIAQgGTYCACAEIBc2AgQgBCAYNgIIIAQgITYCDCAEIB82AhAgBCAgNgIUIAQgKTYCGCAEICc2AhwgBCAoNgIgIAQgMTYCJCAEIC82AiggBCAwNgIsIARBMGohBCAGQQRqIQYMAAsLAkADQCAGQQFqIAFLDQEgACAGQQV0aiEIIAgpAwAhEiAIKQMIIRMgCCkDECEUIAgpAxghFUH//wMhF0H//wMhGEF/IRkgAiEJIAUhCkEAIQcCQANAIAkgC08NASAJKQMAIQ4gCSkDCCEPIAkpAxAhECAJKQMYIREgEiAOhXsgEyAPhXt8IBQgEIV7IBUgEYV7fHynIRYgFiAYSQRAIBYgF0kEQCAXIRggFiEXIAchGQUgFiEYCwsgCigCCCENIBYgDUkEQCAKKAIEIQwgFiAMSQRAIAwhDSAWIQwgCiAGQQBqNgIABSAWIA1JBEAgFiENCwsgCiAMNgIEIAogDTYCCAsgCUEgaiEJIApBDGohCiAHQQFqIQcMAAsLIAQgGTYCACAEIBc2AgQgBCAYNgIIIARBDGohBCAGQQFqIQYMAAsLCw==';

// TypeScript declares WebAssembly in its DOM libraries only; Node has it as a global.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};

type Exports = {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  nearest: (q: number, n: number, c: number, m: number, rows: number, cols: number) => void;
};

let kernel: Exports | undefined;
function load(): Exports {
  kernel ??= new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(kernelBase64, 'base64')))
    .exports as Exports;
  return kernel;
}

export const kernelBytes = (): Buffer => Buffer.from(kernelBase64, 'base64');

/** For each row (and each column): the nearest on the other side, its distance, the second distance. */
export type NearestNeighbours = {
  /** Per query descriptor i: [3i] best candidate (-1: none), [3i+1] its distance, [3i+2] the second's. */
  rows: Int32Array;
  /** Per candidate descriptor j: [3j] best query descriptor, [3j+1] its distance, [3j+2] the second's. */
  cols: Int32Array;
};

/**
 * Nearest and second-nearest neighbours both ways between `n` query and `m` candidate
 * descriptors of 256 bits (8 words each). Copies the answers out of the module's memory.
 */
export function nearestNeighbours(
  query: Uint32Array,
  n: number,
  candidate: Uint32Array,
  m: number,
): NearestNeighbours {
  const { memory, nearest } = load();
  const q = 0;
  const c = q + n * 32;
  const rows = c + m * 32;
  const cols = rows + n * 12;
  const end = cols + m * 12;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const words = new Uint32Array(memory.buffer);
  words.set(query.subarray(0, n * 8), q / 4);
  words.set(candidate.subarray(0, m * 8), c / 4);
  nearest(q, n, c, m, rows, cols);
  return {
    rows: new Int32Array(memory.buffer.slice(rows, rows + n * 12)),
    cols: new Int32Array(memory.buffer.slice(cols, cols + m * 12)),
  };
}
