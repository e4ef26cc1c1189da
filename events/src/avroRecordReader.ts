import type { Type as AvroType, types } from 'avsc';

/**
 * A reader of Avro binary for one record type, compiled from its avsc type: a fast path for
 * records that are decoded in bulk (a replay reads every `ImageEmbedded` with its 1792 floats).
 * avsc copies a `bytes` field into a fresh zero-filled buffer, we copied it again into a
 * `Float32Array` and made the record plain with a third walk; this reads the record in one pass
 * and a float32 field straight into its `Float32Array`. Only for data written with the same
 * schema (the caller checks): no schema resolution. Answers undefined when the type has
 * something it does not read (then avsc does it all).
 */
export type RecordReader = (bytes: Buffer) => Record<string, unknown>;

type FieldReader = (cursor: Cursor) => unknown;

type Cursor = { buf: Buffer; pos: number };

const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export function compileRecordReader(
  type: AvroType,
  /** Paths (`data.vector`) of `bytes` fields holding float32 little-endian values. */
  float32Fields: readonly string[] = [],
): RecordReader | undefined {
  if (!littleEndian) return undefined;
  const read = compile(type, '', new Set(float32Fields));
  if (!read) return undefined;
  return (bytes) => {
    const cursor = { buf: bytes, pos: 0 };
    const value = read(cursor) as Record<string, unknown>;
    if (cursor.pos !== bytes.length) throw new Error('Avro record with trailing bytes');
    return value;
  };
}

function compile(type: AvroType, path: string, float32Fields: Set<string>): FieldReader | undefined {
  switch (type.typeName) {
    case 'record': {
      const fields = (type as types.RecordType).fields.map((field) => {
        const fieldPath = path ? `${path}.${field.name}` : field.name;
        return { name: field.name, read: compile(field.type, fieldPath, float32Fields) };
      });
      if (fields.some((f) => !f.read)) return undefined;
      const readers = fields as { name: string; read: FieldReader }[];
      return (cursor) => {
        const out: Record<string, unknown> = {};
        for (const field of readers) out[field.name] = field.read(cursor);
        return out;
      };
    }
    case 'string':
      return readString;
    case 'long':
    case 'int':
      return readLong;
    case 'boolean':
      return readBoolean;
    case 'bytes':
      return float32Fields.has(path) ? readFloat32Array : readBytes;
    case 'union:unwrapped': {
      // avsc's unwrapped unions (`wrapUnions: 'auto'`) are null-or-one-type: a branch index, then
      // the value.
      const branches = (type as types.UnwrappedUnionType).types.map((branch) =>
        branch.typeName === 'null' ? () => null : compile(branch, path, float32Fields),
      );
      if (branches.some((b) => !b)) return undefined;
      const readers = branches as FieldReader[];
      return (cursor) => {
        const branch = readers[readLong(cursor)];
        if (!branch) throw new Error('Avro union branch out of range');
        return branch(cursor);
      };
    }
    case 'array': {
      const item = compile((type as types.ArrayType).itemsType, path, float32Fields);
      if (!item) return undefined;
      return (cursor) => {
        const out: unknown[] = [];
        for (let n = readBlockCount(cursor); n !== 0; n = readBlockCount(cursor)) {
          for (let i = 0; i < n; i++) out.push(item(cursor));
        }
        return out;
      };
    }
    case 'map': {
      const value = compile((type as types.MapType).valuesType as AvroType, path, float32Fields);
      if (!value) return undefined;
      return (cursor) => {
        const out: Record<string, unknown> = {};
        for (let n = readBlockCount(cursor); n !== 0; n = readBlockCount(cursor)) {
          for (let i = 0; i < n; i++) {
            const key = readString(cursor);
            out[key] = value(cursor);
          }
        }
        return out;
      };
    }
    default:
      return undefined;
  }
}

/** Zig-zag varint, exact up to 2^53 as avsc's `long` is. */
function readLong(cursor: Cursor): number {
  const { buf } = cursor;
  let n = 0;
  let scale = 1;
  let byte: number;
  do {
    if (cursor.pos >= buf.length) throw new Error('truncated Avro record');
    byte = buf[cursor.pos++]!;
    n += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function readBoolean(cursor: Cursor): boolean {
  if (cursor.pos >= cursor.buf.length) throw new Error('truncated Avro record');
  return cursor.buf[cursor.pos++] === 1;
}

/** An array or map block's item count (a negative count is followed by the block's size). */
function readBlockCount(cursor: Cursor): number {
  const n = readLong(cursor);
  if (n >= 0) return n;
  readLong(cursor);
  return -n;
}

function span(cursor: Cursor): [number, number] {
  const length = readLong(cursor);
  const start = cursor.pos;
  if (length < 0 || start + length > cursor.buf.length) throw new Error('truncated Avro record');
  cursor.pos += length;
  return [start, start + length];
}

function readString(cursor: Cursor): string {
  const [start, end] = span(cursor);
  return cursor.buf.toString('utf8', start, end);
}

function readBytes(cursor: Cursor): Buffer {
  const [start, end] = span(cursor);
  return Buffer.from(cursor.buf.subarray(start, end));
}

function readFloat32Array(cursor: Cursor): Float32Array {
  const [start, end] = span(cursor);
  if ((end - start) % 4 !== 0) {
    throw new Error(`A float32 vector needs a multiple of 4 bytes, got ${end - start}`);
  }
  const vector = new Float32Array((end - start) / 4);
  new Uint8Array(vector.buffer).set(cursor.buf.subarray(start, end));
  return vector;
}
