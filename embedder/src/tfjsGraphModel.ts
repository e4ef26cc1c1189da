/**
 * The parts of a TensorFlow.js graph model (`model.json` + weight shards) the converter reads, and
 * the weight decoding exactly as `@tensorflow/tfjs-core` does it (`io_utils.decodeWeight`), so the
 * converted ONNX initializers hold bit-identical float32 values.
 */

/** A TF `AttrValue` as tfjs-converter serialises it to JSON (only the fields we read). */
export interface TfAttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[] };
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: unknown;
}

export interface TfNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
}

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number };
}

export interface TfjsGraphModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology: { node: TfNodeDef[]; versions?: unknown };
  weightsManifest: { paths: string[]; weights: TfjsWeightSpec[] }[];
}

/** A graph model with its weight shards already concatenated in manifest order. */
export interface TfjsGraphModel {
  modelJson: TfjsGraphModelJson;
  weightData: Uint8Array;
}

export interface DecodedWeight {
  shape: number[];
  values: Float32Array | Int32Array;
}

const bytesPerValue = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 } as const;

/** Decodes every weight of the manifest; `string`/`complex64` weights are refused (no image model uses them). */
export function decodeTfjsWeights(model: TfjsGraphModel): Map<string, DecodedWeight> {
  const weights = new Map<string, DecodedWeight>();
  const data = model.weightData;
  let offset = 0;
  for (const group of model.modelJson.weightsManifest) {
    for (const spec of group.weights) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const storedAs = spec.quantization?.dtype ?? spec.dtype;
      if (storedAs === 'string' || storedAs === 'complex64') {
        throw new Error(`weight ${spec.name}: dtype ${storedAs} is not supported`);
      }
      const byteLength = size * bytesPerValue[storedAs];
      if (offset + byteLength > data.byteLength) {
        throw new Error(`weight ${spec.name} runs past the end of the weight data`);
      }
      // Copy so the typed-array views below are aligned.
      const bytes = data.slice(offset, offset + byteLength);
      offset += byteLength;
      weights.set(spec.name, { shape: spec.shape, values: decodeWeight(spec, bytes, size) });
    }
  }
  return weights;
}

function decodeWeight(spec: TfjsWeightSpec, bytes: Uint8Array, size: number): Float32Array | Int32Array {
  const q = spec.quantization;
  if (q === undefined) {
    if (spec.dtype === 'float32') return new Float32Array(bytes.buffer, 0, size);
    if (spec.dtype === 'int32') return new Int32Array(bytes.buffer, 0, size);
    return Int32Array.from(bytes);
  }
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') throw new Error(`weight ${spec.name}: float16 only for float32`);
    const halves = new Uint16Array(bytes.buffer, 0, size);
    return Float32Array.from(halves, halfToFloat);
  }
  if (q.min === undefined || q.scale === undefined) {
    throw new Error(`weight ${spec.name}: ${q.dtype} quantization without min/scale`);
  }
  const { min, scale } = q;
  const quantized = q.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer, 0, size);
  if (spec.dtype === 'float32') {
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = (quantized[i] ?? 0) * scale + min;
    return values;
  }
  if (spec.dtype === 'int32') {
    const values = new Int32Array(size);
    for (let i = 0; i < size; i++) values[i] = Math.round((quantized[i] ?? 0) * scale + min);
    return values;
  }
  throw new Error(`weight ${spec.name}: quantized ${spec.dtype} is not supported`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
