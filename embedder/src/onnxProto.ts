/**
 * The subset of `onnx.proto` (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) our converter
 * writes, encoded with protobufjs reflection. Field numbers are the official ones; everything we
 * never emit (sparse tensors, functions, training info, external data) is left out.
 */
import protobuf from 'protobufjs';

const onnxSubsetProto = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  string doc_string = 13;
  AttributeType type = 20;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  string domain = 7;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11;
  }
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int32 int32_data = 5;
  repeated int64 int64_data = 7;
  string name = 8;
  bytes raw_data = 9;
  string doc_string = 12;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
`;

/** `TensorProto.DataType` values we use. */
export const OnnxDataType = { FLOAT: 1, INT64: 7 } as const;

/** `AttributeProto.AttributeType` values we use. */
export const OnnxAttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface OnnxNode {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute?: OnnxAttribute[];
}

/** A dimension is either fixed (`dim_value`) or symbolic (`dim_param`, e.g. "N"). */
export type OnnxDimension = { dim_value: number } | { dim_param: string };

export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: OnnxDimension[] } } };
  doc_string?: string;
}

export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  doc_string?: string;
}

export interface OnnxModel {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: OnnxGraph;
  opset_import: { domain: string; version: number }[];
  metadata_props?: { key: string; value: string }[];
}

let modelType: protobuf.Type | undefined;

function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.parse(onnxSubsetProto, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialises a model to the ONNX protobuf wire format. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = onnxModelType();
  const problem = type.verify(model);
  if (problem) throw new Error(`invalid ONNX model: ${problem}`);
  return type.encode(type.fromObject(model)).finish();
}

/** Parses ONNX bytes back into plain objects (int64 as numbers, bytes as Buffers); for tests and tools. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const type = onnxModelType();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as OnnxModel;
}
