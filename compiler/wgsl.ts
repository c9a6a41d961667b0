/**
 * WGSL codegen: one compute shader per scheduled kernel and tile shape. An invocation owns a
 * tile of `cols` consecutive element indices j times `rows` batch rows, and generates every
 * value it needs *at an index*: a slice shifts the index, a concatenation branches on it,
 * elementwise ops combine operands at the same index, a reduction loops. Matmuls are
 * gathered first and computed together: all matmuls of the tile that read the same operand
 * share one loop over k, with one accumulator per (row of the weight, batch row), so each
 * loaded weight is used `rows` times and each operand element once per weight row. That
 * register blocking is what makes matmuls fast, for any cell.
 * Sizes, parameter offsets and the workgroup size are `override` constants, set when the
 * pipeline is created; step, steps and batch come from a uniform with a dynamic offset.
 * No user identifier reaches WGSL: names are indices.
 */
import type { Eqn } from './ir.js';
import { BINARY, REDUCE, UNARY, isBinary, isReduce, isUnary } from './ops.js';
import type { KernelSpec, Schedule } from './schedule.js';
import { Dim, shapeSize } from './shape.js';

export function f32Literal(value: number): string {
  if (Number.isNaN(value)) return 'bitcast<f32>(0x7fc00000u)';
  if (!Number.isFinite(value) || Math.abs(value) > 3.4028234663852886e38) {
    return value > 0 ? 'bitcast<f32>(0x7f800000u)' : 'bitcast<f32>(0xff800000u)';
  }
  let text = String(Math.abs(value));
  if (!/[.e]/.test(text)) text += '.0';
  return value < 0 || Object.is(value, -0) ? `(-${text})` : text;
}

/** An element index: `base + lane + offset`, base being the tile's first index or a loop variable. */
interface Index {
  readonly base: string;
  readonly lane: number;
  readonly offset: Dim;
}

const ZERO = Dim.of(0);
const shifted = (index: Index, by: Dim): Index => ({ ...index, offset: index.offset.add(by) });

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

export interface Tile {
  /** batch rows per invocation */
  readonly rows: number;
  /** consecutive element indices per invocation */
  readonly cols: number;
}

export interface GeneratedKernel {
  readonly wgsl: string;
  readonly usesParams: boolean;
  readonly buffers: readonly { readonly buffer: number; readonly write: boolean }[];
  /** the widths of its outputs: the dispatch covers the largest */
  readonly widths: readonly Dim[];
  readonly tile: Tile;
  /** accumulators an invocation keeps live across its matmul loops */
  readonly accumulators: number;
}

/** A matmul wanted at one weight row for one batch row, found by the gathering pass. */
interface MatmulRequest {
  readonly eqn: Eqn;
  readonly row: Index;
  readonly batchRow: number;
}

class KernelWriter {
  readonly #eqns: readonly Eqn[];
  readonly #sizeIndex: ReadonlyMap<string, number>;
  readonly #paramIndex: ReadonlyMap<string, number>;
  readonly #bufferUse = new Map<number, boolean>();
  #usesParams = false;
  #counter = 0;
  /** gathering pass: matmuls are recorded, not computed */
  #requests: Map<string, MatmulRequest> | undefined;
  /** emitting pass: accumulators holding the gathered matmuls */
  readonly #accumulators = new Map<string, string>();

  constructor(readonly schedule: Schedule, readonly kernel: KernelSpec, readonly tile: Tile) {
    const { program } = schedule;
    this.#eqns = program.eqns;
    this.#sizeIndex = new Map(program.sizes.map((s, i) => [s.name, i]));
    this.#paramIndex = new Map(program.params.map((p, i) => [p.name, i]));
  }

  dim(d: Dim): string {
    const text = d.render((name) => `size_${this.#sizeIndex.get(name)}`, (n) => `${n}u`);
    return /^[\w.]+$/.test(text) ? text : `(${text})`;
  }

  /** u32 text of an index; negative offset terms become subtractions. */
  index(i: Index): string {
    const { positive, negative } = i.offset.signParts();
    const plus = positive.add(Dim.of(i.lane));
    let text = i.base;
    if (plus.constant !== 0) text += ` + ${this.dim(plus)}`;
    if (negative.constant !== 0) text += ` - ${this.dim(negative)}`;
    return text;
  }

  fresh(prefix: string): string {
    return `${prefix}${this.#counter++}`;
  }

  useBuffer(buffer: number, write: boolean): string {
    this.#bufferUse.set(buffer, (this.#bufferUse.get(buffer) ?? false) || write);
    return `buf_${buffer}`;
  }

  /** Element (t - lag, batch row, index) of a sequence buffer. */
  element(buffer: number, index: Index, batchRow: number, lag = 0, write = false): string {
    const spec = this.schedule.buffers[buffer]!;
    const slot = spec.lags - lag;
    const step = this.kernel.phase === 'hoisted' ? `${slot}u` : slot === 0 ? 't' : slot > 0 ? `(t + ${slot}u)` : `(t - ${-slot}u)`;
    const first = step === '0u' ? `r${batchRow}` : `${step} * B + r${batchRow}`;
    return `${this.useBuffer(buffer, write)}[(${first}) * ${this.dim(spec.elements)} + ${this.index(index)}]`;
  }

  key(e: Eqn, index: Index, batchRow: number): string {
    return `${e.id}@${this.index(index)}#${e.type.batched ? batchRow : '*'}`;
  }

  /** The WGSL expression for value `id` at `index` of batch row `batchRow`, emitting into `block`. */
  value(id: number, index: Index, batchRow: number, block: Block): string {
    const e = this.#eqns[id]!;
    const key = this.key(e, index, batchRow);
    const known = block.lookup(key);
    if (known) return known;
    const kept = this.schedule.materialized.get(id);
    let text: string;
    if (kept && (kept.phase !== this.kernel.phase || kept.level < this.kernel.level)) {
      text = this.element(kept.buffers[0]!, e.type.shape.length === 0 ? { base: '0u', lane: 0, offset: ZERO } : index, batchRow);
    } else {
      text = this.compute(e, index, batchRow, block);
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

  operand(arg: number, index: Index, batchRow: number, block: Block): string {
    const scalar = this.#eqns[arg]!.type.shape.length === 0;
    return this.value(arg, scalar ? { base: '0u', lane: 0, offset: ZERO } : index, batchRow, block);
  }

  compute(e: Eqn, index: Index, batchRow: number, block: Block): string {
    if (isUnary(e.op)) return UNARY[e.op].wgsl(this.value(e.args[0]!, index, batchRow, block));
    if (isBinary(e.op)) {
      const [a, b] = e.args.map((arg) => this.operand(arg, index, batchRow, block)) as [string, string];
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
      body.line(`${acc} = ${def.wgsl(acc, this.value(operand.id, { base: k, lane: 0, offset: ZERO }, batchRow, body))};`);
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
        const flat = this.index(index);
        if (!this.schedule.columnMajor.has(e.attrs.name!)) return `params[${base} + ${flat}]`;
        const [rows, cols] = e.type.shape.map((d) => this.dim(d)) as [string, string];
        return `params[${base} + ((${flat}) % ${cols}) * ${rows} + (${flat}) / ${cols}]`;
      }
      case 'input':
        return this.element(this.schedule.inputBuffers.get(e.attrs.name!)!, index, batchRow);
      case 'state':
        return this.element(this.schedule.stateBuffers.get(e.attrs.name!)!, index, batchRow, e.attrs.lag!);
      case 'slice':
        return this.value(e.args[0]!, shifted(index, e.attrs.start!), batchRow, block);
      case 'concat': {
        const result = this.fresh('cat');
        block.line(`var ${result}: f32;`);
        let offset = Dim.of(0);
        const at = this.index(index);
        e.args.forEach((arg, i) => {
          const end = offset.add(shapeSize(this.#eqns[arg]!.type.shape));
          const last = i === e.args.length - 1;
          block.line(i === 0 ? `if (${at} < ${this.dim(end)}) {` : last ? '} else {' : `} else if (${at} < ${this.dim(end)}) {`);
          const branch = block.child();
          branch.line(`${result} = ${this.value(arg, shifted(index, offset.scale(-1)), batchRow, branch)};`);
          block.append(branch);
          offset = end;
        });
        block.line('}');
        return result;
      }
      case 'matmul':
        return this.matmul(e, index, batchRow, block);
      default:
        throw new Error(`no WGSL for ${e.op}`);
    }
  }

  matmul(e: Eqn, row: Index, batchRow: number, block: Block): string {
    const key = this.key(e, row, batchRow);
    const gathered = this.#accumulators.get(key);
    if (gathered) return gathered;
    // Rows indexed by a loop variable (inside a reduction) cannot be gathered: loop inline.
    if (this.#requests && row.base === 'j0') {
      this.#requests.set(key, { eqn: e, row, batchRow });
      return '0.0';
    }
    const [w, x] = e.args as [number, number];
    const acc = this.fresh('acc');
    const k = this.fresh('k');
    block.line(`var ${acc}: f32 = 0.0;`);
    block.line(`for (var ${k}: u32 = 0u; ${k} < ${this.dim(this.#eqns[w]!.type.shape[1]!)}; ${k} = ${k} + 1u) {`);
    const body = block.child();
    const weight = this.weight(w, row, k, body);
    body.line(`${acc} = fma(${weight}, ${this.value(x, { base: k, lane: 0, offset: ZERO }, batchRow, body)}, ${acc});`);
    block.append(body);
    block.line('}');
    return acc;
  }

  /** Element (row, col) of a matmul's weight; column-major params index it directly. */
  weight(w: number, row: Index, col: string, block: Block): string {
    const e = this.#eqns[w]!;
    if (e.op === 'param' && this.schedule.columnMajor.has(e.attrs.name!)) {
      this.#usesParams = true;
      const rows = this.dim(e.type.shape[0]!);
      return `params[param_${this.#paramIndex.get(e.attrs.name!)} + ${col} * ${rows} + ${this.index(row)}]`;
    }
    const cols = this.dim(e.type.shape[1]!);
    return this.value(w, { base: `(${this.index(row)}) * ${cols} + ${col}`, lane: 0, offset: ZERO }, 0, block);
  }

  /** One loop over k per (operand, length): every gathered matmul reading that operand. */
  emitMatmuls(requests: readonly MatmulRequest[], block: Block): number {
    const groups = new Map<string, MatmulRequest[]>();
    for (const r of requests) {
      const [w, x] = r.eqn.args as [number, number];
      const group = `${x}|${this.#eqns[w]!.type.shape[1]}`;
      groups.set(group, [...(groups.get(group) ?? []), r]);
    }
    for (const group of groups.values()) {
      const x = group[0]!.eqn.args[1]!;
      const length = this.dim(this.#eqns[group[0]!.eqn.args[0]!]!.type.shape[1]!);
      const names = group.map((r) => {
        const name = this.fresh('acc');
        block.line(`var ${name}: f32 = 0.0;`);
        this.#accumulators.set(this.key(r.eqn, r.row, r.batchRow), name);
        return name;
      });
      const k = this.fresh('k');
      block.line(`for (var ${k}: u32 = 0u; ${k} < ${length}; ${k} = ${k} + 1u) {`);
      const body = block.child();
      group.forEach((r, i) => {
        const weight = this.weight(r.eqn.args[0]!, r.row, k, body);
        const operand = this.value(x, { base: k, lane: 0, offset: ZERO }, r.batchRow, body);
        body.line(`${names[i]} = fma(${weight}, ${operand}, ${names[i]});`);
      });
      block.append(body);
      block.line('}');
    }
    return requests.length;
  }

  /** Stores of every output at every (lane, batch row) of the tile. */
  epilogue(block: Block, outputs: readonly Eqn[]): void {
    for (const o of outputs) {
      const scalar = o.type.shape.length === 0;
      const width = this.dim(shapeSize(o.type.shape));
      for (let lane = 0; lane < (scalar ? 1 : this.tile.cols); lane++) {
        const index: Index = scalar ? { base: '0u', lane: 0, offset: ZERO } : { base: 'j0', lane, offset: ZERO };
        for (let r = 0; r < this.tile.rows; r++) {
          const v = this.value(o.id, index, r, block);
          const guard = scalar ? `j0 == 0u && r${r} < rows` : `${this.index(index)} < ${width} && r${r} < rows`;
          for (const buffer of this.schedule.materialized.get(o.id)!.buffers) {
            block.line(`if (${guard}) { ${this.element(buffer, index, r, 0, true)} = ${v}; }`);
          }
        }
      }
    }
  }

  write(): GeneratedKernel {
    const outputs = this.kernel.outputs.map((id) => this.#eqns[id]!);
    // Pass 1 finds the matmuls the tile needs; pass 2 computes them together, then the rest.
    this.#requests = new Map();
    this.epilogue(new Block('  '), outputs);
    const requests = [...this.#requests.values()];
    this.#requests = undefined;
    this.#counter = 0;
    this.#bufferUse.clear();
    this.#usesParams = false;
    const main = new Block('  ');
    const accumulators = this.emitMatmuls(requests, main);
    this.epilogue(main, outputs);

    const widths = new Map<string, Dim>();
    for (const o of outputs) widths.set(shapeSize(o.type.shape).toString(), shapeSize(o.type.shape));
    const { program } = this.schedule;
    const header: string[] = [
      `// seqc: cell ${program.name}, ${this.kernel.phase} kernel, level ${this.kernel.level}, tile ${this.tile.rows}x${this.tile.cols}`,
      ...program.sizes.map((s, i) => `override size_${i}: u32; // ${s.name}`),
      ...program.params.map((p, i) => `override param_${i}: u32; // offset of ${p.name}`),
      'override workgroup_size: u32 = 64u;',
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
    const hoisted = this.kernel.phase === 'hoisted';
    const rowIds = Array.from({ length: this.tile.rows }, (_, r) => `  let r${r} = row0 + ${r}u;`);
    const wgsl = [
      ...header,
      '',
      '@compute @workgroup_size(workgroup_size)',
      'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {',
      `  let j0 = gid.x * ${this.tile.cols}u;`,
      // hoisted kernels run over all T*B rows at once; rows past 65535 blocks spill into z
      `  let row0 = (gid.y + gid.z * groups.y) * ${this.tile.rows}u;`,
      '  let B = launch.batch;',
      hoisted ? '  let rows = launch.steps * B;' : '  let rows = B;',
      '  let t = launch.t;',
      '  if (row0 >= rows) { return; }',
      ...rowIds,
      ...main.lines,
      '}',
      '',
    ].join('\n');
    return { wgsl, usesParams: this.#usesParams, buffers, widths: [...widths.values()], tile: this.tile, accumulators };
  }
}

export function generateKernel(schedule: Schedule, kernel: KernelSpec, tile: Tile = { rows: 1, cols: 1 }): GeneratedKernel {
  return new KernelWriter(schedule, kernel, tile).write();
}
