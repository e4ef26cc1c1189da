/**
 * A small TF.js graph-model → ONNX converter for the CNN image backbones we run (MobileNet-style:
 * convolutions with fused bias and ReLU/ReLU6, depthwise convolutions, residual adds, pooling).
 *
 * The ONNX graph is NCHW end to end: the NHWC input becomes an NCHW graph input, weights are
 * transposed once at conversion time, and every 4-D activation is kept NCHW, so no Transpose nodes
 * sit in the hot path. Only the nodes the requested outputs depend on are converted (the nsfwjs
 * classifier head is dropped). An `AvgPool` whose window covers the whole feature map at the
 * graph's declared input size becomes `GlobalAveragePool`, so the converted model takes any input
 * height and width. Ops outside this set fail the conversion with the op's name.
 */
import type { DecodedWeight, TfAttrValue, TfNodeDef, TfjsGraphModel } from './tfjsGraphModel.ts';
import { decodeTfjsWeights } from './tfjsGraphModel.ts';
import type { OnnxAttribute, OnnxDimension, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnxProto.ts';
import { OnnxAttributeType, OnnxDataType, encodeOnnxModel } from './onnxProto.ts';

export interface OnnxOutputBinding {
  /** Name of the ONNX graph output. */
  name: string;
  /** The TF node whose (first) output it exposes. */
  tfNode: string;
}

export interface ConvertTfjsGraphOptions {
  /** Name of the single ONNX graph input (NCHW float32). */
  inputName: string;
  outputs: OnnxOutputBinding[];
  graphName?: string;
  docString?: string;
  producerVersion?: string;
  /** Stored as ONNX `metadata_props`. */
  metadata?: Record<string, string>;
}

export interface ConvertedOnnxModel {
  bytes: Uint8Array;
  /** How many nodes of each TF op were converted; the rest of the graph was not needed. */
  convertedOps: Record<string, number>;
  parameterCount: number;
}

/** The opset we emit: Clip with tensor min/max and Squeeze with an `axes` input are opset-13 forms. */
export const ONNX_OPSET = 13;
const ONNX_IR_VERSION = 7;

export class UnsupportedTfGraphError extends Error {
  constructor(node: TfNodeDef, reason: string) {
    super(`cannot convert TF node "${node.name}" (${node.op}): ${reason}`);
  }
}

/** A TF tensor as converted so far. */
type Value =
  | { kind: 'const'; weight: DecodedWeight; node: TfNodeDef }
  | {
      kind: 'tensor';
      onnxName: string;
      /** The TF (NHWC for rank 4) shape at the graph's declared input size; null = unknown. */
      shape: (number | null)[];
    };
type TensorValue = Extract<Value, { kind: 'tensor' }>;

export function convertTfjsGraphToOnnx(
  model: TfjsGraphModel,
  options: ConvertTfjsGraphOptions,
): ConvertedOnnxModel {
  return new TfjsToOnnxConverter(model, options).convert();
}

class TfjsToOnnxConverter {
  private readonly tfNodes = new Map<string, TfNodeDef>();
  private readonly weights: Map<string, DecodedWeight>;
  private readonly values = new Map<string, Value>();
  private readonly inProgress = new Set<string>();
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly initializerNames = new Set<string>();
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly convertedOps: Record<string, number> = {};
  private parameterCount = 0;
  /** Graph input and output names; internal values named like them are renamed. */
  private readonly reservedNames: Set<string>;

  constructor(
    model: TfjsGraphModel,
    private readonly options: ConvertTfjsGraphOptions,
  ) {
    for (const node of model.modelJson.modelTopology.node) this.tfNodes.set(node.name, node);
    this.weights = decodeTfjsWeights(model);
    this.reservedNames = new Set([options.inputName, ...options.outputs.map((o) => o.name)]);
    if (this.reservedNames.size !== options.outputs.length + 1)
      throw new Error('graph input/output names must differ');
  }

  /** ONNX value names are TF node names, unless that would clash with a graph input or output. */
  private valueName(name: string): string {
    return this.reservedNames.has(name) ? `${name}/tf` : name;
  }

  convert(): ConvertedOnnxModel {
    const outputs: OnnxValueInfo[] = [];
    for (const binding of this.options.outputs) {
      const value = this.valueOf(binding.tfNode);
      if (value.kind !== 'tensor') throw new Error(`output ${binding.name}: ${binding.tfNode} is a constant`);
      this.addNode('Identity', `${binding.name}/Identity`, [value.onnxName], [binding.name]);
      outputs.push(valueInfo(binding.name, this.onnxShape(value, binding.name)));
    }
    if (this.inputs.length !== 1) throw new Error(`expected one graph input, found ${this.inputs.length}`);
    const bytes = encodeOnnxModel({
      ir_version: ONNX_IR_VERSION,
      producer_name: 'deeplens-tfjs-to-onnx',
      producer_version: this.options.producerVersion ?? '1',
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      graph: {
        name: this.options.graphName ?? 'converted_tfjs_graph',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: outputs,
        ...(this.options.docString === undefined ? {} : { doc_string: this.options.docString }),
      },
      metadata_props: Object.entries(this.options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return { bytes, convertedOps: this.convertedOps, parameterCount: this.parameterCount };
  }

  /** Converts (once) the TF node producing `ref` and everything it depends on. */
  private valueOf(ref: string): Value {
    const name = tensorNodeName(ref);
    const known = this.values.get(name);
    if (known) return known;
    const node = this.tfNodes.get(name);
    if (!node) throw new Error(`the graph has no node "${name}"`);
    if (this.inProgress.has(name)) throw new UnsupportedTfGraphError(node, 'cycle in the graph');
    this.inProgress.add(name);
    const value = this.convertNode(node);
    this.inProgress.delete(name);
    this.values.set(name, value);
    if (node.op !== 'Const') this.convertedOps[node.op] = (this.convertedOps[node.op] ?? 0) + 1;
    return value;
  }

  private convertNode(node: TfNodeDef): Value {
    switch (node.op) {
      case 'Placeholder':
        return this.convertPlaceholder(node);
      case 'Const': {
        const weight = this.weights.get(node.name);
        if (!weight) throw new UnsupportedTfGraphError(node, 'constant without weight data');
        return { kind: 'const', weight, node };
      }
      case 'Identity':
      case 'StopGradient':
      case 'Snapshot':
        return this.valueOf(this.dataInputs(node, 1)[0]);
      case 'Conv2D':
      case '_FusedConv2D':
        return this.convertConv(node, false);
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return this.convertConv(node, true);
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        return this.convertBinary(node, 'Add');
      case 'Sub':
        return this.convertBinary(node, 'Sub');
      case 'Mul':
        return this.convertBinary(node, 'Mul');
      case 'RealDiv':
        return this.convertBinary(node, 'Div');
      case 'Maximum':
        return this.convertBinary(node, 'Max');
      case 'Minimum':
        return this.convertBinary(node, 'Min');
      case 'Relu': {
        const x = this.tensorInput(node, 0);
        return this.emit('Relu', node.name, [x.onnxName], x.shape);
      }
      case 'Relu6': {
        const x = this.tensorInput(node, 0);
        return this.emitRelu6(node.name, x.onnxName, x.shape);
      }
      case 'AvgPool':
      case 'MaxPool':
        return this.convertPool(node);
      case 'Mean':
        return this.convertMean(node);
      case 'Squeeze':
        return this.convertSqueeze(node);
      case 'Pad':
        return this.convertPad(node);
      default:
        throw new UnsupportedTfGraphError(node, 'op not supported by this converter');
    }
  }

  private convertPlaceholder(node: TfNodeDef): Value {
    const dims = (node.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size ?? -1));
    if (dims.length !== 4) throw new UnsupportedTfGraphError(node, 'only an NHWC image input is supported');
    const [, height, width, channels] = dims as [number, number, number, number];
    if (channels <= 0) throw new UnsupportedTfGraphError(node, 'the channel count must be fixed');
    const name = this.options.inputName;
    this.inputs.push(
      valueInfo(name, [{ dim_param: 'N' }, { dim_value: channels }, { dim_param: 'H' }, { dim_param: 'W' }]),
    );
    return { kind: 'tensor', onnxName: name, shape: [null, orNull(height), orNull(width), channels] };
  }

  private convertConv(node: TfNodeDef, depthwise: boolean): Value {
    const [xRef, filterRef, ...args] = this.dataInputs(node, 2) as [string, string, ...string[]];
    const x = this.tensorInput(node, 0);
    const filter = this.constInput(node, filterRef);
    requireNhwc(node);
    if (x.shape.length !== 4) throw new UnsupportedTfGraphError(node, `input ${xRef} is not 4-D`);
    if (filter.shape.length !== 4) throw new UnsupportedTfGraphError(node, 'the filter is not 4-D');
    const [kh, kw, inC, mult] = filter.shape as [number, number, number, number];
    const outC = depthwise ? inC * mult : mult;
    const weight = depthwise ? depthwiseFilterToOnnx(filter) : convFilterToOnnx(filter);
    const strides = spatial(node, 'strides', [1, 1]);
    const dilations = spatial(node, 'dilations', [1, 1]);
    const attrs: OnnxAttribute[] = [
      intsAttr('kernel_shape', [kh, kw]),
      intsAttr('strides', strides),
      intsAttr('dilations', dilations),
      ...this.paddingAttrs(node),
    ];
    if (depthwise) attrs.push(intAttr('group', inC));

    const fusedOps = stringList(node.attr?.fused_ops);
    const convInputs = [x.onnxName, this.addInitializer(`${node.name}/W`, weight.dims, weight.values)];
    if (fusedOps[0] === 'BiasAdd') {
      const biasRef = args[0];
      if (biasRef === undefined) throw new UnsupportedTfGraphError(node, 'BiasAdd without a bias input');
      const bias = this.constInput(node, biasRef);
      convInputs.push(this.addInitializer(`${node.name}/B`, [outC], bias.values));
      fusedOps.shift();
    }
    const outShape = [
      x.shape[0] ?? null,
      ...this.convSpatialOut(node, x, [kh, kw], strides, dilations),
      outC,
    ];
    if (fusedOps.length > 1) throw new UnsupportedTfGraphError(node, `fused ops ${fusedOps.join(',')}`);
    const activation = fusedOps[0];
    const convOut = this.valueName(activation === undefined ? node.name : `${node.name}/conv`);
    this.addNode('Conv', convOut, convInputs, [convOut], attrs);
    switch (activation) {
      case undefined:
        return { kind: 'tensor', onnxName: convOut, shape: outShape };
      case 'Relu':
        return this.emit('Relu', node.name, [convOut], outShape);
      case 'Relu6':
        return this.emitRelu6(node.name, convOut, outShape);
      default:
        throw new UnsupportedTfGraphError(node, `fused activation ${activation}`);
    }
  }

  private convSpatialOut(
    node: TfNodeDef,
    x: TensorValue,
    kernel: [number, number],
    strides: number[],
    dilations: number[],
  ): (number | null)[] {
    const padding = stringAttr(node, 'padding');
    const explicit = intList(node.attr?.explicit_paddings);
    return [1, 2].map((axis, i) => {
      const size = x.shape[axis];
      const stride = strides[i] ?? 1;
      if (size === null || size === undefined) return null;
      if (padding === 'SAME') return Math.ceil(size / stride);
      const effective = ((kernel[i] ?? 1) - 1) * (dilations[i] ?? 1) + 1;
      const padded =
        padding === 'EXPLICIT' ? size + (explicit[2 * axis] ?? 0) + (explicit[2 * axis + 1] ?? 0) : size;
      return Math.floor((padded - effective) / stride) + 1;
    });
  }

  /** TF `SAME` puts the odd extra padding row/column at the end, which is ONNX `SAME_UPPER`. */
  private paddingAttrs(node: TfNodeDef): OnnxAttribute[] {
    const padding = stringAttr(node, 'padding');
    switch (padding) {
      case 'SAME':
        return [stringAttrValue('auto_pad', 'SAME_UPPER')];
      case 'VALID':
        return [intsAttr('pads', [0, 0, 0, 0])];
      case 'EXPLICIT': {
        const p = intList(node.attr?.explicit_paddings);
        if (p.length !== 8) throw new UnsupportedTfGraphError(node, 'explicit_paddings must have 8 values');
        const [top, bottom, left, right] = [p[2], p[3], p[4], p[5]] as [number, number, number, number];
        return [intsAttr('pads', [top, left, bottom, right])];
      }
      default:
        throw new UnsupportedTfGraphError(node, `padding ${padding}`);
    }
  }

  private convertBinary(node: TfNodeDef, onnxOp: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Max' | 'Min'): Value {
    const [aRef, bRef] = this.dataInputs(node, 2) as [string, string];
    const a = this.valueOf(aRef);
    const b = this.valueOf(bRef);
    if (a.kind === 'const' && b.kind === 'const') {
      throw new UnsupportedTfGraphError(node, 'constant folding is not supported');
    }
    const tensor = (a.kind === 'tensor' ? a : b) as TensorValue;
    const operand = (v: Value, suffix: string): string => {
      if (v.kind === 'tensor') {
        if (v.shape.length !== tensor.shape.length) {
          throw new UnsupportedTfGraphError(node, 'broadcasting between tensors of different rank');
        }
        return v.onnxName;
      }
      return this.broadcastConstant(node, v.weight, tensor.shape.length, `${node.name}/${suffix}`);
    };
    return this.emit(onnxOp, node.name, [operand(a, 'a'), operand(b, 'b')], tensor.shape);
  }

  /** Lays out a constant so ONNX (numpy) broadcasting against an NCHW activation means what TF meant. */
  private broadcastConstant(
    node: TfNodeDef,
    weight: DecodedWeight,
    tensorRank: number,
    name: string,
  ): string {
    const rank = weight.shape.length;
    const size = weight.shape.reduce((a, b) => a * b, 1);
    if (rank === 0 || size === 1) return this.addInitializer(name, [], weight.values);
    if (tensorRank === 4 && rank === 1) return this.addInitializer(name, [size, 1, 1], weight.values);
    if (tensorRank !== 4) return this.addInitializer(name, weight.shape, weight.values);
    throw new UnsupportedTfGraphError(node, `constant of shape [${weight.shape.join(',')}] against NCHW`);
  }

  private convertPool(node: TfNodeDef): Value {
    const x = this.tensorInput(node, 0);
    requireNhwc(node);
    const kernel = spatial(node, 'ksize', [1, 1]);
    const strides = spatial(node, 'strides', [1, 1]);
    const padding = stringAttr(node, 'padding');
    const [n, h, w, c] = x.shape;
    const coversWholeMap =
      padding === 'VALID' && h != null && w != null && kernel[0] === h && kernel[1] === w;
    if (node.op === 'AvgPool' && coversWholeMap) {
      return this.emit('GlobalAveragePool', node.name, [x.onnxName], [n ?? null, 1, 1, c ?? null]);
    }
    const out = [1, 2].map((axis, i) => {
      const size = x.shape[axis];
      const stride = strides[i] ?? 1;
      if (size == null) return null;
      return padding === 'SAME'
        ? Math.ceil(size / stride)
        : Math.floor((size - (kernel[i] ?? 1)) / stride) + 1;
    });
    return this.emit(
      node.op === 'AvgPool' ? 'AveragePool' : 'MaxPool',
      node.name,
      [x.onnxName],
      [n ?? null, ...out, c ?? null],
      [intsAttr('kernel_shape', kernel), intsAttr('strides', strides), ...this.paddingAttrs(node)],
    );
  }

  private convertMean(node: TfNodeDef): Value {
    const [, axesRef] = this.dataInputs(node, 2) as [string, string];
    const x = this.tensorInput(node, 0);
    const axes = [...this.constInput(node, axesRef).values].map((a) => (a < 0 ? a + 4 : a)).sort();
    if (x.shape.length !== 4 || axes.join() !== '1,2') {
      throw new UnsupportedTfGraphError(node, 'only a spatial mean over axes [1, 2] of NHWC is supported');
    }
    const keepDims = node.attr?.keep_dims?.b === true;
    const [n, , , c] = x.shape;
    const pooled = this.emit(
      'GlobalAveragePool',
      keepDims ? node.name : `${node.name}/pool`,
      [x.onnxName],
      [n ?? null, 1, 1, c ?? null],
    );
    if (keepDims) return pooled;
    return this.emit(
      'Squeeze',
      node.name,
      [pooled.onnxName, this.addInt64Initializer(`${node.name}/axes`, [2, 3])],
      [n ?? null, c ?? null],
    );
  }

  private convertSqueeze(node: TfNodeDef): Value {
    const x = this.tensorInput(node, 0);
    const rank = x.shape.length;
    const dims = intList(node.attr?.squeeze_dims ?? node.attr?.axis).map((d) => (d < 0 ? d + rank : d));
    if (dims.length === 0) throw new UnsupportedTfGraphError(node, 'squeeze without explicit dims');
    if (rank === 4 && [...dims].sort().join() !== '1,2') {
      throw new UnsupportedTfGraphError(node, 'only squeezing both spatial dims of NHWC is supported');
    }
    const onnxAxes = rank === 4 ? [2, 3] : dims;
    const shape = x.shape.filter((_, i) => !dims.includes(i));
    return this.emit(
      'Squeeze',
      node.name,
      [x.onnxName, this.addInt64Initializer(`${node.name}/axes`, onnxAxes)],
      shape,
    );
  }

  private convertPad(node: TfNodeDef): Value {
    const [, padsRef] = this.dataInputs(node, 2) as [string, string];
    const x = this.tensorInput(node, 0);
    const p = [...this.constInput(node, padsRef).values];
    if (x.shape.length !== 4 || p.length !== 8) throw new UnsupportedTfGraphError(node, 'only 4-D Pad');
    const [nb, na, hb, ha, wb, wa, cb, ca] = p as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const pads = [nb, cb, hb, wb, na, ca, ha, wa];
    const shape = x.shape.map((d, i) => (d == null ? null : d + (p[2 * i] ?? 0) + (p[2 * i + 1] ?? 0)));
    return this.emit(
      'Pad',
      node.name,
      [x.onnxName, this.addInt64Initializer(`${node.name}/pads`, pads)],
      shape,
    );
  }

  private emitRelu6(name: string, input: string, shape: (number | null)[]): Value {
    const zero = this.addInitializer('clip/min_0', [], new Float32Array([0]));
    const six = this.addInitializer('clip/max_6', [], new Float32Array([6]));
    return this.emit('Clip', name, [input, zero, six], shape);
  }

  private emit(
    op: string,
    name: string,
    inputs: string[],
    shape: (number | null)[],
    attrs: OnnxAttribute[] = [],
  ): TensorValue {
    const output = this.valueName(name);
    this.addNode(op, name, inputs, [output], attrs);
    return { kind: 'tensor', onnxName: output, shape };
  }

  private addNode(
    op: string,
    name: string,
    input: string[],
    output: string[],
    attrs: OnnxAttribute[] = [],
  ): void {
    this.nodes.push({ name, op_type: op, input, output, ...(attrs.length ? { attribute: attrs } : {}) });
  }

  private addInitializer(tfName: string, dims: number[], values: Float32Array | Int32Array): string {
    const name = this.valueName(tfName);
    if (!this.initializerNames.has(name)) {
      const floats = values instanceof Float32Array ? values : Float32Array.from(values);
      this.initializers.push({
        name,
        dims,
        data_type: OnnxDataType.FLOAT,
        raw_data: littleEndianBytes(floats),
      });
      this.initializerNames.add(name);
      this.parameterCount += floats.length;
    }
    return name;
  }

  private addInt64Initializer(tfName: string, values: number[]): string {
    const name = this.valueName(tfName);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({
      name,
      dims: [values.length],
      data_type: OnnxDataType.INT64,
      raw_data: littleEndianBytes(data),
    });
    this.initializerNames.add(name);
    return name;
  }

  private dataInputs(node: TfNodeDef, atLeast: number): [string, ...string[]] {
    const inputs = (node.input ?? []).filter((ref) => !ref.startsWith('^'));
    if (inputs.length < atLeast) throw new UnsupportedTfGraphError(node, `expected ${atLeast} inputs`);
    return inputs as [string, ...string[]];
  }

  private tensorInput(node: TfNodeDef, index: number): TensorValue {
    const ref = this.dataInputs(node, index + 1)[index] as string;
    const value = this.valueOf(ref);
    if (value.kind !== 'tensor')
      throw new UnsupportedTfGraphError(node, `input ${index} must not be a constant`);
    return value;
  }

  private constInput(node: TfNodeDef, ref: string): DecodedWeight {
    const value = this.valueOf(ref);
    if (value.kind !== 'const') throw new UnsupportedTfGraphError(node, `input ${ref} must be a constant`);
    return value.weight;
  }

  /** The ONNX shape of an output: batch and spatial sizes symbolic, channels fixed. */
  private onnxShape(value: TensorValue, outputName: string): OnnxDimension[] {
    const channel = (d: number | null | undefined): OnnxDimension =>
      d == null ? { dim_param: `${outputName}_C` } : { dim_value: d };
    if (value.shape.length === 4) {
      return [
        { dim_param: 'N' },
        channel(value.shape[3]),
        { dim_param: `${outputName}_H` },
        { dim_param: `${outputName}_W` },
      ];
    }
    return value.shape.map((d, i) => (i === 0 ? { dim_param: 'N' } : channel(d)));
  }
}

function tensorNodeName(ref: string): string {
  const name = ref.startsWith('^') ? ref.slice(1) : ref;
  const colon = name.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(name.slice(colon + 1))) {
    if (name.slice(colon + 1) !== '0') throw new Error(`multi-output reference ${ref} is not supported`);
    return name.slice(0, colon);
  }
  return name;
}

/** TF HWIO → ONNX OIHW. */
function convFilterToOnnx(filter: DecodedWeight): { dims: number[]; values: Float32Array } {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const src = filter.values;
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++)
          out[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o] ?? 0;
  return { dims: [co, ci, kh, kw], values: out };
}

/** TF depthwise [H, W, C, multiplier] → ONNX grouped conv [C·multiplier, 1, H, W] (group = C). */
function depthwiseFilterToOnnx(filter: DecodedWeight): { dims: number[]; values: Float32Array } {
  const [kh, kw, c, m] = filter.shape as [number, number, number, number];
  const src = filter.values;
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let ch = 0; ch < c; ch++)
        for (let k = 0; k < m; k++)
          out[((ch * m + k) * kh + y) * kw + x] = src[((y * kw + x) * c + ch) * m + k] ?? 0;
  return { dims: [c * m, 1, kh, kw], values: out };
}

function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(values.byteLength);
  const view = new DataView(bytes.buffer);
  if (values instanceof Float32Array) values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return bytes;
}

function requireNhwc(node: TfNodeDef): void {
  const format = node.attr?.data_format === undefined ? 'NHWC' : stringAttr(node, 'data_format');
  if (format !== 'NHWC') throw new UnsupportedTfGraphError(node, `data_format ${format}`);
}

/** The H and W entries of an NHWC attribute list such as strides or ksize. */
function spatial(node: TfNodeDef, attr: string, fallback: [number, number]): number[] {
  const list = intList(node.attr?.[attr]);
  if (list.length === 0) return fallback;
  if (list.length !== 4) throw new UnsupportedTfGraphError(node, `${attr} must have 4 values`);
  return [list[1] ?? 1, list[2] ?? 1];
}

/** tfjs-converter stores TF string attributes base64-encoded. */
function decodeTfString(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

function stringAttr(node: TfNodeDef, attr: string): string {
  const s = node.attr?.[attr]?.s;
  if (s === undefined) throw new UnsupportedTfGraphError(node, `missing attribute ${attr}`);
  return decodeTfString(s);
}

function stringList(attr: TfAttrValue | undefined): string[] {
  return (attr?.list?.s ?? []).map(decodeTfString);
}

function intList(attr: TfAttrValue | undefined): number[] {
  return (attr?.list?.i ?? []).map(Number);
}

function orNull(size: number): number | null {
  return size > 0 ? size : null;
}

function intsAttr(name: string, ints: number[]): OnnxAttribute {
  return { name, type: OnnxAttributeType.INTS, ints };
}

function intAttr(name: string, i: number): OnnxAttribute {
  return { name, type: OnnxAttributeType.INT, i };
}

function stringAttrValue(name: string, s: string): OnnxAttribute {
  return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(s) };
}

function valueInfo(name: string, dims: OnnxDimension[]): OnnxValueInfo {
  return { name, type: { tensor_type: { elem_type: OnnxDataType.FLOAT, shape: { dim: dims } } } };
}
