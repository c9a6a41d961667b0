// A tiny ONNX protobuf writer: enough of onnx.proto3 (ModelProto, GraphProto, NodeProto,
// AttributeProto, TensorProto, ValueInfoProto) to write the small graphs the benchmark runs.
// Hand-written rather than a dependency: the graphs use six message types and three wire
// types, and protobufjs would also need the .proto schema shipped beside it.

const enc = new TextEncoder();

/** Protobuf wire writer: fields are appended as byte chunks. */
class Writer {
  chunks = [];
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    const bytes = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    this.chunks.push(Uint8Array.from(bytes));
    return this;
  }
  key(field, wire) {
    return this.varint((field << 3) | wire);
  }
  int(field, v) {
    return this.key(field, 0).varint(v);
  }
  bytes(field, data) {
    this.key(field, 2).varint(data.length);
    this.chunks.push(data);
    return this;
  }
  string(field, s) {
    return this.bytes(field, enc.encode(s));
  }
  message(field, writer) {
    return this.bytes(field, writer.finish());
  }
  float(field, v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5);
    this.chunks.push(b);
    return this;
  }
  finish() {
    const length = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7;

/** TensorProto: a named float32 (or int64) initializer, raw little-endian data. */
function tensor(name, dims, data) {
  const w = new Writer();
  for (const d of dims) w.int(1, d);
  const isInt = data instanceof BigInt64Array;
  w.int(2, isInt ? INT64 : FLOAT);
  w.string(8, name);
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return w;
}

/** AttributeProto from a JS value: integer -> INT, float -> FLOAT, string -> STRING, number[] -> INTS. */
function attribute(name, value) {
  const w = new Writer().string(1, name);
  if (typeof value === 'string') return w.string(4, value).int(20, 3);
  if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    return w.int(20, 7);
  }
  if (typeof value === 'object' && value.float !== undefined) return w.float(2, value.float).int(20, 1);
  return w.int(3, value).int(20, 2);
}

function valueInfo(name, dims) {
  const shape = new Writer();
  for (const d of dims) shape.message(1, typeof d === 'string' ? new Writer().string(2, d) : new Writer().int(1, d));
  const tensorType = new Writer().int(1, FLOAT).message(2, shape);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

/**
 * The bytes of an ONNX model.
 * nodes: [{ op, inputs: string[], outputs: string[], attrs?: Record<string, value> }]
 * initializers: [{ name, dims, data: Float32Array | BigInt64Array }]
 * inputs / outputs: [{ name, dims }] (float32)
 */
export function onnxModel({ nodes, initializers = [], inputs, outputs, opset = 17, name = 'bench' }) {
  const graph = new Writer();
  nodes.forEach((node, k) => {
    const n = new Writer();
    for (const i of node.inputs) n.string(1, i);
    for (const o of node.outputs) n.string(2, o);
    n.string(3, `${node.op}_${k}`);
    n.string(4, node.op);
    for (const [key, value] of Object.entries(node.attrs ?? {})) n.message(5, attribute(key, value));
    graph.message(1, n);
  });
  graph.string(2, name);
  for (const t of initializers) graph.message(5, tensor(t.name, t.dims, t.data));
  for (const v of inputs) graph.message(11, valueInfo(v.name, v.dims));
  for (const v of outputs) graph.message(12, valueInfo(v.name, v.dims));
  return new Writer()
    .int(1, 8) // ir_version 8
    .string(2, 'seqc-bench')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, opset))
    .finish();
}
