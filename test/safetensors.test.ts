import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsInput,
} from '../runtime/safetensors.js';
import { loadSafetensors, saveSafetensors } from '../runtime/safetensors-file.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A file by hand: u64 LE header length, the header bytes as given, then the buffer. */
function rawFile(header: string | Uint8Array, buffer: ArrayLike<number> = [], headerLen?: bigint): Uint8Array {
  const h = typeof header === 'string' ? utf8(header) : header;
  const out = new Uint8Array(8 + h.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(Array.from(buffer), 8 + h.length);
  return out;
}

/** A file whose header is `JSON.stringify(header)`. */
const jsonFile = (header: unknown, buffer: ArrayLike<number> = []): Uint8Array => rawFile(JSON.stringify(header), buffer);

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

function expectDecodeError(bytes: Uint8Array, message: RegExp, source = 'bad.safetensors'): void {
  let err: unknown;
  try {
    decodeSafetensors(bytes, source);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${source}: `)).toBe(true);
  expect(msg).toMatch(message);
}

/** Every dtype, odd shapes, awkward names, values that stress the conversions. */
function sampleTensors(): Record<string, SafetensorsInput> {
  return {
    'w.f32': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 0, -0, Infinity, 3.4028234663852886e38]) },
    'w.f64': { dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -1e-310, NaN]) },
    'h.f16': { dtype: 'F16', shape: [2, 2], data: new Uint16Array([0x3c00, 0x7bff, 0x0001, 0x7e01]) },
    'h.bf16': { dtype: 'BF16', shape: [4], data: new Uint16Array([0x3f80, 0xc020, 0x0001, 0xff81]) },
    'i.i64': { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 12345n]) },
    'u.u64': { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    'i.i32': { dtype: 'I32', shape: [1, 1, 3], data: new Int32Array([-1, 2 ** 31 - 1, -(2 ** 31)]) },
    'u.u32': { dtype: 'U32', shape: [1], data: new Uint32Array([0xdeadbeef]) },
    'i.i16': { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 7]) },
    'u.u16': { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    'i.i8': { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    'bytes': { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
    'mask': { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    'scalar': { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    'empty': { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    'also empty': { dtype: 'I64', shape: [3, 0], data: new BigInt64Array(0) },
    '10': { dtype: 'U8', shape: [1], data: new Uint8Array([10]) },
    '2': { dtype: 'U8', shape: [1], data: new Uint8Array([2]) },
    'ünï/cödé "quoted"': { dtype: 'U8', shape: [1], data: new Uint8Array([7]) },
  };
}
const sampleMetadata = { format: 'pt', 'note "x"': 'ünïcode\nline', '0': 'integer-like key' };

describe('safetensors: known-good byte layout', () => {
  it('decodes a hand-built file to the values the spec says', () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},' +
      '"c":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},' +
      '"d":{"dtype":"I32","shape":[1,1],"data_offsets":[24,28]},' +
      '"e":{"dtype":"U8","shape":[3],"data_offsets":[28,31]},' +
      '"f":{"dtype":"BF16","shape":[2],"data_offsets":[31,35]},' +
      '"g":{"dtype":"F16","shape":[2],"data_offsets":[35,39]}}   ';
    const buffer = [
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, // F32 1.0, -2.5 (0x3F800000, 0xC0200000 LE)
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64 -2
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, // F64 1.5 (0x3FF8000000000000)
      0x78, 0x56, 0x34, 0x12, // I32 0x12345678
      0x01, 0x80, 0xff, // U8 1, 128, 255
      0x80, 0x3f, 0x20, 0xc0, // BF16 1.0, -2.5 (unaligned on purpose)
      0xff, 0x7b, 0x01, 0x00, // F16 65504, 2^-24
    ];
    const { tensors, metadata } = decodeSafetensors(rawFile(header, buffer));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(tensors.a).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) });
    expect(tensors.b).toEqual({ dtype: 'I64', shape: [1], data: new BigInt64Array([-2n]) });
    expect(tensors.c).toEqual({ dtype: 'F64', shape: [1], data: new Float64Array([1.5]) });
    expect(tensors.d).toEqual({ dtype: 'I32', shape: [1, 1], data: new Int32Array([0x12345678]) });
    expect(tensors.e).toEqual({ dtype: 'U8', shape: [3], data: new Uint8Array([1, 128, 255]) });
    expect(tensors.f).toEqual({ dtype: 'BF16', shape: [2], data: new Float32Array([1, -2.5]) });
    expect(tensors.g).toEqual({ dtype: 'F16', shape: [2], data: new Float32Array([65504, 2 ** -24]) });
  });

  it('encodes one tensor to exactly the expected bytes', () => {
    const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) } }, { k: 'v' });
    const json = '{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    expect(bytes).toEqual(rawFile(padded, [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]));
  });

  it('pads the header with spaces so the data buffer starts 8-byte aligned', () => {
    for (let len = 1; len <= 9; len++) {
      const bytes = encodeSafetensors({ ['n'.repeat(len)]: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) } });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
      expect(bytes[8 + n]).toBe(9);
    }
  });

  it('sees a flipped byte: in the data as different values, in the header as an error', () => {
    const good = encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) } });
    const data = good.slice();
    data[data.length - 1] ^= 0x01;
    expect(decodeSafetensors(data).tensors.x!.data).not.toEqual(new Float32Array([1, -2.5]));
    const dtype = good.slice();
    const at = new TextDecoder().decode(good).indexOf('F32');
    dtype[at + 1] = '6'.charCodeAt(0); // "F62"
    expectDecodeError(dtype, /wrong dtype "F62"/);
    const length = good.slice();
    length[0] ^= 0x08;
    expect(() => decodeSafetensors(length)).toThrow(SafetensorsError);
  });
});

describe('safetensors: round trips', () => {
  it('encode → decode → encode gives identical bytes for every dtype', () => {
    const first = encodeSafetensors(sampleTensors(), sampleMetadata);
    const decoded = decodeSafetensors(first);
    expect(decoded.metadata).toEqual(sampleMetadata);
    expect(Object.keys(decoded.tensors).sort()).toEqual(Object.keys(sampleTensors()).sort());
    expect(encodeSafetensors(decoded.tensors, decoded.metadata)).toEqual(first);
    const t = decoded.tensors;
    expect(t['i.i64']!.data).toEqual(new BigInt64Array([-(2n ** 63n), 2n ** 62n + 12345n]));
    expect(t['u.u64']!.data).toEqual(new BigUint64Array([2n ** 64n - 1n]));
    expect(t['scalar']).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([42]) });
    expect(t['empty']).toEqual({ dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
    expect(t['ünï/cödé "quoted"']!.data).toEqual(new Uint8Array([7]));
  });

  it('is deterministic: same bytes whatever the insertion order of tensors and metadata', () => {
    const a = sampleTensors();
    const reversed = Object.fromEntries(Object.entries(a).reverse());
    const meta2 = Object.fromEntries(Object.entries(sampleMetadata).reverse());
    const x = encodeSafetensors(a, sampleMetadata);
    expect(encodeSafetensors(reversed, meta2)).toEqual(x);
    expect(encodeSafetensors(a, sampleMetadata)).toEqual(x);
    // Names are sorted by code unit, integer-like ones included (JS objects would put them first).
    const n = Number(new DataView(x.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(x.subarray(8, 8 + n));
    const order = ['"__metadata__"', '"10"', '"2"', '"also empty"', '"bytes"', '"empty"', '"h.bf16"', '"w.f64"', '"ünï/'];
    const positions = order.map((k) => header.indexOf(k));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((p, q) => p - q)).toEqual(positions);
    expect(header.startsWith('{"__metadata__":{"0":"integer-like key","format":"pt",')).toBe(true);
    // Data follows name order: "10" then "2" are the first two bytes of the buffer.
    const start = 8 + n;
    expect([x[start], x[start + 1]]).toEqual([10, 2]);
  });

  it('empty metadata and no metadata encode the same; decoded metadata is {}', () => {
    const t = { x: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } } as const;
    expect(encodeSafetensors(t, {})).toEqual(encodeSafetensors(t));
    expect(decodeSafetensors(encodeSafetensors(t)).metadata).toEqual({});
    expect(decodeSafetensors(encodeSafetensors({})).tensors).toEqual({});
  });

  it('decodes from an unaligned view and copies out of the input', () => {
    const bytes = encodeSafetensors(sampleTensors(), sampleMetadata);
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const view = big.subarray(3);
    const decoded = decodeSafetensors(view);
    expect(encodeSafetensors(decoded.tensors, decoded.metadata)).toEqual(bytes);
    const before = (decoded.tensors['w.f32']!.data as Float32Array).slice();
    view.fill(0);
    expect(decoded.tensors['w.f32']!.data).toEqual(before);
  });

  it('takes data from a subarray view of a larger buffer', () => {
    const backing = new Float32Array([9, 1, 2, 3, 9]);
    const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: backing.subarray(1, 4) } });
    expect(decodeSafetensors(bytes).tensors.x!.data).toEqual(new Float32Array([1, 2, 3]));
  });

  it('keeps a property named __proto__ as a tensor, not a prototype', () => {
    const file = rawFile('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [5]);
    const { tensors } = decodeSafetensors(file);
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(encodeSafetensors(tensors)).toEqual(encodeSafetensors(JSON.parse('{"__proto__":{"dtype":"U8","shape":[1],"data":null}}', (k, v) => (k === 'data' ? new Uint8Array([5]) : v))));
  });
});

describe('safetensors: F16 and BF16 conversion', () => {
  const f16File = (bits: number[]) =>
    encodeSafetensors({ h: { dtype: 'F16', shape: [bits.length], data: new Uint16Array(bits) } });
  const bf16File = (bits: number[]) =>
    encodeSafetensors({ h: { dtype: 'BF16', shape: [bits.length], data: new Uint16Array(bits) } });
  const readHalfBits = (bytes: Uint8Array): number[] => {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const d = new DataView(bytes.buffer, bytes.byteOffset + 8 + n);
    return Array.from({ length: d.byteLength / 2 }, (_, i) => d.getUint16(2 * i, true));
  };
  const encodeF32As = (dtype: 'F16' | 'BF16', values: number[]) =>
    readHalfBits(encodeSafetensors({ h: { dtype, shape: [values.length], data: new Float32Array(values) } }));

  it('decodes hand-picked F16 values', () => {
    const bits = [0x3c00, 0xc100, 0x7bff, 0xfbff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x3555];
    const values = [1, -2.5, 65504, -65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, 0.333251953125];
    const data = decodeSafetensors(f16File(bits)).tensors.h!.data as Float32Array;
    expect(Array.from(data)).toEqual(values);
    expect(Object.is(data[7], -0)).toBe(true);
    expect(Number.isNaN((decodeSafetensors(f16File([0x7e00])).tensors.h!.data as Float32Array)[0])).toBe(true);
  });

  it('decodes hand-picked BF16 values', () => {
    const bits = [0x3f80, 0xc020, 0x0001, 0x0080, 0x7f7f, 0x8000, 0x7f80, 0x4049];
    const values = [1, -2.5, 2 ** -133, 2 ** -126, 3.3895313892515355e38, -0, Infinity, 3.140625];
    expect(Array.from(decodeSafetensors(bf16File(bits)).tensors.h!.data as Float32Array)).toEqual(values);
  });

  it('decodes all 65536 F16 patterns to the exact value and encodes them back to the same bits', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const data = decodeSafetensors(f16File(all)).tensors.h!.data as Float32Array;
    for (const h of all) {
      const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
      const want = e === 0x1f ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
      if (!Object.is(data[h], want)) expect([h, data[h]]).toEqual([h, want]);
    }
    expect(readHalfBits(encodeSafetensors({ h: { dtype: 'F16', shape: [65536], data } }))).toEqual(all);
  });

  it('decodes all 65536 BF16 patterns and encodes them back to the same bits', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const data = decodeSafetensors(bf16File(all)).tensors.h!.data as Float32Array;
    const want = new Float32Array(new Uint32Array(all.map((b) => b << 16)).buffer);
    expect(new Uint32Array(data.buffer)).toEqual(new Uint32Array(want.buffer));
    expect(readHalfBits(encodeSafetensors({ h: { dtype: 'BF16', shape: [65536], data } }))).toEqual(all);
  });

  it('rounds Float32 to F16 to nearest, ties to even', () => {
    expect(encodeF32As('F16', [1, -2.5, 65504, 65519, 65520, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 1e-40])).toEqual([
      0x3c00, 0xc100, 0x7bff, 0x7bff, 0x7c00, 0xfc00, 0x0001, 0x0000, 0x0001, 0x0000, 0x0000,
    ]);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even mantissa wins; 1 + 3·2^-11 rounds up.
    expect(encodeF32As('F16', [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2047 * 2 ** -25])).toEqual([0x3c00, 0x3c02, 0x0400]);
  });

  it('rounds random Float32 values to the nearest F16 (brute-force reference)', () => {
    const finite = Array.from({ length: 0x7c00 }, (_, h) => ((h >> 10) === 0 ? h * 2 ** -24 : (1 + (h & 0x3ff) / 1024) * 2 ** ((h >> 10) - 15)));
    const nearest = (x: number): number => {
      const a = Math.abs(x), sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      if (a >= 65520) return sign | 0x7c00;
      let lo = 0, hi = 0x7bff;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (finite[mid]! <= a) lo = mid; else hi = mid - 1; }
      if (lo === 0x7bff) return sign | lo;
      const dl = a - finite[lo]!, dh = finite[lo + 1]! - a;
      return sign | (dl < dh ? lo : dh < dl ? lo + 1 : lo % 2 === 0 ? lo : lo + 1);
    };
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const xs = Array.from({ length: 20000 }, () => Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 46 - 28)));
    expect(encodeF32As('F16', xs)).toEqual(xs.map(nearest));
  });

  it('rounds Float32 to BF16 to nearest, ties to even, and keeps NaN a NaN', () => {
    expect(encodeF32As('BF16', [1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 3.4028234663852886e38, NaN])).toEqual([
      0x3f80, 0xc020, 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0x7fc0,
    ]);
    const nanLowPayload = new Float32Array(new Uint32Array([0x7f800001]).buffer);
    const bits = readHalfBits(encodeSafetensors({ h: { dtype: 'BF16', shape: [1], data: nanLowPayload } }))[0]!;
    expect(bits & 0x7f80).toBe(0x7f80);
    expect(bits & 0x7f).not.toBe(0);
  });
});

describe('safetensors: rejecting bad files', () => {
  const ok = { a: f32([2], 0, 8) };
  const buf8 = new Array(8).fill(0);

  it('names the source in every message', () => {
    expectDecodeError(new Uint8Array(3), /shorter than the 8-byte header length/, 'weights/model.safetensors');
    expectDecodeError(new Uint8Array(3), /shorter/, '<buffer>');
    expect(() => decodeSafetensors(new Uint8Array(3))).toThrow(/^<buffer>: /);
  });

  it('rejects files shorter than 8 bytes', () => {
    expectDecodeError(new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte header length/);
    expectDecodeError(new Uint8Array(7), /file is 7 bytes/);
  });

  it('rejects oversized headers', () => {
    expectDecodeError(rawFile('{}', [], BigInt(MAX_HEADER_BYTES + 1)), /oversized header: 100000001 bytes \(limit 100000000\)/);
    expectDecodeError(rawFile('{}', [], 2n ** 64n - 1n), /oversized header: 18446744073709551615 bytes/);
  });

  it('rejects a header length past the end of the file', () => {
    expectDecodeError(rawFile('{}', [], 100n), /truncated file: header length 100 needs 108 bytes but the file has 10/);
  });

  it('rejects headers that are not UTF-8 JSON objects', () => {
    expectDecodeError(rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /header is not valid UTF-8/);
    expectDecodeError(rawFile('{"a":'), /header is not valid JSON/);
    expectDecodeError(rawFile(''), /header is not valid JSON/);
    for (const h of ['[1,2]', '"text"', 'null', '42']) expectDecodeError(rawFile(h), /header is not a JSON object/);
  });

  it('rejects unknown dtypes', () => {
    for (const dtype of ['F8', 'float32', 'f32', 5, null]) {
      expectDecodeError(jsonFile({ a: { dtype, shape: [2], data_offsets: [0, 8] } }, buf8), /tensor "a": wrong dtype/);
    }
    expectDecodeError(jsonFile({ a: { shape: [2], data_offsets: [0, 8] } }, buf8), /tensor "a": wrong dtype undefined/);
  });

  it('rejects shapes that are not arrays of non-negative integers', () => {
    for (const shape of [[2, -1], [1.5], '2', ['2'], null, [2 ** 53]]) {
      expectDecodeError(jsonFile({ a: { dtype: 'F32', shape, data_offsets: [0, 8] } }, buf8), /tensor "a": shape must be an array of non-negative integers/);
    }
  });

  it('rejects malformed data_offsets', () => {
    for (const offs of [[0], [0, 4, 8], [0, '8'], [-1, 7], [0, 7.5], null, 'x']) {
      expectDecodeError(jsonFile({ a: { dtype: 'F32', shape: [2], data_offsets: offs } }, buf8), /tensor "a": data_offsets must be two non-negative integers/);
    }
    expectDecodeError(jsonFile({ a: f32([0], 8, 4) }, buf8), /tensor "a": data_offsets \[8, 4\] end before they begin/);
  });

  it('rejects a byte length that does not match the shape and dtype', () => {
    expectDecodeError(jsonFile({ a: f32([3], 0, 8) }, buf8), /tensor "a": data_offsets \[0, 8\] span 8 bytes but shape \[3\] of F32 needs 12/);
    expectDecodeError(jsonFile({ a: { dtype: 'I64', shape: [2], data_offsets: [0, 8] } }, buf8), /needs 16/);
  });

  it('rejects offsets past the buffer, overlaps, gaps and uncovered bytes', () => {
    expectDecodeError(jsonFile({ a: f32([4], 0, 16) }, buf8), /tensor "a": data_offsets \[0, 16\] run past the end of the 8-byte data buffer/);
    expectDecodeError(jsonFile({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, new Array(12).fill(0)), /tensor "b" at data_offsets \[4, 12\] overlaps tensor "a", which ends at 8/);
    expectDecodeError(jsonFile({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, buf8), /overlaps/);
    expectDecodeError(jsonFile({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, new Array(12).fill(0)), /gap in the data buffer: bytes \[4, 8\) belong to no tensor/);
    expectDecodeError(jsonFile({ a: f32([1], 4, 8) }, buf8), /gap in the data buffer: bytes \[0, 4\)/);
    expectDecodeError(jsonFile({ a: f32([1], 0, 4) }, buf8), /tensors cover 4 bytes but the data buffer has 8: 4 trailing bytes/);
    expectDecodeError(jsonFile({}, [1]), /tensors cover 0 bytes but the data buffer has 1/);
    // Zero-size tensors may sit anywhere inside the tiling.
    expect(Object.keys(decodeSafetensors(jsonFile({ a: f32([2], 0, 8), z: f32([0], 8, 8), y: f32([0, 3], 0, 0) }, buf8)).tensors)).toHaveLength(3);
  });

  it('rejects bad metadata and bad tensor entries', () => {
    expectDecodeError(jsonFile({ __metadata__: { k: 1 }, ...ok }, buf8), /metadata value for key "k" is not a string: 1/);
    expectDecodeError(jsonFile({ __metadata__: { k: null }, ...ok }, buf8), /metadata value for key "k" is not a string/);
    expectDecodeError(jsonFile({ __metadata__: ['x'], ...ok }, buf8), /__metadata__ must be an object of strings/);
    expectDecodeError(jsonFile({ __metadata__: 'x', ...ok }, buf8), /__metadata__ must be an object of strings/);
    expectDecodeError(jsonFile({ a: [1] }, buf8), /tensor "a": entry must be an object/);
    expectDecodeError(jsonFile({ a: { ...f32([2], 0, 8), extra: 1 } }, buf8), /tensor "a": unknown field "extra"/);
    expectDecodeError(jsonFile({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, [1, 2]), /tensor "m": BOOL data must be 0 or 1/);
  });

  it('rejects every truncation of a valid file', () => {
    const good = encodeSafetensors(sampleTensors(), sampleMetadata);
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    for (let cut = 0; cut < good.length; cut++) {
      const msg = cut < 8 ? /shorter than the 8-byte/ : cut < headerEnd ? /truncated file: header length/ : /run past the end of the \d+-byte data buffer \(truncated file\?\)/;
      expectDecodeError(good.subarray(0, cut), msg);
    }
    expect(() => decodeSafetensors(good)).not.toThrow();
  });
});

describe('safetensors: rejecting bad tensors on encode', () => {
  const enc = (t: Record<string, unknown>, m?: Record<string, unknown>) => () =>
    encodeSafetensors(t as Record<string, SafetensorsInput>, m as Record<string, string>);

  it('checks dtype, shape, data type and length, names and metadata', () => {
    expect(enc({ x: { dtype: 'F8', shape: [1], data: new Uint8Array(1) } })).toThrow(/<encode>: tensor "x": wrong dtype "F8"/);
    expect(enc({ x: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } })).toThrow(/shape must be an array of non-negative integers/);
    expect(enc({ x: { dtype: 'F32', shape: [2], data: new Float64Array(2) } })).toThrow(/dtype F32 needs Float32Array data, got Float64Array/);
    expect(enc({ x: { dtype: 'I64', shape: [2], data: [1, 2] } })).toThrow(/dtype I64 needs BigInt64Array data, got object/);
    expect(enc({ x: { dtype: 'F16', shape: [2], data: new Float64Array(2) } })).toThrow(/dtype F16 needs Float32Array or Uint16Array data/);
    expect(enc({ x: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } })).toThrow(/tensor "x": data has 5 elements but shape \[2, 3\] needs 6/);
    expect(enc({ x: { dtype: 'BOOL', shape: [1], data: new Uint8Array([3]) } })).toThrow(/BOOL data must be 0 or 1/);
    expect(enc({ __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } })).toThrow(/"__metadata__" is reserved/);
    expect(enc({}, { k: 5 })).toThrow(/metadata value for key "k" is not a string: 5/);
    expect(enc({ x: { dtype: 'F32', shape: [2], data: new Float32Array(2) } })).not.toThrow();
  });
});

describe('safetensors: files', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seqc-safetensors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('save → load → save gives byte-identical files, equal to encodeSafetensors', async () => {
    const a = join(dir, 'a.safetensors'), b = join(dir, 'b.safetensors');
    await saveSafetensors(a, sampleTensors(), sampleMetadata);
    const loaded = await loadSafetensors(a);
    await saveSafetensors(b, loaded.tensors, loaded.metadata);
    const [bytesA, bytesB] = [await readFile(a), await readFile(b)];
    expect(bytesB.equals(bytesA)).toBe(true);
    expect(new Uint8Array(bytesA)).toEqual(encodeSafetensors(sampleTensors(), sampleMetadata));
    expect(loaded.tensors['i.i32']!.data).toEqual(new Int32Array([-1, 2 ** 31 - 1, -(2 ** 31)]));
    expect((await readdir(dir)).sort()).toEqual(['a.safetensors', 'b.safetensors']);
  });

  it('overwrites an existing file', async () => {
    const p = join(dir, 'w.safetensors');
    await writeFile(p, 'old contents');
    await saveSafetensors(p, { x: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } });
    expect((await loadSafetensors(p)).tensors.x!.data).toEqual(new Uint8Array([1]));
    expect(await readdir(dir)).toEqual(['w.safetensors']);
  });

  it('load errors name the path', async () => {
    const p = join(dir, 'broken.safetensors');
    await writeFile(p, new Uint8Array([1, 2, 3]));
    await expect(loadSafetensors(p)).rejects.toThrow(`${p}: file is 3 bytes`);
    await expect(loadSafetensors(p)).rejects.toBeInstanceOf(SafetensorsError);
    await expect(loadSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors/);
  });

  it('a save that fails midway leaves the old file and no temp file', async () => {
    const p = join(dir, 'model.safetensors');
    await saveSafetensors(p, { old: { dtype: 'U8', shape: [2], data: new Uint8Array([4, 2]) } });
    const before = await readFile(p);
    let duringWrite: string[] = [];
    const failing: Record<string, SafetensorsInput> = {
      a: { dtype: 'F32', shape: [1024], data: new Float32Array(1024).fill(1) },
      b: {
        dtype: 'F32',
        shape: [4],
        get data(): Float32Array {
          duringWrite = readdirSync(dir);
          throw new Error('disk on fire');
        },
      },
    };
    await expect(saveSafetensors(p, failing)).rejects.toThrow('disk on fire');
    // The failure really happened mid-write: a temp file beside the target existed then.
    expect(duringWrite.some((f) => /^\.model\.safetensors\.\d+\.[a-z0-9]+\.tmp$/.test(f))).toBe(true);
    expect((await readFile(p)).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('a save with invalid tensors touches nothing', async () => {
    const p = join(dir, 'model.safetensors');
    await writeFile(p, 'old');
    const bad = { x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } } as Record<string, SafetensorsInput>;
    await expect(saveSafetensors(p, bad)).rejects.toThrow(`${p}: tensor "x": data has 2 elements`);
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('a save whose parent is a file fails and leaves nothing behind', async () => {
    const notDir = join(dir, 'plain-file');
    await writeFile(notDir, 'i am a file');
    await expect(saveSafetensors(join(notDir, 'x.safetensors'), {})).rejects.toThrow();
    expect(await readFile(notDir, 'utf8')).toBe('i am a file');
    expect(await readdir(dir)).toEqual(['plain-file']);
  });

  it('a save whose final rename fails removes the fully written temp file', async () => {
    const target = join(dir, 'occupied');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'x');
    await expect(saveSafetensors(target, { x: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } })).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['occupied']);
    expect(await readdir(target)).toEqual(['keep']);
  });

  it('concurrent saves to one path leave one complete file', async () => {
    const p = join(dir, 'race.safetensors');
    const versions = [1, 2, 3, 4].map((v) => ({ x: { dtype: 'F32', shape: [4096], data: new Float32Array(4096).fill(v) } }) as Record<string, SafetensorsInput>);
    await Promise.all(versions.map((t) => saveSafetensors(p, t)));
    const bytes = new Uint8Array(await readFile(p));
    expect(versions.some((t) => Buffer.from(encodeSafetensors(t)).equals(bytes))).toBe(true);
    expect(await readdir(dir)).toEqual(['race.safetensors']);
  });
});
