/**
 * The op registry: the single source of truth for every primitive op. Each entry gives its
 * shape rule, its float64 CPU meaning and its WGSL form, so the reference interpreter,
 * fusion and codegen cannot disagree. Composites (softmax, the cells themselves) are
 * written in terms of these.
 */
import { EVERY_STEP, keepThreshold, random24 } from '../runtime/random.js';
import { CONV_SHAPE_RULES, conv2dCpu, conv2dFilterCpu, flipKernelCpu, gridOf } from './conv2d.js';
import { Dim, type Shape, formatShape, shapeEquals, shapeSize } from './shape.js';

export type UnaryOp = 'neg' | 'exp' | 'log' | 'tanh' | 'sigmoid' | 'relu' | 'sqrt' | 'abs' | 'step' | 'sign';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'ge' | 'eq';
export type ReduceOp = 'reduce_sum' | 'reduce_max';
/** `load` reads a sequence buffer of another program (a backward pass reading the forward's). */
/** `dim` is a size's value as a number (`1 / sqrt(K)`), bound when the model is created. */
export type LeafOp = 'input' | 'state' | 'param' | 'const' | 'load' | 'dim';
/**
 * pad is slice's transpose, broadcast reduce_sum's, outer the weight side of matmul's.
 * reshape reads the same elements in the same (row-major) order under another shape.
 */
export type StructuralOp = 'matmul' | 'concat' | 'slice' | 'pad' | 'broadcast' | 'outer' | 'transpose' | 'reshape';
/**
 * 2-D convolution over feature maps (compiler/conv2d.ts): conv2d is the convolution,
 * flip_kernel the kernel of its transpose, conv2d_filter the weight side of its gradient.
 */
export type ConvOp = 'conv2d' | 'flip_kernel' | 'conv2d_filter';
/**
 * A leaf drawn from the counter-based RNG (runtime/random.ts): its value depends on the
 * launch seed, the step, the batch row and the element, and on nothing it reads.
 */
export type RandomOp = 'dropout_mask';

/**
 * Ops whose vector operand is a one-hot input (`x: onehot[V]`), read by its id: gather is
 * `W @ x` as column id of W (one load instead of a V-long dot product), scatter `outer(g, x)`
 * as g in column id and zeros elsewhere; summed over steps (an accumulation) it is a
 * scatter-add, the gradient of an embedding.
 */
export type IndexOp = 'gather' | 'scatter';
export type OpName = UnaryOp | BinaryOp | ReduceOp | LeafOp | StructuralOp | RandomOp | IndexOp | ConvOp;

/** The type of a step value. `batched` values carry an implicit leading batch dimension. */
export interface Type {
  readonly shape: Shape;
  readonly batched: boolean;
}

export interface Attrs {
  /** input, state, param or load name */
  readonly name?: string;
  /** state: how many steps back (h[t-1] has lag 1) */
  readonly lag?: number;
  /** const: the scalar value */
  readonly value?: number;
  /** slice: first element and length along the last axis; pad: where the operand goes */
  readonly start?: Dim;
  /** slice: elements kept; pad, broadcast and dropout_mask: the length of the result; dim: the size it reads */
  readonly size?: Dim;
  /** dropout_mask: the probability of dropping an element */
  readonly p?: number;
  /** dropout_mask: the call site's stream number, so two sites never share a mask */
  readonly stream?: number;
  /** dropout_mask: a fresh mask at every step (dropout), or one for the whole sequence (recurrent_dropout) */
  readonly perStep?: boolean;
  /** conv2d and conv2d_filter: the grid of the feature maps, in pixels */
  readonly height?: Dim;
  readonly width?: Dim;
  /** conv2d, flip_kernel and conv2d_filter: K of the K x K kernel (odd) */
  readonly kernel?: number;
  /** reshape: the shape of the result */
  readonly shape?: Shape;
}

/** A shape rule answers the result type or a message saying what was expected. */
type ShapeRule = (args: readonly Type[], attrs: Attrs) => Type | string;

interface UnaryDef {
  readonly kind: 'unary';
  readonly cpu: (x: number) => number;
  readonly wgsl: (x: string) => string;
}
interface BinaryDef {
  readonly kind: 'binary';
  readonly cpu: (a: number, b: number) => number;
  readonly wgsl: (a: string, b: string) => string;
  /** the source operator or function, for messages */
  readonly symbol: string;
}
interface ReduceDef {
  readonly kind: 'reduce';
  readonly identity: number;
  readonly cpu: (acc: number, x: number) => number;
  readonly wgsl: (acc: string, x: string) => string;
  readonly wgslIdentity: string;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * SwiftShader's WGSL tanh returns NaN for |x| >= 89, and tanh is ±1 in f32 well before 15,
 * so clamping changes no result.
 */
const wgslTanh = (x: string): string => `tanh(clamp(${x}, -15.0, 15.0))`;

export const UNARY: Readonly<Record<UnaryOp, UnaryDef>> = {
  neg: { kind: 'unary', cpu: (x) => -x, wgsl: (x) => `(-${x})` },
  exp: { kind: 'unary', cpu: Math.exp, wgsl: (x) => `exp(${x})` },
  log: { kind: 'unary', cpu: Math.log, wgsl: (x) => `log(${x})` },
  tanh: { kind: 'unary', cpu: Math.tanh, wgsl: wgslTanh },
  sigmoid: { kind: 'unary', cpu: sigmoid, wgsl: (x) => `(1.0 / (1.0 + exp(-${x})))` },
  relu: { kind: 'unary', cpu: (x) => Math.max(x, 0), wgsl: (x) => `max(${x}, 0.0)` },
  sqrt: { kind: 'unary', cpu: Math.sqrt, wgsl: (x) => `sqrt(${x})` },
  abs: { kind: 'unary', cpu: Math.abs, wgsl: (x) => `abs(${x})` },
  step: { kind: 'unary', cpu: (x) => (x > 0 ? 1 : 0), wgsl: (x) => `select(0.0, 1.0, ${x} > 0.0)` },
  sign: { kind: 'unary', cpu: Math.sign, wgsl: (x) => `sign(${x})` },
};

export const BINARY: Readonly<Record<BinaryOp, BinaryDef>> = {
  add: { kind: 'binary', symbol: '+', cpu: (a, b) => a + b, wgsl: (a, b) => `(${a} + ${b})` },
  sub: { kind: 'binary', symbol: '-', cpu: (a, b) => a - b, wgsl: (a, b) => `(${a} - ${b})` },
  mul: { kind: 'binary', symbol: '*', cpu: (a, b) => a * b, wgsl: (a, b) => `(${a} * ${b})` },
  div: { kind: 'binary', symbol: '/', cpu: (a, b) => a / b, wgsl: (a, b) => `(${a} / ${b})` },
  max: { kind: 'binary', symbol: 'max', cpu: Math.max, wgsl: (a, b) => `max(${a}, ${b})` },
  min: { kind: 'binary', symbol: 'min', cpu: Math.min, wgsl: (a, b) => `min(${a}, ${b})` },
  pow: { kind: 'binary', symbol: 'pow', cpu: Math.pow, wgsl: (a, b) => `pow(${a}, ${b})` },
  ge: { kind: 'binary', symbol: '>=', cpu: (a, b) => (a >= b ? 1 : 0), wgsl: (a, b) => `select(0.0, 1.0, ${a} >= ${b})` },
  eq: { kind: 'binary', symbol: '==', cpu: (a, b) => (a === b ? 1 : 0), wgsl: (a, b) => `select(0.0, 1.0, ${a} == ${b})` },
};

export const REDUCE: Readonly<Record<ReduceOp, ReduceDef>> = {
  reduce_sum: {
    kind: 'reduce', identity: 0, cpu: (acc, x) => acc + x,
    wgsl: (acc, x) => `${acc} + ${x}`, wgslIdentity: '0.0',
  },
  reduce_max: {
    kind: 'reduce', identity: -Infinity, cpu: Math.max,
    wgsl: (acc, x) => `max(${acc}, ${x})`, wgslIdentity: '-3.4028234663852886e38',
  },
};

export function isUnary(op: OpName): op is UnaryOp {
  return op in UNARY;
}
export function isBinary(op: OpName): op is BinaryOp {
  return op in BINARY;
}
export function isReduce(op: OpName): op is ReduceOp {
  return op in REDUCE;
}
/** Ops that compute each output element from the same element of their operands. */
export function isElementwise(op: OpName): boolean {
  return isUnary(op) || isBinary(op);
}
/**
 * Ops whose one output element reads a whole operand: fusing their operand's producer into
 * them would recompute it per element, so the scheduler decides where they materialize.
 */
export function isContraction(op: OpName): boolean {
  return op === 'matmul' || op === 'conv2d' || isReduce(op);
}

const show = (t: Type): string => formatShape(t.shape);

/**
 * The WGSL of a one-hot input, read by id. The device stores an id as an f32 holding a whole
 * number (exact below 2^24, checked on the host), like every other buffer element.
 */
export const ONE_HOT_WGSL = {
  /** the id as a u32, from the stored element */
  id: (stored: string): string => `u32(${stored})`,
  /** element j (a u32 expression) of the one-hot vector of `id` */
  element: (id: string, j: string): string => `select(0.0, 1.0, ${id} == ${j})`,
};

/** The id a one-hot vector encodes: the index of its one nonzero element. */
function idOf(onehot: Float64Array): number {
  const id = onehot.indexOf(1);
  if (id < 0 || onehot.some((v, i) => v !== (i === id ? 1 : 0))) throw new Error('internal: gather and scatter read a one-hot vector');
  return id;
}

function elementwiseShape(args: readonly Type[]): Type | string {
  const [a, b] = args as [Type, Type];
  const batched = a.batched || b.batched;
  if (a.shape.length === 0) return { shape: b.shape, batched };
  if (b.shape.length === 0) return { shape: a.shape, batched };
  if (shapeEquals(a.shape, b.shape)) return { shape: a.shape, batched };
  return `shapes ${show(a)} and ${show(b)} differ`;
}

export const SHAPE_RULES: Readonly<Record<OpName, ShapeRule>> = {
  input: () => 'input is a leaf',
  state: () => 'state is a leaf',
  param: () => 'param is a leaf',
  load: () => 'load is a leaf',
  const: () => ({ shape: [], batched: false }),
  dim: (args, { size }) => (args.length === 0 && size ? { shape: [], batched: false } : 'a size and no operands'),
  ...(Object.fromEntries(
    Object.keys(UNARY).map((op) => [op, (args: readonly Type[]) => args[0]!]),
  ) as unknown as Record<UnaryOp, ShapeRule>),
  ...(Object.fromEntries(Object.keys(BINARY).map((op) => [op, elementwiseShape])) as unknown as Record<BinaryOp, ShapeRule>),
  ...(Object.fromEntries(
    Object.keys(REDUCE).map((op) => [
      op,
      (args: readonly Type[]) =>
        args[0]!.shape.length === 1
          ? { shape: [], batched: args[0]!.batched }
          : `a vector, got ${show(args[0]!)}`,
    ]),
  ) as unknown as Record<ReduceOp, ShapeRule>),
  // the matrix is a parameter, or a per-example value (attention's keys, a gradient of them)
  matmul: ([w, x]) => {
    if (w!.shape.length !== 2) return `the left operand of @ to be a matrix [rows, cols], got ${show(w!)}`;
    if (x!.shape.length !== 1) return `the right operand of @ to be a vector, got ${show(x!)}`;
    if (!w!.shape[1]!.equals(x!.shape[0]!)) {
      return `a vector of ${w!.shape[1]} elements to match ${show(w!)}, got ${show(x!)}`;
    }
    return { shape: [w!.shape[0]!], batched: w!.batched || x!.batched };
  },
  concat: (args) => {
    if (args.some((a) => a.shape.length !== 1)) {
      return `vectors to concatenate, got ${args.map(show).join(', ')}`;
    }
    const size = args.reduce((acc, a) => acc.add(a.shape[0]!), Dim.of(0));
    return { shape: [size], batched: args.some((a) => a.batched) };
  },
  // along the last axis: a vector's elements, a matrix's columns (one head's keys)
  slice: ([a], { size }) => {
    if (a!.shape.length === 0) return `a vector or matrix to slice, got a number`;
    return { shape: [...a!.shape.slice(0, -1), size!], batched: a!.batched };
  },
  pad: ([a], { size }) => (a!.shape.length === 0 ? 'a vector or matrix to pad, got a number' : { shape: [...a!.shape.slice(0, -1), size!], batched: a!.batched }),
  broadcast: ([a], { size }) => (a!.shape.length === 0 ? { shape: [size!], batched: a!.batched } : `a number to broadcast, got ${show(a!)}`),
  outer: ([a, b]) =>
    a!.shape.length === 1 && b!.shape.length === 1
      ? { shape: [a!.shape[0]!, b!.shape[0]!], batched: a!.batched || b!.batched }
      : `two vectors, got ${show(a!)} and ${show(b!)}`,
  transpose: ([a]) => (a!.shape.length === 2 ? { shape: [a!.shape[1]!, a!.shape[0]!], batched: a!.batched } : `a matrix, got ${show(a!)}`),
  reshape: ([a], { shape }) => {
    if (!shape || shape.length < 1 || shape.length > 2) return 'a vector or matrix shape to reshape to';
    if (!shapeSize(a!.shape).equals(shapeSize(shape))) return `${shapeSize(shape)} elements to reshape to ${formatShape(shape)}, got ${show(a!)}`;
    return { shape, batched: a!.batched };
  },
  ...CONV_SHAPE_RULES,
  dropout_mask: (args, { size }) => (args.length === 0 ? { shape: [size!], batched: true } : 'no operands'),
  // the types of the ops they replace; that the vector is a one-hot input is typecheck's to say
  gather: (args, attrs) => SHAPE_RULES.matmul(args, attrs),
  scatter: (args, attrs) => SHAPE_RULES.outer(args, attrs),
};

/**
 * The inverted-dropout mask at (step t, batch row b, element j): 1/(1-p) where the draw u
 * is >= p, else 0. The CPU and WGSL forms test the same 24 bits against the same integer
 * threshold, so they agree bit for bit on which elements are kept.
 */
export const DROPOUT_MASK = {
  /** the mask of one batch row at one step, in float64 */
  cpu(attrs: Attrs, length: number, seed: number, t: number, b: number): Float64Array {
    const threshold = keepThreshold(attrs.p!);
    const scale = 1 / (1 - attrs.p!);
    const step = attrs.perStep ? t : EVERY_STEP;
    const out = new Float64Array(length);
    for (let j = 0; j < length; j++) out[j] = random24(seed, attrs.stream!, step, b, j) >= threshold ? scale : 0;
    return out;
  },
  /** the mask element as a WGSL f32 expression; `t`, `b` and `j` are u32 expressions */
  wgsl(attrs: Attrs, at: { readonly seed: string; readonly t: string; readonly b: string; readonly j: string }, literal: (v: number) => string): string {
    const step = attrs.perStep ? at.t : `${EVERY_STEP}u`;
    const bits = `seqc_random24(${at.seed}, ${attrs.stream!}u, ${step}, ${at.b}, ${at.j})`;
    return `select(0.0, ${literal(1 / (1 - attrs.p!))}, ${bits} >= ${keepThreshold(attrs.p!)}u)`;
  },
};

/** Float64 meaning of one op on already-evaluated operands (one batch element at a time). */
export function evaluateOp(
  op: OpName,
  attrs: Attrs,
  args: readonly Float64Array[],
  argSizes: readonly number[][],
  sizes: Readonly<Record<string, number>>,
): Float64Array {
  if (isUnary(op)) return args[0]!.map(UNARY[op].cpu);
  if (isBinary(op)) {
    const [a, b] = args as [Float64Array, Float64Array];
    const f = BINARY[op].cpu;
    const n = Math.max(a.length, b.length);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = f(a.length === 1 ? a[0]! : a[i]!, b.length === 1 ? b[0]! : b[i]!);
    return out;
  }
  if (isReduce(op)) {
    const { identity, cpu } = REDUCE[op];
    let acc = identity;
    for (const x of args[0]!) acc = cpu(acc, x);
    return Float64Array.of(acc);
  }
  switch (op) {
    case 'matmul': {
      const [w, x] = args as [Float64Array, Float64Array];
      const [rows, cols] = argSizes[0] as [number, number];
      const out = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let k = 0; k < cols; k++) acc += w[r * cols + k]! * x[k]!;
        out[r] = acc;
      }
      return out;
    }
    case 'concat': {
      const out = new Float64Array(args.reduce((n, a) => n + a.length, 0));
      let offset = 0;
      for (const a of args) {
        out.set(a, offset);
        offset += a.length;
      }
      return out;
    }
    case 'slice': {
      const start = attrs.start!.evaluate(sizes);
      const size = attrs.size!.evaluate(sizes);
      const cols = argSizes[0]!.at(-1)!;
      const out = new Float64Array((args[0]!.length / cols) * size);
      for (let r = 0; r < out.length / size; r++) out.set(args[0]!.subarray(r * cols + start, r * cols + start + size), r * size);
      return out;
    }
    case 'const':
      return Float64Array.of(attrs.value!);
    case 'dim':
      return Float64Array.of(attrs.size!.evaluate(sizes));
    case 'pad': {
      const size = attrs.size!.evaluate(sizes);
      const cols = argSizes[0]!.at(-1)!;
      const rows = args[0]!.length / cols;
      const out = new Float64Array(rows * size);
      for (let r = 0; r < rows; r++) out.set(args[0]!.subarray(r * cols, (r + 1) * cols), r * size + attrs.start!.evaluate(sizes));
      return out;
    }
    case 'broadcast':
      return new Float64Array(attrs.size!.evaluate(sizes)).fill(args[0]![0]!);
    case 'outer': {
      const [a, b] = args as [Float64Array, Float64Array];
      const out = new Float64Array(a.length * b.length);
      for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i * b.length + j] = a[i]! * b[j]!;
      return out;
    }
    case 'gather': {
      const [w, x] = args as [Float64Array, Float64Array];
      const [rows, cols] = argSizes[0] as [number, number];
      const id = idOf(x);
      const out = new Float64Array(rows);
      for (let r = 0; r < rows; r++) out[r] = w[r * cols + id]!;
      return out;
    }
    case 'scatter': {
      const [g, x] = args as [Float64Array, Float64Array];
      const id = idOf(x);
      const out = new Float64Array(g.length * x.length);
      for (let r = 0; r < g.length; r++) out[r * x.length + id] = g[r]!;
      return out;
    }
    case 'reshape':
      return Float64Array.from(args[0]!);
    case 'conv2d':
      return conv2dCpu(args[0]!, args[1]!, argSizes[0]![0]!, gridOf(attrs, sizes));
    case 'flip_kernel':
      return flipKernelCpu(args[0]!, argSizes[0]![0]!, attrs.kernel!);
    case 'conv2d_filter':
      return conv2dFilterCpu(args[0]!, args[1]!, gridOf(attrs, sizes));
    case 'transpose': {
      const [rows, cols] = argSizes[0] as [number, number];
      const a = args[0]!;
      const out = new Float64Array(a.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
      return out;
    }
    default:
      throw new Error(`${op} is a leaf: its value comes from the program's bindings`);
  }
}
