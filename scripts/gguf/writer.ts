// Minimal GGUF v3 writer: just enough (scalars, strings, arrays, F32 tensors) to build a test model.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
const ALIGNMENT = 32;

export enum ValueType {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

export type MetaValue =
  | { type: ValueType.UINT32 | ValueType.INT32 | ValueType.FLOAT32; value: number }
  | { type: ValueType.BOOL; value: boolean }
  | { type: ValueType.STRING; value: string }
  | { type: ValueType.ARRAY; itemType: ValueType.STRING; value: string[] }
  | { type: ValueType.ARRAY; itemType: ValueType.INT32 | ValueType.FLOAT32; value: number[] };

export interface Tensor {
  name: string;
  /** ggml order: dims[0] is the innermost (row length). */
  dims: number[];
  data: Float32Array;
}

/** Growable little-endian byte sink. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  pad(): void {
    while (this.length % ALIGNMENT !== 0) this.u8(0);
  }
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(out: Bytes, v: MetaValue): void {
  out.u32(v.type);
  switch (v.type) {
    case ValueType.UINT32:
      out.u32(v.value);
      return;
    case ValueType.INT32:
      out.i32(v.value);
      return;
    case ValueType.FLOAT32:
      out.f32(v.value);
      return;
    case ValueType.BOOL:
      out.u8(v.value ? 1 : 0);
      return;
    case ValueType.STRING:
      out.str(v.value);
      return;
    case ValueType.ARRAY:
      out.u32(v.itemType);
      out.u64(v.value.length);
      for (const item of v.value) {
        if (typeof item === "string") out.str(item);
        else if (v.itemType === ValueType.INT32) out.i32(item);
        else out.f32(item);
      }
  }
}

/** Writes the file atomically (temp file, fsync, rename) so a half-written model is never served. */
export function writeGguf(path: string, meta: Record<string, MetaValue>, tensors: Tensor[]): void {
  const head = new Bytes();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(Object.keys(meta).length);
  for (const [key, value] of Object.entries(meta)) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(0); // GGML_TYPE_F32
    head.u64(offset);
    offset += Math.ceil(t.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  head.pad();

  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, head.view());
    const zeros = Buffer.alloc(ALIGNMENT);
    for (const t of tensors) {
      writeSync(fd, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const rest = (ALIGNMENT - (t.data.byteLength % ALIGNMENT)) % ALIGNMENT;
      if (rest) writeSync(fd, zeros, 0, rest);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
