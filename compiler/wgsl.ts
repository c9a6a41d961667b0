/**
 * WGSL codegen: one compute shader per scheduled kernel. Each invocation owns one element
 * index j of one batch row b and generates every value it needs *at an index*: a slice
 * shifts the index, a concatenation branches on it, a matmul loops over a row, elementwise
 * ops combine operands at the same index. So all the math between buffers fuses into the
 * kernel, for any cell. Sizes and parameter offsets are `override` constants, set when the
 * pipeline is created; step, steps and batch come from a uniform with a dynamic offset.
 * No user identifier reaches WGSL: names are indices.
 */
import type { Eqn } from './ir.js';
import { BINARY, REDUCE, UNARY, isBinary, isReduce, isUnary } from './ops.js';
import type { KernelSpec, Schedule } from './schedule.js';
import type { Dim } from './shape.js';
import { shapeSize } from './shape.js';

export const WORKGROUP_SIZE = 64;

export function f32Literal(value: number): string {
  if (Number.isNaN(value)) return 'bitcast<f32>(0x7fc00000u)';
  if (!Number.isFinite(value) || Math.abs(value) > 3.4028234663852886e38) {
    return value > 0 ? 'bitcast<f32>(0x7f800000u)' : 'bitcast<f32>(0xff800000u)';
  }
  let text = String(Math.abs(value));
  if (!/[.e]/.test(text)) text += '.0';
  return value < 0 || Object.is(value, -0) ? `(-${text})` : text;
}

/** A scope of generated statements; values computed here are reused by later statements. */
class Block {
  readonly lines: string[] = [];
  readonly #memo = new Map<string, string>();
  constructor(readonly indent: string, readonly parent?: Block) {}

  lookup(key: string): string | undefined {
    return this.#memo.get(key) ?? this.parent?.lookup(key);
  }
  remember(key: string, name: string): void {
    this.#memo.set(key, name);
  }
  line(text: string): void {
    this.lines.push(this.indent + text);
  }
  child(): Block {
    return new Block(this.indent + '  ', this);
  }
  append(child: Block): void {
    this.lines.push(...child.lines);
  }
}

export interface GeneratedKernel {
  readonly wgsl: string;
  readonly usesParams: boolean;
  readonly buffers: readonly { readonly buffer: number; readonly write: boolean }[];
  /** the widths of its outputs: the dispatch covers the largest */
  readonly widths: readonly Dim[];
}

class KernelWriter {
  readonly #eqns: readonly Eqn[];
  readonly #sizeIndex: ReadonlyMap<string, number>;
  readonly #paramIndex: ReadonlyMap<string, number>;
  readonly #bufferUse = new Map<number, boolean>();
  #usesParams = false;
  #counter = 0;

  constructor(readonly schedule: Schedule, readonly kernel: KernelSpec) {
    const { program } = schedule;
    this.#eqns = program.eqns;
    this.#sizeIndex = new Map(program.sizes.map((s, i) => [s.name, i]));
    this.#paramIndex = new Map(program.params.map((p, i) => [p.name, i]));
  }

  dim(d: Dim): string {
    const text = d.render((name) => `size_${this.#sizeIndex.get(name)}`, (n) => `${n}u`);
    return /^[\w.]+$/.test(text) ? text : `(${text})`;
  }

  fresh(prefix: string): string {
    return `${prefix}${this.#counter++}`;
  }

  useBuffer(buffer: number, write: boolean): string {
    this.#bufferUse.set(buffer, (this.#bufferUse.get(buffer) ?? false) || write);
    return `buf_${buffer}`;
  }

  /** Element (t - lag, b, index) of a sequence buffer. */
  element(buffer: number, index: string, lag = 0): string {
    const spec = this.schedule.buffers[buffer]!;
    const slot = spec.lags - lag;
    const step = slot === 0 ? 't' : slot > 0 ? `(t + ${slot}u)` : `(t - ${-slot}u)`;
    return `${this.useBuffer(buffer, false)}[(${step} * B + b) * ${this.dim(spec.elements)} + ${index}]`;
  }

  /** The WGSL expression for value `id` at element `index`, emitting statements into `block`. */
  value(id: number, index: string, block: Block): string {
    const key = `${id}@${index}`;
    const known = block.lookup(key);
    if (known) return known;
    const e = this.#eqns[id]!;
    const kept = this.schedule.materialized.get(id);
    let text: string;
    if (kept && (kept.phase !== this.kernel.phase || kept.level < this.kernel.level)) {
      text = this.element(kept.buffers[0]!, index);
    } else {
      text = this.compute(e, index, block);
    }
    if (/^[\w.()-]+$/.test(text)) {
      block.remember(key, text);
      return text;
    }
    const name = this.fresh('v');
    block.line(`let ${name} = ${text};`);
    block.remember(key, name);
    return name;
  }

  operandIndex(arg: number, index: string): string {
    return this.#eqns[arg]!.type.shape.length === 0 ? '0u' : index;
  }

  compute(e: Eqn, index: string, block: Block): string {
    if (isUnary(e.op)) return UNARY[e.op].wgsl(this.value(e.args[0]!, index, block));
    if (isBinary(e.op)) {
      const [a, b] = e.args.map((arg) => this.value(arg, this.operandIndex(arg, index), block)) as [string, string];
      return BINARY[e.op].wgsl(a, b);
    }
    if (isReduce(e.op)) {
      const def = REDUCE[e.op];
      const operand = this.#eqns[e.args[0]!]!;
      const acc = this.fresh('acc');
      const k = this.fresh('k');
      block.line(`var ${acc}: f32 = ${def.wgslIdentity};`);
      block.line(`for (var ${k}: u32 = 0u; ${k} < ${this.dim(operand.type.shape[0]!)}; ${k} = ${k} + 1u) {`);
      const body = block.child();
      body.line(`${acc} = ${def.wgsl(acc, this.value(operand.id, k, body))};`);
      block.append(body);
      block.line('}');
      return acc;
    }
    switch (e.op) {
      case 'const':
        return f32Literal(e.attrs.value!);
      case 'param': {
        this.#usesParams = true;
        const base = `param_${this.#paramIndex.get(e.attrs.name!)}`;
        if (!this.schedule.columnMajor.has(e.attrs.name!)) return `params[${base} + ${index}]`;
        const [rows, cols] = e.type.shape.map((d) => this.dim(d)) as [string, string];
        return `params[${base} + ((${index}) % ${cols}) * ${rows} + (${index}) / ${cols}]`;
      }
      case 'input':
        return this.element(this.schedule.inputBuffers.get(e.attrs.name!)!, index);
      case 'state':
        return this.element(this.schedule.stateBuffers.get(e.attrs.name!)!, index, e.attrs.lag!);
      case 'slice': {
        const start = this.dim(e.attrs.start!);
        return this.value(e.args[0]!, start === '0u' ? index : `${index} + ${start}`, block);
      }
      case 'concat': {
        const result = this.fresh('cat');
        block.line(`var ${result}: f32;`);
        let offset = '0u';
        e.args.forEach((arg, i) => {
          const size = this.dim(shapeSize(this.#eqns[arg]!.type.shape));
          const end = offset === '0u' ? size : `${offset} + ${size}`;
          const local = offset === '0u' ? index : `${index} - (${offset})`;
          const last = i === e.args.length - 1;
          block.line(i === 0 ? `if (${index} < ${end}) {` : last ? '} else {' : `} else if (${index} < ${end}) {`);
          const branch = block.child();
          branch.line(`${result} = ${this.value(arg, local, branch)};`);
          block.append(branch);
          offset = end;
        });
        block.line('}');
        return result;
      }
      case 'matmul': {
        const [w, x] = e.args as [number, number];
        const cols = this.dim(this.#eqns[w]!.type.shape[1]!);
        const acc = this.fresh('acc');
        const k = this.fresh('k');
        block.line(`var ${acc}: f32 = 0.0;`);
        block.line(`for (var ${k}: u32 = 0u; ${k} < ${cols}; ${k} = ${k} + 1u) {`);
        const body = block.child();
        const weight = this.weight(w, index, k, body);
        body.line(`${acc} = ${acc} + ${weight} * ${this.value(x, k, body)};`);
        block.append(body);
        block.line('}');
        return acc;
      }
      default:
        throw new Error(`no WGSL for ${e.op}`);
    }
  }

  /** Element (row, col) of a matmul's weight; column-major params index it directly. */
  weight(w: number, row: string, col: string, block: Block): string {
    const e = this.#eqns[w]!;
    if (e.op === 'param' && this.schedule.columnMajor.has(e.attrs.name!)) {
      this.#usesParams = true;
      const rows = this.dim(e.type.shape[0]!);
      return `params[param_${this.#paramIndex.get(e.attrs.name!)} + ${col} * ${rows} + ${row}]`;
    }
    return this.value(w, `(${row}) * ${this.dim(e.type.shape[1]!)} + ${col}`, block);
  }

  write(): GeneratedKernel {
    const main = new Block('  ');
    const outputs = this.kernel.outputs.map((id) => this.#eqns[id]!);
    const widths = new Map<string, { dim: Dim; outputs: Eqn[] }>();
    for (const o of outputs) {
      const dim = shapeSize(o.type.shape);
      const key = dim.toString();
      widths.set(key, { dim, outputs: [...(widths.get(key)?.outputs ?? []), o] });
    }
    for (const { dim, outputs: group } of widths.values()) {
      main.line(`if (j < ${this.dim(dim)}) {`);
      const body = main.child();
      for (const o of group) {
        const v = this.value(o.id, o.type.shape.length === 0 ? '0u' : 'j', body);
        for (const buffer of this.schedule.materialized.get(o.id)!.buffers) {
          const target = this.element(buffer, 'j').replace(/^buf_\d+/, this.useBuffer(buffer, true));
          body.line(`${target} = ${v};`);
        }
      }
      main.append(body);
      main.line('}');
    }

    const { program } = this.schedule;
    const header: string[] = [
      `// seqc: cell ${program.name}, ${this.kernel.phase} kernel, level ${this.kernel.level}`,
      ...program.sizes.map((s, i) => `override size_${i}: u32; // ${s.name}`),
      ...program.params.map((p, i) => `override param_${i}: u32; // offset of ${p.name}`),
      'struct Launch { t: u32, steps: u32, batch: u32, pad: u32 }',
      '@group(0) @binding(0) var<uniform> launch: Launch;',
    ];
    let binding = 1;
    if (this.#usesParams) header.push(`@group(0) @binding(${binding++}) var<storage, read> params: array<f32>;`);
    const buffers = [...this.#bufferUse].sort(([a], [b]) => a - b).map(([buffer, write]) => ({ buffer, write }));
    for (const { buffer, write } of buffers) {
      const spec = this.schedule.buffers[buffer]!;
      header.push(`@group(0) @binding(${binding++}) var<storage, ${write ? 'read_write' : 'read'}> buf_${buffer}: array<f32>; // ${spec.kind} ${spec.name}`);
    }
    const t = this.kernel.phase === 'hoisted' ? 'gid.z' : 'launch.t';
    const wgsl = [
      ...header,
      '',
      `@compute @workgroup_size(${WORKGROUP_SIZE})`,
      'fn main(@builtin(global_invocation_id) gid: vec3<u32>) {',
      '  let j = gid.x;',
      '  let b = gid.y;',
      `  let t = ${t};`,
      '  let B = launch.batch;',
      '  if (b >= B || t >= launch.steps) { return; }',
      ...main.lines,
      '}',
      '',
    ].join('\n');
    return { wgsl, usesParams: this.#usesParams, buffers, widths: [...widths.values()].map((w) => w.dim) };
  }
}

export function generateKernel(schedule: Schedule, kernel: KernelSpec): GeneratedKernel {
  return new KernelWriter(schedule, kernel).write();
}
