/**
 * Nearest neighbours between binary descriptors, by Hamming distance, in WebAssembly: the
 * inner loop of geometric verification (500 × 500 ORB descriptors per candidate). Per
 * candidate pair, in CPU time on this machine (`npx tsx bench/geometricVerification.ts`): the
 * TypeScript matcher with 32-bit popcount by shifts and masks ~4 ms, this module one query row
 * per pass (`i64.popcnt`) ~0.85 ms, eight rows per pass ~0.55 ms — the answers identical.
 *
 * The module is `hammingKernel.wat`, assembled with wabt into the bytes below by
 * `npx tsx embedder/src/buildHammingKernel.ts`; a unit test assembles it again and compares.
 */
const kernelBase64 =
  'AGFzbQEAAAABCgFgBn9/f39/fwADAgEABQMBAAEHFAIGbWVtb3J5AgAHbmVhcmVzdAAACvQPAfEPEQh/CH4EfwR+BH8EfgR/BH4EfwR+BH8EfgR/BH4EfwR+BH8gBSEKAkADQCAHIANPDQEgCkF/NgIAIApB//8DNgIEIApB//8DNgIIIApBDGohCiAHQQFqIQcMAAsLIAIgA0EFdGohCwJAA0AgBkEIaiABSw0BIAAgBkEFdGohCCAIKQMAIRIgCCkDCCETIAgpAxAhFCAIKQMYIRVB//8DIRdB//8DIRhBfyEZIAgpAyAhGiAIKQMoIRsgCCkDMCEcIAgpAzghHUH//wMhH0H//wMhIEF/ISEgCCkDQCEiIAgpA0ghIyAIKQNQISQgCCkDWCElQf//AyEnQf//AyEoQX8hKSAIKQNgISogCCkDaCErIAgpA3AhLCAIKQN4IS1B//8DIS9B//8DITBBfyExIAgpA4ABITIgCCkDiAEhMyAIKQOQASE0IAgpA5gBITVB//8DITdB//8DIThBfyE5IAgpA6ABITogCCkDqAEhOyAIKQOwASE8IAgpA7gBIT1B//8DIT9B//8DIUBBfyFBIAgpA8ABIUIgCCkDyAEhQyAIKQPQASFEIAgpA9gBIUVB//8DIUdB//8DIUhBfyFJIAgpA+ABIUogCCkD6AEhSyAIKQPwASFMIAgpA/gBIU1B//8DIU9B//8DIVBBfyFRIAIhCSAFIQoCQANAIAkgC08NASAJKQMAIQ4gCSkDCCEPIAkpAxAhECAJKQMYIREgEiAOhXsgEyAPhXt8IBQgEIV7IBUgEYV7fHynIRYgGiAOhXsgGyAPhXt8IBwgEIV7IB0gEYV7fHynIR4gIiAOhXsgIyAPhXt8ICQgEIV7ICUgEYV7fHynISYgKiAOhXsgKyAPhXt8ICwgEIV7IC0gEYV7fHynIS4gMiAOhXsgMyAPhXt8IDQgEIV7IDUgEYV7fHynITYgOiAOhXsgOyAPhXt8IDwgEIV7ID0gEYV7fHynIT4gQiAOhXsgQyAPhXt8IEQgEIV7IEUgEYV7fHynIUYgSiAOhXsgSyAPhXt8IEwgEIV7IE0gEYV7fHynIU4gFiAYSQRAIBYgF0kEQCAXIRggFiEXIAkgAmtBBXYhGQUgFiEYCwsgHiAgSQRAIB4gH0kEQCAfISAgHiEfIAkgAmtBBXYhIQUgHiEgCwsgJiAoSQRAICYgJ0kEQCAnISggJiEnIAkgAmtBBXYhKQUgJiEoCwsgLiAwSQRAIC4gL0kEQCAvITAgLiEvIAkgAmtBBXYhMQUgLiEwCwsgNiA4SQRAIDYgN0kEQCA3ITggNiE3IAkgAmtBBXYhOQUgNiE4CwsgPiBASQRAID4gP0kEQCA/IUAgPiE/IAkgAmtBBXYhQQUgPiFACwsgRiBISQRAIEYgR0kEQCBHIUggRiFHIAkgAmtBBXYhSQUgRiFICwsgTiBQSQRAIE4gT0kEQCBPIVAgTiFPIAkgAmtBBXYhUQUgTiFQCwsgCigCCCENAkACQCAWIA1JDQAgHiANSQ0AICYgDUkNACAuIA1JDQAgNiANSQ0AID4gDUkNACBGIA1JDQAgTiANSQ0ADAELAkAgCigCBCEMIBYgDEkEQCAMIQ0gFiEMIAogBkEAajYCAAUgFiANSQRAIBYhDQsLIB4gDEkEQCAMIQ0gHiEMIAogBkEBajYCAAUgHiANSQRAIB4hDQsLICYgDEkEQCAMIQ0gJiEMIAogBkECajYCAAUgJiANSQRAICYhDQsLIC4gDEkEQCAMIQ0gLiEMIAogBkEDajYCAAUgLiANSQRAIC4hDQsLIDYgDEkEQCAMIQ0gNiEMIAogBkEEajYCAAUgNiANSQRAIDYhDQsLID4gDEkEQCAMIQ0gPiEMIAogBkEFajYCAAUgPiANSQRAID4hDQsLIEYgDEkEQCAMIQ0gRiEMIAogBkEGajYCAAUgRiANSQRAIEYhDQsLIE4gDEkEQCAMIQ0gTiEMIAogBkEHajYCAAUgTiANSQRAIE4hDQsLIAogDDYCBCAKIA02AggLCyAJQSBqIQkgCkEMaiEKDAALCyAEIBk2AgAgBCAXNgIEIAQgGDYCCCAEICE2AgwgBCAfNgIQIAQgIDYCFCAEICk2AhggBCAnNgIcIAQgKDYCICAEIDE2AiQgBCAvNgIoIAQgMDYCLCAEIDk2AjAgBCA3NgI0IAQgODYCOCAEIEE2AjwgBCA/NgJAIAQgQDYCRCAEIEk2AkggBCBHNgJMIAQgSDYCUCAEIFE2AlQgBCBPNgJYIAQgUDYCXCAEQeAAaiEEIAZBCGohBgwACwsCQANAIAZBAWogAUsNASAAIAZBBXRqIQggCCkDACESIAgpAwghEyAIKQMQIRQgCCkDGCEVQf//AyEXQf//AyEYQX8hGSACIQkgBSEKAkADQCAJIAtPDQEgCSkDACEOIAkpAwghDyAJKQMQIRAgCSkDGCERIBIgDoV7IBMgD4V7fCAUIBCFeyAVIBGFe3x8pyEWIBYgGEkEQCAWIBdJBEAgFyEYIBYhFyAJIAJrQQV2IRkFIBYhGAsLIAooAgghDQJAAkAgFiANSQ0ADAELAkAgCigCBCEMIBYgDEkEQCAMIQ0gFiEMIAogBkEAajYCAAUgFiANSQRAIBYhDQsLIAogDDYCBCAKIA02AggLCyAJQSBqIQkgCkEMaiEKDAALCyAEIBk2AgAgBCAXNgIEIAQgGDYCCCAEQQxqIQQgBkEBaiEGDAALCws=';

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
