/**
 * A reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
 *
 *     u64 little-endian N | N bytes of UTF-8 JSON header | data buffer
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }`
 * (offsets relative to the start of the data buffer) plus an optional `__metadata__`
 * object of strings. Tensors must tile the data buffer exactly: contiguous, no overlap,
 * no gap, nothing left over. All values are little-endian.
 *
 * Browser-safe: files are read and written by `safetensors-file.ts` (Node only). F16 and
 * BF16 tensors decode to `Float32Array` (exact conversion; NaN payloads are kept bit for
 * bit) and encode from either a `Float32Array` (rounded to nearest even) or a `Uint16Array`
 * of raw bits.
 *
 * @module
 */

import { f16ToF32Bits, f32ToBf16Bits, f32ToF16Bits } from './half-bits.js';

/** The dtypes this module reads and writes. */
export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'U16' | 'I16' | 'F16' | 'BF16' | 'U32' | 'I32' | 'F32' | 'U64' | 'I64' | 'F64';

/** The array types a tensor's data may have. */
export type SafetensorsArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

/** The array type each dtype decodes to. */
export interface DecodedArrays {
  BOOL: Uint8Array; U8: Uint8Array; I8: Int8Array; U16: Uint16Array; I16: Int16Array;
  F16: Float32Array; BF16: Float32Array; U32: Uint32Array; I32: Int32Array; F32: Float32Array;
  U64: BigUint64Array; I64: BigInt64Array; F64: Float64Array;
}

/** A tensor to encode. `data` must have the array type of its dtype (see the module doc). */
export interface SafetensorsInput {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: SafetensorsArray;
}

/** A decoded tensor; narrowing on `dtype` narrows `data`. */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: DecodedArrays[D] };
}[SafetensorsDtype];

/** The result of decoding a file. `metadata` is `{}` when the file has none. */
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Any problem with a safetensors file or with tensors handed to the encoder. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** The largest header accepted, as in the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;

const SIZES: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
};
/** The array types `encode` accepts per dtype, by their `Symbol.toStringTag`. */
const ACCEPTS: Record<SafetensorsDtype, string[]> = {
  BOOL: ['Uint8Array'], U8: ['Uint8Array', 'Uint8ClampedArray'], I8: ['Int8Array'],
  U16: ['Uint16Array'], I16: ['Int16Array'], F16: ['Float32Array', 'Uint16Array'],
  BF16: ['Float32Array', 'Uint16Array'], U32: ['Uint32Array'], I32: ['Int32Array'],
  F32: ['Float32Array'], U64: ['BigUint64Array'], I64: ['BigInt64Array'], F64: ['Float64Array'],
};
type ArrayCtor = new (buffer: ArrayBuffer) => SafetensorsArray;
const VIEWS: Record<SafetensorsDtype, ArrayCtor> = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array, U16: Uint16Array, I16: Int16Array, F16: Uint16Array,
  BF16: Uint16Array, U32: Uint32Array, I32: Int32Array, F32: Float32Array, U64: BigUint64Array,
  I64: BigInt64Array, F64: Float64Array,
};
const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(SIZES, d);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `size`-byte element in place (big-endian hosts only). */
function fixEndian<T extends Uint8Array>(bytes: T, size: number): T {
  if (!LITTLE_ENDIAN && size > 1) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return bytes;
}

// ---- encoding ---------------------------------------------------------------------------

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const show = (v: unknown): string => { try { return JSON.stringify(v) ?? String(v); } catch { return String(v); } };

export interface EncodingPlan { header: Uint8Array; names: string[]; counts: number[]; dataBytes: number }

/** Validates names, dtypes, shapes and metadata and lays out the header; reads no `data`. */
export function encodingPlan(tensors: Record<string, SafetensorsInput>, metadata: Record<string, string> | undefined, source: string): EncodingPlan {
  const fail = (msg: string): never => { throw new SafetensorsError(`${source}: ${msg}`); };
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata ?? {}).sort(byName);
  if (metaKeys.length > 0) {
    const fields = metaKeys.map((k) => {
      const v = metadata![k];
      if (typeof v !== 'string') fail(`metadata value for key ${JSON.stringify(k)} is not a string: ${show(v)}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  const names = Object.keys(tensors).sort(byName);
  const counts: number[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const what = `tensor ${JSON.stringify(name)}`;
    if (name === '__metadata__') fail(`"__metadata__" is reserved and cannot name a tensor`);
    if (!isDtype(t.dtype)) fail(`${what}: wrong dtype ${show(t.dtype)}; expected one of ${Object.keys(SIZES).join(', ')}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`${what}: shape must be an array of non-negative integers, got ${show(t.shape)}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const bytes = count * SIZES[t.dtype];
    if (!Number.isSafeInteger(bytes)) fail(`${what}: shape ${show(t.shape)} is too large`);
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    counts.push(count);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);
  return { header, names, counts, dataBytes: offset };
}

/** The little-endian bytes of one tensor's data; the only place `data` is read. */
export function tensorBytes(name: string, t: SafetensorsInput, count: number, source: string): Uint8Array {
  const data: unknown = t.data;
  const tag = ArrayBuffer.isView(data) ? (data as SafetensorsArray)[Symbol.toStringTag] : typeof data;
  const what = `${source}: tensor ${JSON.stringify(name)}`;
  if (!ACCEPTS[t.dtype].includes(tag)) throw new SafetensorsError(`${what}: dtype ${t.dtype} needs ${ACCEPTS[t.dtype].join(' or ')} data, got ${tag}`);
  const arr = data as SafetensorsArray;
  if (arr.length !== count) throw new SafetensorsError(`${what}: data has ${arr.length} elements but shape [${t.shape.join(', ')}] needs ${count}`);
  let out: Uint8Array;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && tag === 'Float32Array') {
    const bits = new Uint32Array(arr.buffer, arr.byteOffset, count);
    const half = new Uint16Array(count);
    const convert = t.dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < count; i++) half[i] = convert(bits[i]!);
    out = new Uint8Array(half.buffer);
  } else {
    out = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    if (!LITTLE_ENDIAN) out = out.slice();
  }
  if (t.dtype === 'BOOL' && out.some((b) => b > 1)) throw new SafetensorsError(`${what}: BOOL data must be 0 or 1`);
  return fixEndian(out, SIZES[t.dtype]);
}

/**
 * Encodes tensors (written in sorted name order) and optional string metadata. The output
 * depends only on the names, dtypes, shapes, values and metadata, never on insertion order.
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Uint8Array {
  const p = encodingPlan(tensors, metadata, '<encode>');
  const out = new Uint8Array(p.header.length + p.dataBytes);
  out.set(p.header, 0);
  let at = p.header.length;
  p.names.forEach((name, i) => {
    const bytes = tensorBytes(name, tensors[name]!, p.counts[i]!, '<encode>');
    out.set(bytes, at);
    at += bytes.length;
  });
  return out;
}

// ---- decoding ---------------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const setOwn = <T>(o: Record<string, T>, k: string, value: T): void => {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
};

/** Decodes and validates a whole safetensors file. Errors name `source` and the problem. */
export function decodeSafetensors(input: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength); // a Buffer's slice() would not copy
  const fail = (msg: string): never => { throw new SafetensorsError(`${source}: ${msg}`); };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`oversized header: ${n} bytes (limit ${MAX_HEADER_BYTES})`);
  const headerEnd = 8 + Number(n);
  if (headerEnd > bytes.length) fail(`truncated file: header length ${n} needs ${headerEnd} bytes but the file has ${bytes.length}`);
  let text = '';
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)); }
  catch { fail('header is not valid UTF-8'); }
  let header: unknown;
  try { header = JSON.parse(text); }
  catch (e) { fail(`header is not valid JSON: ${(e as Error).message}`); }
  if (!isObject(header)) fail(`header is not a JSON object`);
  const buffer = bytes.subarray(headerEnd);
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!isObject(info)) fail(`__metadata__ must be an object of strings, got ${show(info)}`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata value for key ${JSON.stringify(k)} is not a string: ${show(v)}`);
        setOwn(metadata, k, v as string);
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (!isObject(info)) fail(`${what}: entry must be an object, got ${show(info)}`);
    const entry = info as Record<string, unknown>;
    const extra = Object.keys(entry).filter((k) => !['dtype', 'shape', 'data_offsets'].includes(k));
    if (extra.length > 0) fail(`${what}: unknown field ${JSON.stringify(extra[0])}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) fail(`${what}: wrong dtype ${show(dtype)}; expected one of ${Object.keys(SIZES).join(', ')}`);
    const dt = dtype as SafetensorsDtype;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`${what}: shape must be an array of non-negative integers, got ${show(shape)}`);
    const dims = shape as number[];
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
      fail(`${what}: data_offsets must be two non-negative integers [begin, end], got ${show(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (end - begin !== count * SIZES[dt])
      fail(`${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${dims.join(', ')}] of ${dt} needs ${count * SIZES[dt]}`);
    if (end > buffer.length)
      fail(`${what}: data_offsets [${begin}, ${end}] run past the end of the ${buffer.length}-byte data buffer (truncated file?)`);
    spans.push({ name, begin, end });
    const raw = fixEndian(buffer.slice(begin, end), SIZES[dt]);
    let data = new VIEWS[dt](raw.buffer);
    if (dt === 'F16' || dt === 'BF16') {
      const out = new Float32Array(count), bits = new Uint32Array(out.buffer), half = data as Uint16Array;
      for (let i = 0; i < count; i++) bits[i] = dt === 'F16' ? f16ToF32Bits(half[i]!) : (half[i]! << 16) >>> 0;
      data = out;
    }
    if (dt === 'BOOL' && raw.some((b) => b > 1)) fail(`${what}: BOOL data must be 0 or 1`);
    setOwn(tensors, name, { dtype: dt, shape: [...dims], data } as SafetensorsTensor);
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0, prev = '';
  for (const s of spans) {
    if (s.begin < covered) fail(`tensor ${JSON.stringify(s.name)} at data_offsets [${s.begin}, ${s.end}] overlaps tensor ${JSON.stringify(prev)}, which ends at ${covered}`);
    if (s.begin > covered) fail(`gap in the data buffer: bytes [${covered}, ${s.begin}) belong to no tensor`);
    covered = s.end;
    prev = s.name;
  }
  if (covered !== buffer.length) fail(`tensors cover ${covered} bytes but the data buffer has ${buffer.length}: ${buffer.length - covered} trailing bytes belong to no tensor`);
  return { tensors, metadata };
}
