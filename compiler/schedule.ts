/**
 * The schedule: decides how a cell's step graph runs, apart from what it computes.
 * - Materialize: a value is kept in a buffer when it is a step result or a costly value
 *   (one that contains a matmul or reduction) read whole by a matmul or reduction.
 *   Everything else is recomputed where it is used, so elementwise math, slices,
 *   concatenations and reductions over a row (a softmax's, a layer norm's) fuse into the
 *   kernels that consume them.
 * - Hoist: a costly value that reads no carried state but feeds the recurrence runs for all
 *   steps at once before the loop.
 * - Sink: a value that reads carried state but that no state update depends on (a readout,
 *   a loss, what a backward pass saves) runs for all steps at once after the loop, so the
 *   sequential part is only the recurrence itself.
 * - Accumulate: values summed over every step and row (parameter gradients) run after the
 *   loop, one kernel each; what they read is kept per step (their contractions, and the
 *   vectors of their outer products, of their scatters and the maps of their filter
 *   gradients), so the sum is a GEMM over all steps, for an embedding's gradient a
 *   scatter-add, for a convolution's kernel a correlation over every row (compiler/wgsl.ts).
 * - Level: within a phase, a kernel may only read buffers written by earlier kernels; values
 *   of one level share a kernel.
 * - Scan: when every update is affine in its own state (compiler/scan.ts), the step loop
 *   becomes one parallel scan over time (`recurrence: 'scan'`, the default where it applies).
 * Nothing here is specific to any cell.
 */
import type { Binding, CellProgram, Eqn } from './ir.js';
import { isContraction, isReduce } from './ops.js';
import { isLinearRecurrence, stateFreeValues } from './scan.js';
import { Dim, shapeSize } from './shape.js';

/** 'scan' replaces 'step' where the recurrence is linear: one kernel for all steps. */
export type Phase = 'hoisted' | 'step' | 'scan' | 'after' | 'post';

export interface ScheduleOptions {
  /**
   * Parameters stored column-major (Schedule.columnMajor): a backward pass passes its forward's
   * layout. Default: every matmul weight.
   */
  readonly columnMajor?: ReadonlySet<string>;
  /** 'sequential' keeps the step loop even where a scan applies (to compare them) */
  readonly recurrence?: 'scan' | 'sequential';
  /**
   * Every kept intermediate value in one buffer, each at its offset in the row: one binding
   * for them all, for a kernel that reads more values than a device may bind buffers.
   */
  readonly packTemps?: boolean;
}

export interface BufferSpec {
  readonly kind: 'input' | 'state' | 'readout' | 'temp' | 'load';
  readonly name: string;
  readonly elements: Dim;
  /** slots kept beyond the steps: before t = 0 for forward states and loads, after T - 1 for reverse states */
  readonly lags: number;
}

export interface Materialized {
  readonly eqn: number;
  readonly phase: Phase;
  readonly level: number;
  /** buffers this value is written to; the first is where readers load it from */
  readonly buffers: readonly number[];
  /** where in each buffer's row the value starts (non-zero in a packed buffer) */
  readonly offsets: readonly Dim[];
}

export interface KernelSpec {
  readonly phase: Phase;
  readonly level: number;
  /** materialized values computed by this kernel (hoisted and step kernels) */
  readonly outputs: readonly number[];
  /** the sum a post kernel computes */
  readonly accumulation?: Binding;
}

export interface Schedule {
  readonly program: CellProgram;
  readonly buffers: readonly BufferSpec[];
  readonly materialized: ReadonlyMap<number, Materialized>;
  readonly inputBuffers: ReadonlyMap<string, number>;
  readonly stateBuffers: ReadonlyMap<string, number>;
  readonly loadBuffers: ReadonlyMap<string, number>;
  readonly kernels: readonly KernelSpec[];
  /**
   * Parameters stored column-major: every matmul weight, so that invocations computing
   * neighbouring rows read neighbouring elements at each step of the dot product.
   */
  readonly columnMajor: ReadonlySet<string>;
}

const LEAVES = new Set(['input', 'param', 'const', 'dim', 'load', 'state', 'dropout_mask']);

/**
 * The operands an op reads at every index of its result: a matmul's or convolution's vector
 * (and its matrix when that is per-example, as attention's keys are), a reduction's input, both
 * vectors of an outer product, which repeats each element along a row or a column, and both
 * maps of a convolution's filter gradient, which correlates them over every pixel.
 */
function wholeOperands(eqns: readonly Eqn[], e: Eqn): readonly number[] {
  if (e.op === 'matmul' || e.op === 'conv2d') return eqns[e.args[0]!]!.type.batched ? e.args : [e.args[1]!];
  if (isReduce(e.op) || e.op === 'outer' || e.op === 'conv2d_filter') return e.args;
  return [];
}

/**
 * Parameters that some matmul or gather uses directly as its weight: a gather reads a column,
 * which column-major storage makes contiguous.
 */
export function matmulWeights(program: CellProgram): Set<string> {
  const names = new Set<string>();
  for (const e of program.eqns) {
    const weight = e.op === 'matmul' || e.op === 'gather' ? program.eqns[e.args[0]!]! : undefined;
    if (weight?.op === 'param') names.add(weight.attrs.name!);
  }
  return names;
}

export function schedule(program: CellProgram, options: ScheduleOptions = {}): Schedule {
  const columnMajor = options.columnMajor ?? matmulWeights(program);
  const eqns = program.eqns;
  const consumers = eqns.map(() => [] as number[]);
  for (const e of eqns) for (const a of e.args) consumers[a]!.push(e.id);

  const stateFree = stateFreeValues(eqns);

  // what the next step's state depends on; everything else that reads state can wait
  const feedsRecurrence = eqns.map(() => false);
  for (const u of program.updates) feedsRecurrence[u.value] = true;
  for (let id = eqns.length - 1; id >= 0; id--) if (feedsRecurrence[id]) for (const a of eqns[id]!.args) feedsRecurrence[a] = true;

  const results = [...program.updates, ...program.readouts, ...(program.packed?.values ?? [])];
  // A reduction over a row is computed where it is read, once per row: the kernel reading it
  // gets a tile that owns whole rows (compiler/wgsl.ts, Tile.wholeRows), so a softmax or a
  // layer norm is one kernel, not one per reduction plus one for the rest; in the step loop
  // (an attention decoder's softmax over its source) one dispatch a step instead of four.
  const materialize = new Set<number>(results.map((r) => r.value));
  // What an accumulation reads across all rows is kept per step: its contractions, and
  // the vectors of its outer products and the maps of its filter gradients.
  const accumulated = new Set((program.accumulations ?? []).map((a) => a.value));
  const visit = (id: number, seen: Set<number>): void => {
    if (seen.has(id) || (materialize.has(id) && !accumulated.has(id))) return;
    seen.add(id);
    const e = eqns[id]!;
    if (!accumulated.has(id) && isContraction(e.op)) {
      materialize.add(id);
      return;
    }
    if (e.op === 'outer' || e.op === 'scatter' || e.op === 'conv2d_filter') {
      for (const a of e.args) if (!LEAVES.has(eqns[a]!.op)) materialize.add(a);
    }
    e.args.forEach((a) => visit(a, seen));
  };
  for (const id of accumulated) visit(id, new Set());

  // Costly values (containing a matmul or reduction not already kept) are kept when a
  // contraction reads them whole, which would otherwise recompute them per element, and when
  // they read no state but feed the recurrence: those are hoisted, computed for all steps at once.
  // A reduction computed where it is read runs once per row, and the per-row scalars in its
  // operand (a softmax's max in its sum of exponentials) are computed before its loop: only a
  // matmul or convolution in its operand is worth keeping.
  const containing = (worth: (e: Eqn) => boolean): boolean[] => {
    const has = eqns.map(() => false);
    for (const e of eqns) has[e.id] = worth(e) || e.args.some((a) => has[a] && !materialize.has(a));
    return has;
  };
  for (let changed = true; changed; ) {
    changed = false;
    const costly = containing((e) => isContraction(e.op));
    const keepIf = (worth: () => readonly boolean[]) => (id: number) => {
      if (!materialize.has(id) && !accumulated.has(id) && worth()[id]) {
        materialize.add(id);
        changed = true;
      }
    };
    const keep = keepIf(() => costly);
    // what is kept so far, not at the pass's start: a matmul kept in this pass makes its readers light
    const keepHeavy = keepIf(() => containing((e) => isContraction(e.op) && !isReduce(e.op)));
    for (const e of eqns) {
      wholeOperands(eqns, e).forEach(isReduce(e.op) && !materialize.has(e.id) ? keepHeavy : keep);
      if (stateFree[e.id] && consumers[e.id]!.some((c) => !stateFree[c])) keep(e.id);
    }
  }

  const inLoop = [...materialize].filter((id) => !stateFree[id] && feedsRecurrence[id]);
  const loop: Phase = options.recurrence !== 'sequential' && isLinearRecurrence(program, inLoop) ? 'scan' : 'step';
  const phaseOf = (id: number): Phase => (stateFree[id] ? 'hoisted' : feedsRecurrence[id] ? loop : 'after');
  let level = levelsOf(eqns, materialize, phaseOf);
  // A contraction fused into a later level than its operands allow, whose operand an earlier
  // level already contracts, is kept there instead: the two products share one loop over their
  // operand (one wider GEMM, as gate-interleaved weights make of an LSTM's four), and the later
  // kernel only reads the result. A GRU's z = sigmoid(Uz @ h + ...) would otherwise wait for
  // the kernel of Un @ (r * h), beside the narrower product, while r's kernel reads h anyway.
  const siblings = contractionsToJoinSiblings(eqns, materialize, consumers, phaseOf, level);
  if (siblings.length) {
    siblings.forEach((id) => materialize.add(id));
    level = levelsOf(eqns, materialize, phaseOf);
  }

  const buffers: BufferSpec[] = [];
  const inputBuffers = new Map<string, number>();
  const stateBuffers = new Map<string, number>();
  const loadBuffers = new Map<string, number>();
  for (const input of program.inputs) {
    inputBuffers.set(input.name, buffers.length);
    // a one-hot input is stored as its id: one element per step and row
    buffers.push({ kind: 'input', name: input.name, elements: input.onehot ? Dim.of(1) : shapeSize(input.shape), lags: 0 });
  }
  for (const state of program.states) {
    stateBuffers.set(state.name, buffers.length);
    buffers.push({ kind: 'state', name: state.name, elements: shapeSize(state.shape), lags: state.maxLag });
  }
  for (const load of program.loads ?? []) {
    loadBuffers.set(load.name, buffers.length);
    buffers.push({ kind: 'load', name: load.name, elements: shapeSize(load.shape), lags: load.lags });
  }
  const stores = new Map<number, { buffer: number; offset: Dim }[]>();
  const store = (id: number, buffer: number, offset: Dim = Dim.of(0)) => stores.set(id, [...(stores.get(id) ?? []), { buffer, offset }]);
  for (const u of program.updates) store(u.value, stateBuffers.get(u.name)!);
  for (const r of program.readouts) {
    store(r.value, buffers.length);
    buffers.push({ kind: 'readout', name: r.name, elements: shapeSize(eqns[r.value]!.type.shape), lags: 0 });
  }
  if (program.packed) {
    for (const v of program.packed.values) store(v.value, buffers.length, v.offset);
    buffers.push({ kind: 'readout', name: program.packed.name, elements: program.packed.size, lags: 0 });
  }
  const temps = [...materialize].sort((a, b) => a - b).filter((id) => !stores.has(id));
  if (options.packTemps && temps.length) {
    let row = Dim.of(0);
    for (const id of temps) {
      store(id, buffers.length, row);
      row = row.add(shapeSize(eqns[id]!.type.shape));
    }
    buffers.push({ kind: 'temp', name: 'temps', elements: row, lags: 0 });
  }
  const materialized = new Map<number, Materialized>();
  for (const id of [...materialize].sort((a, b) => a - b)) {
    if (!stores.has(id)) {
      store(id, buffers.length);
      buffers.push({ kind: 'temp', name: `v${id}`, elements: shapeSize(eqns[id]!.type.shape), lags: 0 });
    }
    const where = stores.get(id)!;
    materialized.set(id, { eqn: id, phase: phaseOf(id), level: level.levels.get(id)!, buffers: where.map((w) => w.buffer), offsets: where.map((w) => w.offset) });
  }

  const kernels: KernelSpec[] = [];
  for (const phase of ['hoisted', 'step', 'scan', 'after'] as const) {
    const values = [...materialized.values()].filter((m) => m.phase === phase);
    const levels = [...new Set(values.map((m) => m.level))].sort((a, b) => a - b);
    for (const l of levels) kernels.push({ phase, level: l, outputs: values.filter((m) => m.level === l).map((m) => m.eqn) });
  }
  for (const accumulation of program.accumulations ?? []) kernels.push({ phase: 'post', level: 0, outputs: [], accumulation });
  return { program, buffers, materialized, inputBuffers, stateBuffers, loadBuffers, kernels, columnMajor };
}

interface Levels {
  /** the level of each materialized value */
  readonly levels: ReadonlyMap<number, number>;
  /** the deepest level each value must follow: a materialized one runs at the next */
  readonly below: readonly number[];
}

/**
 * Levels within each phase. A materialized value that a contraction reads whole (or a
 * reduction itself) must be complete before its reader starts: it is a barrier between kernels.
 * An operand read whole but fused (recomputed where it is read) makes a barrier of the kept
 * values it is computed from: otherwise a training forward, which keeps W1 @ h for the
 * backward, would compute W2 @ relu(W1 @ h + b) in W1 @ h's kernel, redoing W1 @ h at every
 * element of the product.
 */
function levelsOf(eqns: readonly Eqn[], materialize: ReadonlySet<number>, phaseOf: (id: number) => Phase): Levels {
  const barrier = new Set<number>();
  const readWhole = new Set<number>();
  const markWhole = (id: number): void => {
    if (readWhole.has(id)) return;
    readWhole.add(id);
    if (materialize.has(id)) barrier.add(id);
    else eqns[id]!.args.forEach(markWhole);
  };
  for (const e of eqns) {
    wholeOperands(eqns, e).forEach(markWhole);
    if (isReduce(e.op) && materialize.has(e.id)) barrier.add(e.id);
  }
  const levels = new Map<number, number>();
  // deepest barrier level below each value, within its phase, walking through fused values
  const below = eqns.map(() => -1);
  for (const e of eqns) {
    let deepest = -1;
    for (const a of e.args) {
      if (phaseOf(a) !== phaseOf(e.id)) continue;
      const through = barrier.has(a) ? levels.get(a)! : below[a]!;
      deepest = Math.max(deepest, through);
    }
    below[e.id] = deepest;
    if (materialize.has(e.id)) levels.set(e.id, deepest + 1);
  }
  return { levels, below };
}

/**
 * Fused matmuls (by weight, not per example) that only kernels of later levels compute, while
 * the level their operands allow already computes a matmul over the same operand vector and
 * length: each joins that level (see the caller).
 */
function contractionsToJoinSiblings(eqns: readonly Eqn[], materialize: ReadonlySet<number>, consumers: readonly (readonly number[])[], phaseOf: (id: number) => Phase, { levels, below }: Levels): number[] {
  // the levels of the kernels that compute each value: its own, or those of the kept values it fuses into
  const computedAt = eqns.map(() => new Set<number>());
  for (let id = eqns.length - 1; id >= 0; id--) {
    if (materialize.has(id)) computedAt[id]!.add(levels.get(id)!);
    else for (const c of consumers[id]!) if (phaseOf(c) === phaseOf(id) && !LEAVES.has(eqns[id]!.op)) computedAt[c]!.forEach((l) => computedAt[id]!.add(l));
  }
  const operandKey = (e: Eqn): string | undefined => {
    const weight = eqns[e.args[0]!]!;
    return e.op === 'matmul' && !weight.type.batched ? `${phaseOf(e.id)}|${e.args[1]}|${weight.type.shape[1]}` : undefined;
  };
  const contractedAt = new Map<string, Set<number>>();
  for (const e of eqns) {
    const key = operandKey(e);
    if (key === undefined) continue;
    const at = contractedAt.get(key) ?? new Set<number>();
    computedAt[e.id]!.forEach((l) => at.add(l));
    contractedAt.set(key, at);
  }
  const joining: number[] = [];
  for (const e of eqns) {
    const key = operandKey(e);
    if (key === undefined || materialize.has(e.id) || computedAt[e.id]!.size === 0) continue;
    const earliest = below[e.id]! + 1;
    if (Math.min(...computedAt[e.id]!) > earliest && contractedAt.get(key)!.has(earliest)) joining.push(e.id);
  }
  return joining;
}
