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
import { RANDOM_WGSL } from '../runtime/random.js';
import { BINARY, DROPOUT_MASK, ONE_HOT_WGSL, REDUCE, UNARY, isBinary, isReduce, isUnary } from './ops.js';
import type { KernelSpec, Schedule } from './schedule.js';
import { gradientName } from './autodiff.js';
import { Dim, shapeSize } from './shape.js';
import { type FilterRequest, emitConvolutions, emitFilterCorrelations, flipKernelElement } from './wgsl-conv.js';
import { writeScanKernel } from './wgsl-scan.js';

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
export interface Index {
  readonly base: string;
  readonly lane: number;
  readonly offset: Dim;
}

export const ZERO = Dim.of(0);
const shifted = (index: Index, by: Dim): Index => (by.constant === 0 ? index : { ...index, offset: index.offset.add(by) });

/**
 * Storage reads and writes per invocation, weighted by the trip counts of their loops:
 * `total` weighs an element that differs between lanes 4 and one they share 1, `shared` counts
 * the shared ones alone, `vector` the part of `total` that vector loads of parameters make
 * (the runtime weighs them again where it fetches them from a texture instead).
 */
class AccessCount {
  /** counts per loop nest (by its trip count's text), weighed by the trips only when read */
  readonly #byTrips = new Map<string, { trips: Dim; total: number; shared: number; vector: number }>();

  add(trips: Dim, total: number, shared: number, vector = 0): void {
    const key = trips.toString();
    const entry = this.#byTrips.get(key);
    if (entry) {
      entry.total += total;
      entry.shared += shared;
      entry.vector += vector;
    } else this.#byTrips.set(key, { trips, total, shared, vector });
  }
  get total(): Dim {
    return this.#sum('total');
  }
  get shared(): Dim {
    return this.#sum('shared');
  }
  get vector(): Dim {
    return this.#sum('vector');
  }
  #sum(part: 'total' | 'shared' | 'vector'): Dim {
    return [...this.#byTrips.values()].reduce((sum, e) => sum.add(e.trips.scale(e[part])), Dim.of(0));
  }

  /** iterations of the loops opened with Block.child(trips), each weighed by the loops around it */
  iterations = Dim.of(0);
}

/**
 * When lanes own columns, a parameter or gradient element differs in every lane (neighbouring
 * invocations own neighbouring rows of a weight), while a sequence-buffer element of a batch
 * row is the same in every lane of that row, a broadcast that costs about a quarter as much
 * (measured on llvmpipe: a 32-row tile of U^T @ dz beat an 8-row one by 1.5x though it reads
 * 4x more operand elements per lane). When lanes own batch rows it is the other way round.
 * Counted in quarters.
 */
const PARAM_ACCESS = /\b(?:params|grads)\[/g;
const ROW_ACCESS = /\bbuf_\d+\[/g;
const DIVERGENT_WEIGHT = 4;

/**
 * A post kernel's loop over the rows of all steps, one chunk of them per dispatch. Mesa's
 * llvmpipe ends every loop of an invocation, silently, once its loops together have run
 * 65535 iterations (LP_MAX_TGSI_LOOP_ITERATIONS): a weight gradient summed over more rows
 * came out short. The runtime sizes the chunks (`chunk_rows`) from the kernel's `rowLoop`.
 */
const ROW_LOOP = 'for (var rr: u32 = row_begin; rr < row_end; rr = rr + 1u) {';

/** A scope of generated statements; values computed here are reused by later statements. */
export class Block {
  readonly lines: string[] = [];
  readonly #memo = new Map<string, string>();
  constructor(
    readonly indent: string,
    readonly parent?: Block,
    /** how many times the scope runs per invocation */
    readonly trips: Dim = Dim.of(1),
    readonly accesses: AccessCount = parent?.accesses ?? new AccessCount(),
    /** lanes own batch rows: buffer elements differ between them and parameters are shared */
    readonly rowLanes: boolean = parent?.rowLanes ?? false,
  ) {}

  lookup(key: string): string | undefined {
    return this.#memo.get(key) ?? this.parent?.lookup(key);
  }
  remember(key: string, name: string): void {
    this.#memo.set(key, name);
  }
  /** A line of code, counting its storage accesses; `paramReads` overrides the count of its parameter reads (a vector load's weight). */
  line(text: string, paramReads?: number): void {
    this.lines.push(this.indent + text);
    if (!text.includes('[')) return;
    const params = paramReads ?? (text.includes('params[') || text.includes('grads[') ? (text.match(PARAM_ACCESS)?.length ?? 0) : 0);
    const rows = text.includes('buf_') ? (text.match(ROW_ACCESS)?.length ?? 0) : 0;
    const [divergent, shared] = this.rowLanes ? [rows, params] : [params, rows];
    if (divergent + shared === 0) return;
    const vector = paramReads === undefined ? 0 : this.rowLanes ? paramReads : DIVERGENT_WEIGHT * paramReads;
    this.accesses.add(this.trips, DIVERGENT_WEIGHT * divergent + shared, shared, vector);
  }
  /** A nested scope: a branch, or the body of a loop of `trips` iterations. */
  child(trips?: Dim): Block {
    const total = trips ? this.trips.mul(trips) : this.trips;
    if (trips) this.accesses.iterations = this.accesses.iterations.add(total);
    return new Block(this.indent + '  ', this, total, this.accesses, this.rowLanes);
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
  /**
   * 'rows': the lanes of a workgroup own consecutive row tiles and share one column tile (a
   * workgroup y index), for kernels over all steps' rows whose outputs are too narrow to fill
   * the lanes with column tiles. Otherwise lanes own column tiles.
   */
  readonly lanes?: 'rows';
  /** a persistent kernel's tile (compiler/wgsl-persistent.ts): it runs every step itself */
  readonly persistent?: boolean;
  /**
   * With lanes 'rows': each invocation loops over its rows' whole width, so the reductions
   * over a row that its outputs read (compiler/schedule.ts computes them where they are read)
   * run once per row, before the loop, instead of once per column tile.
   */
  readonly wholeRows?: boolean;
  /**
   * Parameters bound as vec4s: the tile's consecutive columns along a column-major matrix's
   * rows read it four elements per load (VECTOR_LANES), where nothing else amortizes a load
   * (one batch row: llvmpipe measured 20.9 -> 11.6 ms for a 128-unit LSTM's persistent kernel).
   * Valid only where those four start at a multiple of 4: GeneratedKernel.aligned.
   */
  readonly vectorParams?: boolean;
  /**
   * A post kernel's: the buffers it reads along its lanes' rows (an outer product's row
   * vector, `dz` of `sum(outer(dz, h))`) are bound as vec4s, each lane loading four of its
   * rows at once instead of four loads that differ between lanes. A scan's (one time lane):
   * each invocation owns four consecutive elements and reads the buffers its coefficients
   * read as vec4s. Valid only where those four start at a multiple of 4: GeneratedKernel.aligned.
   */
  readonly vectorRows?: boolean;
}

/** The index a matmul's operand is read at, in pass 1, to find the buffers it reads along k. */
const OPERAND_PROBE = 'k_probe';

/** Elements of one vector load of parameters. */
const VECTOR_LANES = 4;
/**
 * What a vector load of parameters costs against a scalar one, for the runtime's estimate:
 * on llvmpipe a 128-unit LSTM's persistent step spent 18.5 ms on 4N scalar weight loads and
 * 9.3 ms on N vec4 loads.
 */
const VECTOR_LOAD_COST = 2;

export interface GeneratedKernel {
  readonly wgsl: string;
  readonly usesParams: boolean;
  readonly buffers: readonly { readonly buffer: number; readonly write: boolean }[];
  /** the widths of its outputs: the dispatch covers the largest */
  readonly widths: readonly Dim[];
  readonly tile: Tile;
  /** accumulators an invocation keeps live across its matmul loops */
  readonly accumulators: number;
  /** reductions over a row computed in the kernel (not read from a buffer): a tile with wholeRows computes them once per row */
  readonly rowReductions?: number;
  /** storage accesses per invocation, loops by their trip counts, an element that differs between lanes counting 4 and a shared one 1: the runtime's cost estimate */
  readonly accesses: Dim;
  /** the shared accesses alone: they differ between lanes too when a workgroup spans several row tiles */
  readonly sharedAccesses: Dim;
  /** post kernels over a matrix: its rows, covered by the dispatch's y */
  readonly height?: Dim;
  /** post kernels write the packed gradient buffer */
  readonly usesGrads?: boolean;
  /** post kernels: loop iterations per row of ROW_LOOP, and outside it */
  readonly rowLoop?: { readonly perRow: Dim; readonly fixed: Dim };
  /** a tile with vectorParams or vectorRows: sizes that must be multiples of 4 for its vector loads (the runtime skips it otherwise) */
  readonly aligned?: readonly Dim[];
  /** a tile with vectorParams: its vector loads, as written (none: the tile gains nothing); with vectorRows: the buffers read as vectors */
  readonly vectorLoads?: number;
  /** a tile with vectorParams: the part of `accesses` its vector loads make */
  readonly vectorAccesses?: Dim;
  /**
   * a tile with vectorParams: the parameter reads its scalar tile has beyond it, per
   * invocation: each component read a load of its own, less each vector load's weight
   */
  readonly scalarExtra?: Dim;
  /**
   * a tile with vectorParams whose loops over k step by four, reading weights stored along k
   * (a column-major weight transposed) as vectors: its scalar tile is generated, not derived
   */
  readonly unrolled?: boolean;
}

/**
 * A contraction wanted at one element for one batch row, found by the gathering pass: a
 * matmul at a row of its weight, a convolution at an element of its output map.
 */
interface MatmulRequest {
  readonly eqn: Eqn;
  readonly row: Index;
  readonly batchRow: number;
}

/** k when `wide` is k times `narrow` for a whole k >= 1, whatever the sizes. */
function multipleOf(wide: Dim, narrow: Dim): number | undefined {
  const k = wide.ratio(narrow);
  return k !== undefined && Number.isInteger(k) && k >= 1 ? k : undefined;
}

/**
 * The width a tile's lanes cover when every output's width is a whole multiple of the
 * narrowest: an invocation then writes a wide output (an LSTM's 4*H pre-activations kept for
 * its backward pass, next to its H-wide states) at j0 + lane + m * width for each multiple m,
 * from matmul rows it computes anyway, instead of the dispatch covering the widest output
 * and redoing the narrow ones' work in every extra invocation.
 */
function laneWidth(outputs: readonly Eqn[]): Dim | undefined {
  const widths = outputs.filter((o) => o.type.shape.length > 0).map((o) => shapeSize(o.type.shape));
  const narrowest = widths.find((w) => widths.every((other) => multipleOf(other, w) !== undefined));
  return narrowest;
}

export class KernelWriter {
  readonly #eqns: readonly Eqn[];
  readonly #sizeIndex: ReadonlyMap<string, number>;
  readonly #dimTexts = new Map<string, string>();
  readonly #indexTexts = new Map<string, string>();
  readonly #paramIndex: ReadonlyMap<string, number>;
  readonly #onehot: ReadonlySet<string>;
  readonly #bufferUse = new Map<number, boolean>();
  #usesParams = false;
  /** the kernel draws dropout masks: it needs the RNG's functions */
  #usesRandom = false;
  #counter = 0;
  /** gathering pass: matmuls are recorded, not computed */
  #requests: Map<string, MatmulRequest> | undefined;
  /** gathering pass of a post kernel: its filter-gradient elements, computed together per row */
  #filterRequests: Map<string, FilterRequest> | undefined;
  /** emitting pass: accumulators holding the gathered matmuls */
  readonly #accumulators = new Map<string, string>();
  /** the element indices the lanes of all tiles cover; wider outputs are written at multiples of it */
  #laneWidth: Dim | undefined;
  /** vector loads of parameters: their count, how often they run, and the sizes their alignment needs */
  #vectorLoads = 0;
  #scalarExtra = Dim.of(0);
  readonly #aligned = new Map<string, Dim>();
  /** loop variables over k that step by VECTOR_LANES: a weight stored along k is one vector load per step */
  readonly #unrolledK = new Set<string>();
  /** Tile.vectorRows: the buffers read along the lanes' rows (found by the gathering pass), then those bound as vec4s */
  readonly #laneRowReads = new Set<number>();
  readonly #vectorBuffers = new Set<number>();
  /** the buffers a matmul operand read at OPERAND_PROBE touches (pass 1 of body), while probing */
  #probed: Set<number> | undefined;
  /** matmul operands read from vec4 buffers along k: their loops step by four */
  readonly #vectorOperands = new Set<number>();
  /** reductions over a row emitted as loops here, in the emitting pass */
  #rowReductions = 0;

  get usesParams(): boolean {
    return this.#usesParams;
  }

  /** What the vector loads written need (Tile.vectorParams). */
  get vectorUse(): { vectorLoads: number; scalarExtra: Dim; aligned: Dim[]; unrolled: boolean } {
    return { vectorLoads: this.#vectorLoads, scalarExtra: this.#scalarExtra, aligned: [...this.#aligned.values()], unrolled: this.#unrolledK.size > 0 || this.#vectorBuffers.size > 0 };
  }

  constructor(readonly schedule: Schedule, readonly kernel: KernelSpec, readonly tile: Tile) {
    const { program } = schedule;
    this.#eqns = program.eqns;
    this.#sizeIndex = new Map(program.sizes.map((s, i) => [s.name, i]));
    this.#paramIndex = new Map(program.params.map((p, i) => [p.name, i]));
    this.#onehot = new Set(program.inputs.filter((i) => i.onehot).map((i) => i.name));
  }

  dim(d: Dim): string {
    const key = d.toString();
    let text = this.#dimTexts.get(key);
    if (text === undefined) {
      const rendered = d.render((name) => `size_${this.#sizeIndex.get(name)}`, (n) => `${n}u`);
      text = /^[\w.]+$/.test(rendered) ? rendered : `(${rendered})`;
      this.#dimTexts.set(key, text);
    }
    return text;
  }

  /** u32 text of an index; negative offset terms become subtractions. */
  index(i: Index): string {
    // keys of the value cache are made of index texts, asked for at every element: constant
    // offsets are written directly, others memoized
    const constant = i.offset.constant;
    if (constant !== undefined) {
      const plus = Math.max(constant, 0) + i.lane;
      return `${i.base}${plus !== 0 ? ` + ${plus}u` : ''}${constant < 0 ? ` - ${-constant}u` : ''}`;
    }
    const key = `${i.base}|${i.lane}|${i.offset.toString()}`;
    let text = this.#indexTexts.get(key);
    if (text !== undefined) return text;
    const { positive, negative } = i.offset.signParts();
    const plus = positive.add(Dim.of(i.lane));
    text = i.base;
    if (plus.constant !== 0) text += ` + ${this.dim(plus)}`;
    if (negative.constant !== 0) text += ` - ${this.dim(negative)}`;
    this.#indexTexts.set(key, text);
    return text;
  }

  /**
   * Whether an index lies in [start, end) for every invocation that stores its result: known
   * when the index is a tile element j0 + lane + offset and the tiles cover a lane width W, so
   * that the element lies in [offset, offset + W); undefined when only run time can tell.
   * A pad or concatenation whose parts line up with the lanes (an LSTM's four gate blocks of
   * H, and their gradients) then costs no branch, and values shared between the parts are
   * computed once.
   */
  within(index: Index, start: Dim, end: Dim): boolean | undefined {
    if (index.base !== 'j0' || !this.#laneWidth) return undefined;
    const lo = index.offset;
    const hi = index.offset.add(this.#laneWidth);
    if (start.provablyAtMost(lo) && hi.provablyAtMost(end)) return true;
    if (hi.provablyAtMost(start) || end.provablyAtMost(lo)) return false;
    return undefined;
  }

  fresh(prefix: string): string {
    return `${prefix}${this.#counter++}`;
  }

  useBuffer(buffer: number, write: boolean): string {
    this.#bufferUse.set(buffer, (this.#bufferUse.get(buffer) ?? false) || write);
    return `buf_${buffer}`;
  }

  /** The flat index in a sequence buffer of (t - lag, batch row, index) (see element). */
  #flatIndex(buffer: number, index: Index, batchRow: number, lag: number): string {
    const spec = this.schedule.buffers[buffer]!;
    const reverseState = spec.kind === 'state' && this.schedule.program.direction === 'reverse';
    const slot = reverseState ? lag : spec.lags - lag;
    // hoisted and after kernels index rows of all steps; step and post kernels a step t and its rows
    const allRows = this.kernel.phase === 'hoisted' || this.kernel.phase === 'after';
    const step = allRows ? `${slot}u` : slot === 0 ? 't' : slot > 0 ? `(t + ${slot}u)` : `(t - ${-slot}u)`;
    const first = step === '0u' ? `r${batchRow}` : `${step} * B + r${batchRow}`;
    return `(${first}) * ${this.dim(spec.elements)} + ${this.index(index)}`;
  }

  /** Vector loads and stores need these sizes to be multiples of 4: the variant lists those that may not be (GeneratedKernel.aligned). */
  #requireAligned(...dims: readonly Dim[]): void {
    for (const d of dims) if (![...d.terms.values()].every((c) => c % VECTOR_LANES === 0)) this.#aligned.set(d.toString(), d);
  }

  /**
   * Element (t - lag, batch row, index) of a sequence buffer: forward states and loads keep
   * `lags` slots before t = 0; a reverse program's own states read t + lag and keep their
   * extra slots after the last step. In a buffer bound as vec4s, a read along the lanes' rows
   * or an unrolled k is one vector load per four, kept in `block`.
   */
  element(buffer: number, index: Index, batchRow: number, lag = 0, write = false, block?: Block): string {
    const spec = this.schedule.buffers[buffer]!;
    const name = this.useBuffer(buffer, write);
    if (this.#probed && index.base === OPERAND_PROBE) this.#probed.add(buffer);
    // four consecutive indices from a multiple of 4: a post kernel's lanes own rows i0 + 0..cols-1 and its
    // workgroup columns j0 + 0..rows-1; another kernel's lanes own columns j0 + 0..cols-1, and a loop over
    // k that steps by four reads k + 0..3
    const alongRows = this.kernel.accumulation
      ? (index.base === 'i0' && this.tile.cols % VECTOR_LANES === 0) || (index.base === 'j0' && this.tile.rows % VECTOR_LANES === 0)
      : (index.base === 'j0' && this.tile.cols % VECTOR_LANES === 0) || this.#unrolledK.has(index.base);
    if (this.tile.vectorRows && !write && alongRows) this.#laneRowReads.add(buffer);
    if (!this.#vectorBuffers.has(buffer)) return `${name}[${this.#flatIndex(buffer, index, batchRow, lag)}]`;
    if (write) throw new Error(`internal: buffer ${buffer} is bound as vec4s and written by ${this.kernel.phase} kernel ${this.kernel.level}`);
    if (!alongRows || !block) {
      const flat = this.#flatIndex(buffer, index, batchRow, lag);
      return `${name}[(${flat}) >> 2u][(${flat}) & 3u]`;
    }
    // four consecutive rows of the lane's tile, one load: the row width and the offset keep them in one vec4
    const lane = index.lane % VECTOR_LANES;
    const start = this.#flatIndex(buffer, { ...index, lane: index.lane - lane }, batchRow, lag);
    const key = `bvec4:${buffer}:${start}`;
    let loaded = block.lookup(key);
    if (loaded === undefined) {
      this.#requireAligned(spec.elements, index.offset);
      loaded = this.fresh('b');
      block.line(`let ${loaded} = ${name}[(${start}) >> 2u];`);
      block.remember(key, loaded);
      this.#vectorLoads++;
    }
    return `${loaded}[${lane}]`;
  }

  key(e: Eqn, index: Index, batchRow: number): string {
    return `${e.id}@${this.index(index)}#${e.type.batched ? batchRow : '*'}`;
  }

  /** The id (a u32) that one-hot input leaf `input` holds at batch row `batchRow`. */
  id(input: number, batchRow: number, block: Block): string {
    const e = this.#eqns[input]!;
    const key = `${input}@id#${batchRow}`;
    const known = block.lookup(key);
    if (known) return known;
    const stored = this.element(this.schedule.inputBuffers.get(e.attrs.name!)!, { base: '0u', lane: 0, offset: ZERO }, batchRow);
    return this.bind(block, key, ONE_HOT_WGSL.id(stored), 'id');
  }

  /**
   * Computes in `block` the per-row scalars that value `id` reads and that contain a reduction
   * computed here (a softmax's max and sum), so that a loop reading them after this (a
   * reduction's, a whole-row tile's) finds them instead of running their loops in its body.
   */
  rowScalars(id: number, batchRow: number, block: Block): void {
    const reduces = new Map<number, boolean>();
    const visit = (v: number): boolean => {
      const known = reduces.get(v);
      if (known !== undefined) return known;
      const e = this.#eqns[v]!;
      const kept = this.schedule.materialized.get(v);
      const read = kept !== undefined && (kept.phase !== this.kernel.phase || kept.level < this.kernel.level);
      let has = false;
      if (!read) for (const a of e.args) has = visit(a) || has;
      has ||= !read && isReduce(e.op);
      reduces.set(v, has);
      if (has && e.type.shape.length === 0) this.value(v, { base: '0u', lane: 0, offset: ZERO }, batchRow, block);
      return has;
    };
    visit(id);
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
      const at = e.type.shape.length === 0 ? { base: '0u', lane: 0, offset: ZERO } : index;
      text = this.element(kept.buffers[0]!, shifted(at, kept.offsets[0]!), batchRow, 0, false, block);
    } else {
      text = this.compute(e, index, batchRow, block);
    }
    return this.bind(block, key, text, 'v');
  }

  /** Names an expression once per scope: a plain name or literal is reused as it is. */
  bind(block: Block, key: string, text: string, prefix: string): string {
    if (/^[\w.()-]+$/.test(text)) {
      block.remember(key, text);
      return text;
    }
    const name = this.fresh(prefix);
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
      this.rowScalars(operand.id, batchRow, block);
      this.#rowReductions++;
      const acc = this.fresh('acc');
      const k = this.fresh('k');
      block.line(`var ${acc}: f32 = ${def.wgslIdentity};`);
      block.line(`for (var ${k}: u32 = 0u; ${k} < ${this.dim(operand.type.shape[0]!)}; ${k} = ${k} + 1u) {`);
      const body = block.child(operand.type.shape[0]!);
      body.line(`${acc} = ${def.wgsl(acc, this.value(operand.id, { base: k, lane: 0, offset: ZERO }, batchRow, body))};`);
      block.append(body);
      block.line('}');
      return acc;
    }
    switch (e.op) {
      case 'const':
        return f32Literal(e.attrs.value!);
      case 'dim':
        return `f32(${this.dim(e.attrs.size!)})`;
      case 'param': {
        this.#usesParams = true;
        const flat = this.index(index);
        if (e.type.shape.length < 2) return this.paramAt(`param_${this.#paramIndex.get(e.attrs.name!)} + ${flat}`);
        const cols = this.dim(e.type.shape[1]!);
        return this.paramElement(e.attrs.name!, e.type.shape, `(${flat}) / ${cols}`, `(${flat}) % ${cols}`);
      }
      case 'input':
        if (this.#onehot.has(e.attrs.name!)) return ONE_HOT_WGSL.element(this.id(e.id, batchRow, block), this.index(index));
        return this.element(this.schedule.inputBuffers.get(e.attrs.name!)!, index, batchRow, 0, false, block);
      case 'gather':
        // column id of the weight: one load
        return this.value2d(e.args[0]!, index, { base: this.id(e.args[1]!, batchRow, block), lane: 0, offset: ZERO }, batchRow, block);
      case 'load':
        return this.element(this.schedule.loadBuffers.get(e.attrs.name!)!, index, batchRow, e.attrs.lag ?? 0, false, block);
      case 'broadcast':
        return this.value(e.args[0]!, { base: '0u', lane: 0, offset: ZERO }, batchRow, block);
      case 'pad': {
        if (e.type.shape.length === 2) return this.matrixAtFlat(e, index, batchRow, block);
        const start = e.attrs.start!;
        const endDim = start.add(shapeSize(this.#eqns[e.args[0]!]!.type.shape));
        const known = this.within(index, start, endDim);
        if (known === true) return this.value(e.args[0]!, shifted(index, start.scale(-1)), batchRow, block);
        if (known === false) return '0.0';
        const result = this.fresh('pad');
        const at = this.index(index);
        const end = this.dim(endDim);
        block.line(`var ${result}: f32 = 0.0;`);
        block.line(`if (${at} >= ${this.dim(start)} && ${at} < ${end}) {`);
        const inside = block.child();
        inside.line(`${result} = ${this.value(e.args[0]!, shifted(index, start.scale(-1)), batchRow, inside)};`);
        block.append(inside);
        block.line('}');
        return result;
      }
      case 'outer':
      case 'scatter':
      case 'transpose':
      case 'flip_kernel':
      case 'conv2d_filter':
        return this.matrixAtFlat(e, index, batchRow, block);
      case 'reshape':
        // a vector read at the same flat index of its operand, row-major as every matrix is
        if (e.type.shape.length === 2) return this.matrixAtFlat(e, index, batchRow, block);
        return this.value(e.args[0]!, index, batchRow, block);
      case 'conv2d':
        return this.convolution(e, index, batchRow, block);
      case 'state':
        return this.element(this.schedule.stateBuffers.get(e.attrs.name!)!, index, batchRow, e.attrs.lag!, false, block);
      case 'slice':
        if (e.type.shape.length === 2) return this.matrixAtFlat(e, index, batchRow, block);
        return this.value(e.args[0]!, shifted(index, e.attrs.start!), batchRow, block);
      case 'concat': {
        let first = Dim.of(0);
        for (const arg of e.args) {
          const end = first.add(shapeSize(this.#eqns[arg]!.type.shape));
          if (this.within(index, first, end) === true) return this.value(arg, shifted(index, first.scale(-1)), batchRow, block);
          first = end;
        }
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
      case 'dropout_mask': {
        this.#usesRandom = true;
        // hoisted and after kernels index rows of all steps (row = t * B + b); step and post kernels have t and the row
        const row = `r${batchRow}`;
        const allRows = this.kernel.phase === 'hoisted' || this.kernel.phase === 'after';
        const at = { seed: 'launch.seed', t: allRows ? `(${row} / B)` : 't', b: allRows ? `(${row} % B)` : row, j: this.index(index) };
        return DROPOUT_MASK.wgsl(e.attrs, at, f32Literal);
      }
      default:
        throw new Error(`no WGSL for ${e.op}`);
    }
  }

  /** A matrix read at a flat (row-major) index: split into row and column. */
  matrixAtFlat(e: Eqn, index: Index, batchRow: number, block: Block): string {
    const cols = this.dim(e.type.shape[1]!);
    const at = this.index(index);
    const row: Index = { base: `(${at}) / ${cols}`, lane: 0, offset: ZERO };
    const col: Index = { base: `(${at}) % ${cols}`, lane: 0, offset: ZERO };
    return this.value2d(e.id, row, col, batchRow, block);
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
    const body = block.child(this.#eqns[w]!.type.shape[1]!);
    const weight = this.weight(w, row, k, batchRow, body);
    body.line(`${acc} = fma(${weight}, ${this.value(x, { base: k, lane: 0, offset: ZERO }, batchRow, body)}, ${acc});`);
    block.append(body);
    block.line('}');
    return acc;
  }

  /** A conv2d element: gathered with the tile's other convolutions, or on its own inside a loop. */
  convolution(e: Eqn, index: Index, batchRow: number, block: Block): string {
    const key = this.key(e, index, batchRow);
    const gathered = this.#accumulators.get(key);
    if (gathered) return gathered;
    if (this.#requests && index.base === 'j0') {
      this.#requests.set(key, { eqn: e, row: index, batchRow });
      return '0.0';
    }
    return emitConvolutions(this, [{ eqn: e, index, batchRow, key }], block).get(key)!;
  }

  /** A conv2d_filter element: gathered with the post kernel's others, or on its own. */
  filterGradient(e: Eqn, key: string, row: Index, col: Index, batchRow: number, block: Block): string {
    const gathered = this.#accumulators.get(key);
    if (gathered) return gathered;
    if (this.#filterRequests) {
      this.#filterRequests.set(key, { eqn: e, row, col, batchRow, key });
      return '0.0';
    }
    return emitFilterCorrelations(this, [{ eqn: e, row, col, batchRow, key }], block).get(key)!;
  }

  /** The gathered contractions of a tile, computed together: matmuls by operand, convolutions by map. */
  emitGathered(requests: readonly MatmulRequest[], block: Block): number {
    this.emitMatmuls(requests.filter((r) => r.eqn.op === 'matmul'), block);
    const convolutions = requests.filter((r) => r.eqn.op === 'conv2d').map((r) => ({ eqn: r.eqn, index: r.row, batchRow: r.batchRow, key: this.key(r.eqn, r.row, r.batchRow) }));
    for (const [key, name] of emitConvolutions(this, convolutions, block)) this.#accumulators.set(key, name);
    return requests.length;
  }

  /** Element (row, col) of a matmul's weight (of batch row `batchRow` when it is per-example); column-major params index it directly. */
  weight(w: number, row: Index, col: string, batchRow: number, block: Block): string {
    return this.value2d(w, row, { base: col, lane: 0, offset: ZERO }, batchRow, block);
  }

  /** The parameter element at a flat index of the packed buffer. */
  paramAt(flat: string): string {
    this.#usesParams = true;
    return this.tile.vectorParams ? `params[(${flat}) >> 2u][(${flat}) & 3u]` : `params[${flat}]`;
  }

  /**
   * Element (row, col) of a parameter, in the layout the schedule chose for it. With the
   * row's Index and the block to load in, a column-major element of the tile's columns is a
   * component of a vector load that the tile's next three columns share.
   */
  paramElement(name: string, shape: readonly Dim[], row: string, col: string, vector?: { row: Index; block: Block }): string {
    this.#usesParams = true;
    const base = `param_${this.#paramIndex.get(name)}`;
    if (!this.schedule.columnMajor.has(name)) return this.paramAt(`${base} + (${row}) * ${this.dim(shape[1]!)} + ${col}`);
    const height = shape[0]!;
    const alongLanes = vector?.row.base === 'j0' && this.tile.cols % VECTOR_LANES === 0;
    if (vector && this.tile.vectorParams && (alongLanes || this.#unrolledK.has(vector.row.base))) {
      const { row: index, block } = vector;
      const lane = index.lane % VECTOR_LANES;
      // param offsets are multiples of 4 (runtime/model.ts) and so is j0 (a multiple of cols)
      const start = `${base} + (${col}) * ${this.dim(height)} + ${this.index({ ...index, lane: index.lane - lane })}`;
      const key = `vec4:${start}`;
      let loaded = block.lookup(key);
      if (loaded === undefined) {
        this.#requireAligned(height, index.offset);
        loaded = this.fresh('w');
        block.line(`let ${loaded} = params[(${start}) >> 2u];`, VECTOR_LOAD_COST);
        block.remember(key, loaded);
        this.#vectorLoads++;
        this.#scalarExtra = this.#scalarExtra.add(block.trips.scale(-VECTOR_LOAD_COST));
      }
      this.#scalarExtra = this.#scalarExtra.add(block.trips);
      return `${loaded}[${lane}]`;
    }
    return this.paramAt(`${base} + (${col}) * ${this.dim(height)} + ${row}`);
  }

  /** A matrix value at (row, col): parameters, transposes, outer products, reshapes, kernels and elementwise ops of them. */
  value2d(id: number, row: Index, col: Index, batchRow: number, block: Block): string {
    const e = this.#eqns[id]!;
    const key = `${id}@${this.index(row)}|${this.index(col)}#${e.type.batched ? batchRow : '*'}`;
    const known = block.lookup(key);
    if (known) return known;
    let text: string;
    const kept = this.schedule.materialized.get(id);
    // a per-example matrix in a buffer (a kept value, an input, a load) is stored row-major
    const stored = kept && (kept.phase !== this.kernel.phase || kept.level < this.kernel.level)
      ? { buffer: kept.buffers[0]!, offset: kept.offsets[0]!, lag: 0 }
      : e.op === 'input' ? { buffer: this.schedule.inputBuffers.get(e.attrs.name!)!, offset: ZERO, lag: 0 }
      : e.op === 'load' ? { buffer: this.schedule.loadBuffers.get(e.attrs.name!)!, offset: ZERO, lag: e.attrs.lag ?? 0 }
      : undefined;
    if (stored) {
      const flat: Index = { base: `(${this.index(row)}) * ${this.dim(e.type.shape[1]!)} + ${this.index(col)}`, lane: 0, offset: stored.offset };
      text = this.element(stored.buffer, flat, batchRow, stored.lag, false, block);
    } else if (e.op === 'param') text = this.paramElement(e.attrs.name!, e.type.shape, this.index(row), this.index(col), { row, block });
    else if (e.op === 'transpose') text = this.value2d(e.args[0]!, col, row, batchRow, block);
    // a scatter read densely (summed with other terms) is the outer product with the one-hot vector
    else if (e.op === 'outer' || e.op === 'scatter') text = `(${this.value(e.args[0]!, row, batchRow, block)} * ${this.value(e.args[1]!, col, batchRow, block)})`;
    else if (e.op === 'const') text = f32Literal(e.attrs.value!);
    else if (e.op === 'reshape') text = this.value(e.args[0]!, { base: `(${this.index(row)}) * ${this.dim(e.type.shape[1]!)} + ${this.index(col)}`, lane: 0, offset: ZERO }, batchRow, block);
    else if (e.op === 'flip_kernel') text = flipKernelElement(this, e, row, col, batchRow, block);
    else if (e.op === 'conv2d_filter') text = this.filterGradient(e, key, row, col, batchRow, block);
    else if (e.op === 'slice') text = this.value2d(e.args[0]!, row, shifted(col, e.attrs.start!), batchRow, block);
    else if (e.op === 'pad') {
      const start = e.attrs.start!;
      const width = this.#eqns[e.args[0]!]!.type.shape[1]!;
      const at = this.index(col);
      text = this.fresh('pad');
      block.line(`var ${text}: f32 = 0.0;`);
      block.line(`if (${at} >= ${this.dim(start)} && ${at} < ${this.dim(start.add(width))}) {`);
      const inside = block.child();
      inside.line(`${text} = ${this.value2d(e.args[0]!, row, shifted(col, start.scale(-1)), batchRow, inside)};`);
      block.append(inside);
      block.line('}');
    } else if (isUnary(e.op)) text = UNARY[e.op].wgsl(this.value2d(e.args[0]!, row, col, batchRow, block));
    else if (isBinary(e.op)) {
      const [a, b] = e.args.map((arg) =>
        this.#eqns[arg]!.type.shape.length === 0 ? this.value(arg, { base: '0u', lane: 0, offset: ZERO }, batchRow, block) : this.value2d(arg, row, col, batchRow, block),
      ) as [string, string];
      text = BINARY[e.op].wgsl(a, b);
    } else throw new Error(`internal: no matrix form for ${e.op}`);
    return this.bind(block, key, text, 'm');
  }

  /** Whether a matmul's weight is a parameter stored contiguously along k: a column-major one, transposed. */
  #storedAlongK(w: number): boolean {
    const e = this.#eqns[w]!;
    if (e.op !== 'transpose') return false;
    const p = this.#eqns[e.args[0]!]!;
    return p.op === 'param' && this.schedule.columnMajor.has(p.attrs.name!);
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
      const lengthDim = this.#eqns[group[0]!.eqn.args[0]!]!.type.shape[1]!;
      const length = this.dim(lengthDim);
      const names = group.map((r) => {
        const name = this.fresh('acc');
        block.line(`var ${name}: f32 = 0.0;`);
        this.#accumulators.set(this.key(r.eqn, r.row, r.batchRow), name);
        return name;
      });
      const k = this.fresh('k');
      // a weight stored along k reads four steps of the loop as one vector: the loop steps by four
      // (the tile is taken only where the length is a multiple of four). Not in a persistent tile:
      // SwiftShader did not finish compiling a char LM's backward one so unrolled in 4 minutes.
      const unroll = this.tile.vectorParams === true && !this.tile.persistent && (this.#vectorOperands.has(x) || group.some((r) => this.#storedAlongK(r.eqn.args[0]!)));
      const step = unroll ? VECTOR_LANES : 1;
      if (unroll) {
        this.#unrolledK.add(k);
        this.#requireAligned(lengthDim);
      }
      block.line(`for (var ${k}: u32 = 0u; ${k} < ${length}; ${k} = ${k} + ${step}u) {`);
      const body = block.child(lengthDim.scale(1 / step));
      for (let lane = 0; lane < step; lane++) {
        const at: Index = { base: k, lane, offset: ZERO };
        group.forEach((r, i) => {
          const weight = this.value2d(r.eqn.args[0]!, r.row, at, r.batchRow, body);
          const operand = this.value(x, at, r.batchRow, body);
          body.line(`${names[i]} = fma(${weight}, ${operand}, ${names[i]});`);
        });
      }
      block.append(body);
      block.line('}');
    }
    return requests.length;
  }

  /** Stores of every output at every (lane, batch row) of the tile. */
  epilogue(block: Block, outputs: readonly Eqn[]): void {
    for (const o of outputs) {
      const scalar = o.type.shape.length === 0;
      const width = shapeSize(o.type.shape);
      const covered = this.#laneWidth ?? width;
      const multiples = scalar ? 1 : (multipleOf(width, covered) ?? 1);
      /** values of a vec4 buffer's four lanes, stored together once the fourth is known */
      const quads = new Map<string, string[]>();
      for (let lane = 0; lane < (scalar ? 1 : this.tile.cols); lane++) {
        for (let m = 0; m < multiples; m++) {
          const index: Index = scalar ? { base: '0u', lane: 0, offset: ZERO } : { base: 'j0', lane, offset: covered.scale(m) };
          const first: Index = { base: 'j0', lane, offset: ZERO };
          for (let r = 0; r < this.tile.rows; r++) {
            const v = this.value(o.id, index, r, block);
            const guard = scalar ? `j0 == 0u && r${r} < rows` : `${this.index(first)} < ${this.dim(covered)} && r${r} < rows`;
            const kept = this.schedule.materialized.get(o.id)!;
            kept.buffers.forEach((buffer, i) => {
              if (!this.#vectorBuffers.has(buffer)) {
                block.line(`if (${guard}) { ${this.element(buffer, shifted(index, kept.offsets[i]!), r, 0, true)} = ${v}; }`);
                return;
              }
              // a whole vec4 per store: its four lanes are this invocation's, so no other one's element is touched
              const quadLane = lane % VECTOR_LANES;
              const key = `${buffer}|${i}|${m}|${r}|${lane - quadLane}`;
              const values = quads.get(key) ?? [];
              values[quadLane] = v;
              quads.set(key, values);
              if (quadLane < VECTOR_LANES - 1) return;
              const start: Index = shifted({ ...index, lane: lane - quadLane }, kept.offsets[i]!);
              const firstOfQuad: Index = { base: 'j0', lane: lane - quadLane, offset: ZERO };
              this.#requireAligned(covered, this.schedule.buffers[buffer]!.elements, start.offset);
              const slot = `${this.useBuffer(buffer, true)}[(${this.#flatIndex(buffer, start, r, 0)}) >> 2u]`;
              block.line(`if (${this.index(firstOfQuad)} < ${this.dim(covered)} && r${r} < rows) { ${slot} = vec4<f32>(${values.join(', ')}); }`);
            });
          }
        }
      }
    }
  }

  header(usesGrads: boolean, tile: Tile = this.tile): string[] {
    const { program } = this.schedule;
    const header: string[] = [
      `// seqc: cell ${program.name}, ${this.kernel.phase} kernel, level ${this.kernel.level}, tile ${tile.rows}x${tile.cols}${tile.lanes === 'rows' ? ', lanes own row tiles' : ''}${tile.wholeRows ? ' of whole rows' : ''}${tile.persistent ? ', persistent' : ''}${tile.vectorParams ? ', params as vec4' : ''}${tile.vectorRows ? ', rows as vec4' : ''}`,
      ...program.sizes.map((s, i) => `override size_${i}: u32; // ${s.name}`),
      ...program.params.map((p, i) => `override param_${i}: u32; // offset of ${p.name}`),
      'override loss_slot: u32 = 0u;',
      // post kernels: rows of all steps per dispatch (ROW_LOOP), set by the runtime
      ...(usesGrads ? ['override chunk_rows: u32 = 4294967295u;'] : []),
      // the persistent kernel: steps per dispatch
      ...(tile.persistent ? ['override chunk_steps: u32 = 4294967295u;'] : []),
      'override workgroup_size: u32 = 64u;',
      // workgroups are 2-D: when an output has fewer column tiles than a vector instruction has lanes, row tiles fill them
      'override workgroup_rows: u32 = 1u;',
      'struct Launch { t: u32, steps: u32, batch: u32, seed: u32 }',
      '@group(0) @binding(0) var<uniform> launch: Launch;',
      ...(this.#usesRandom ? [RANDOM_WGSL] : []),
    ];
    let binding = 1;
    if (this.#usesParams) header.push(`@group(0) @binding(${binding++}) var<storage, read> params: array<${tile.vectorParams ? 'vec4<f32>' : 'f32'}>;`);
    if (usesGrads) header.push(`@group(0) @binding(${binding++}) var<storage, read_write> grads: array<f32>;`);
    for (const { buffer, write } of this.bufferList()) {
      const spec = this.schedule.buffers[buffer]!;
      const element = this.#vectorBuffers.has(buffer) ? 'vec4<f32>' : 'f32';
      header.push(`@group(0) @binding(${binding++}) var<storage, ${write ? 'read_write' : 'read'}> buf_${buffer}: array<${element}>; // ${spec.kind} ${spec.name}`);
    }
    return header;
  }

  bufferList(): { buffer: number; write: boolean }[] {
    return [...this.#bufferUse].sort(([a], [b]) => a - b).map(([buffer, write]) => ({ buffer, write }));
  }

  /**
   * A post kernel: the sum over every step and row of one value, a GEMM over all steps when
   * it is a matrix. Lanes own its rows, `cols` consecutive rows each, and each workgroup (a
   * y index) owns `rows` consecutive columns, so every lane of a workgroup reads the same
   * column elements: an outer product's column vector is one broadcast load per element,
   * its row vector one divergent load, for `rows x cols` FMAs (measured on llvmpipe: 14
   * GFLOP/s for a [512, 32] sum over 1024 rows, against 4 with both operands divergent).
   */
  writeAccumulation(): GeneratedKernel {
    const acc = this.kernel.accumulation!;
    const e = this.#eqns[acc.value]!;
    const scatters = this.scatterTerms(e.id);
    if (scatters) return this.writeScatterAdd(scatters);
    const { program } = this.schedule;
    const param = program.params.findIndex((p) => gradientName(p.name) === acc.name);
    const matrix = e.type.shape.length === 2;
    const scalar = e.type.shape.length === 0;
    // a matrix's rows per invocation (along the lanes) and columns per workgroup
    const laneRows = matrix ? this.tile.cols : 1;
    const groupCols = matrix ? this.tile.rows : scalar ? 1 : this.tile.cols;
    /** Every element of the tile at the row the block is at. */
    const elements = (body: Block): string[][] =>
      Array.from({ length: laneRows }, (_, a) => Array.from({ length: groupCols }, (_, c) => {
        const col: Index = scalar ? { base: '0u', lane: 0, offset: ZERO } : { base: 'j0', lane: c, offset: ZERO };
        return matrix ? this.value2d(e.id, { base: 'i0', lane: a, offset: ZERO }, col, 0, body) : this.value(e.id, col, 0, body);
      }));
    // Pass 1 finds the contractions the elements need per row (a sum over a map's pixels, a
    // filter gradient's correlation); pass 2 computes each group of them in one loop, then the sums.
    this.#requests = new Map();
    this.#filterRequests = new Map();
    this.#laneRowReads.clear();
    this.#vectorBuffers.clear();
    this.#aligned.clear();
    elements(new Block('    '));
    for (const buffer of this.#laneRowReads) this.#vectorBuffers.add(buffer);
    const requests = [...this.#requests.values()];
    const filters = [...this.#filterRequests.values()];
    this.#requests = undefined;
    this.#filterRequests = undefined;
    this.#startPass();
    const main = new Block('  ');
    const names: string[][] = [];
    for (let a = 0; a < laneRows; a++) {
      names.push([]);
      for (let c = 0; c < groupCols; c++) {
        const name = this.fresh('sum');
        main.line(`var ${name}: f32 = 0.0;`);
        names[a]!.push(name);
      }
    }
    const fixed = main.accesses.iterations;
    main.line(ROW_LOOP);
    const body = main.child();
    body.line('let t = rr / B;');
    body.line('let r0 = rr - t * B;');
    this.emitGathered(requests, body);
    for (const [key, name] of emitFilterCorrelations(this, filters, body)) this.#accumulators.set(key, name);
    elements(body).forEach((row, a) => row.forEach((v, c) => body.line(`${names[a]![c]} = ${names[a]![c]} + ${v};`)));
    main.append(body);
    main.line('}');
    const perRow = Dim.of(1).add(main.accesses.iterations.sub(fixed));
    for (let a = 0; a < laneRows; a++) {
      for (let c = 0; c < groupCols; c++) {
        const rowText = this.index({ base: 'i0', lane: a, offset: ZERO });
        const colText = this.index({ base: 'j0', lane: c, offset: ZERO });
        let target: string;
        let guard: string;
        if (param < 0) {
          target = 'grads[loss_slot]';
          guard = 'j0 == 0u';
        } else if (matrix) {
          const { name, shape } = program.params[param]!;
          target = this.paramElement(name, shape, rowText, colText).replace(/^params/, 'grads');
          guard = `${rowText} < ${this.dim(shape[0]!)} && ${colText} < ${this.dim(shape[1]!)}`;
        } else {
          target = `grads[param_${param} + ${colText}]`;
          guard = `${colText} < ${this.dim(shapeSize(e.type.shape))}`;
        }
        // later chunks of the row loop add to what the first one wrote
        main.line(`if (${guard}) { ${target} = ${names[a]![c]} + select(0.0, ${target}, launch.t > 0u); }`);
      }
    }
    const origin = matrix
      ? [`  let i0 = gid.x * ${laneRows}u;`, `  let j0 = group.y * ${groupCols}u;`]
      : [`  let j0 = gid.x * ${groupCols}u;`];
    const wgsl = this.postKernel(this.header(true, { rows: groupCols, cols: laneRows }), origin, main);
    return {
      wgsl,
      usesParams: this.#usesParams,
      buffers: this.bufferList(),
      // lanes (x) cover a matrix's rows, workgroups in y its columns; a vector's elements are the lanes
      widths: [scalar ? Dim.of(1) : e.type.shape[0]!],
      ...(matrix ? { height: e.type.shape[1]! } : {}),
      tile: matrix ? { rows: groupCols, cols: laneRows } : { rows: 1, cols: groupCols },
      accumulators: laneRows * groupCols,
      accesses: main.accesses.total,
      sharedAccesses: main.accesses.shared,
      ...(this.tile.vectorRows ? this.rowVectors : {}),
      usesGrads: true,
      rowLoop: { perRow, fixed },
    };
  }

  /** The source of a post kernel: its tile origin, then a body that loops over all rows. */
  postKernel(header: readonly string[], origin: readonly string[], main: Block): string {
    return [
      ...header,
      '',
      '@compute @workgroup_size(workgroup_size, workgroup_rows)',
      'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {',
      ...origin,
      '  let B = launch.batch;',
      '  let rows = launch.steps * B;',
      // chunk launch.t of the rows: the runtime splits the loop where it would pass the adapter's limit
      '  let row_begin = min(rows, launch.t * chunk_rows);',
      '  let row_end = min(rows, row_begin + chunk_rows);',
      ...main.lines,
      '}',
      '',
    ].join('\n');
  }

  /** The scatters a sum of them is made of, or undefined if any term is something else. */
  scatterTerms(id: number): Eqn[] | undefined {
    const e = this.#eqns[id]!;
    if (e.op === 'scatter') return [e];
    if (e.op !== 'add') return undefined;
    const [a, b] = e.args.map((arg) => this.scatterTerms(arg));
    return a && b ? [...a, ...b] : undefined;
  }

  /**
   * A post kernel summing scatters (an embedding's gradient): invocation j0 owns row j0 of
   * the [E, V] gradient. It zeroes that row, then walks every step and example in order,
   * adding g[j0] into column id. No other invocation writes the row, so there is no race
   * and no atomic, the sum is the same on every run, and the work is O(rows x E), not the
   * O(rows x E x V) of a dense outer product.
   */
  writeScatterAdd(terms: readonly Eqn[]): GeneratedKernel {
    const acc = this.kernel.accumulation!;
    const { program } = this.schedule;
    const param = program.params.find((p) => gradientName(p.name) === acc.name);
    if (!param) throw new Error(`internal: the scatter-add ${acc.name} is not a parameter gradient`);
    const [rows, cols] = param.shape as [Dim, Dim];
    const at = (col: string) => this.paramElement(param.name, param.shape, 'j0', col).replace(/^params/, 'grads');
    const main = new Block('  ');
    main.line(`if (j0 >= ${this.dim(rows)}) { return; }`);
    main.line(`if (launch.t == 0u) { for (var v: u32 = 0u; v < ${this.dim(cols)}; v = v + 1u) { ${at('v')} = 0.0; } }`);
    const fixed = main.accesses.iterations.add(cols);
    main.line(ROW_LOOP);
    const body = main.child();
    body.line('let t = rr / B;');
    body.line('let r0 = rr - t * B;');
    for (const term of terms) {
      const g = this.value(term.args[0]!, { base: 'j0', lane: 0, offset: ZERO }, 0, body);
      const id = this.id(term.args[1]!, 0, body);
      // ids are checked on the host; the guard keeps a bad one from reaching another gradient
      body.line(`if (${id} < ${this.dim(cols)}) { ${at(id)} = ${at(id)} + ${g}; }`);
    }
    main.append(body);
    main.line('}');
    const perRow = Dim.of(1).add(main.accesses.iterations.add(cols).sub(fixed));
    const wgsl = this.postKernel(this.header(true, { rows: 1, cols: 1 }), ['  let j0 = gid.x;'], main);
    return { wgsl, usesParams: this.#usesParams, buffers: this.bufferList(), widths: [rows], tile: { rows: 1, cols: 1 }, accumulators: 0, accesses: main.accesses.total, sharedAccesses: main.accesses.shared, usesGrads: true, rowLoop: { perRow, fixed } };
  }

  /**
   * The body of a hoisted, step or after kernel for one tile at (j0, row0): the matmuls the
   * tile needs, gathered and computed together, then every output stored.
   */
  body(): { main: Block; widths: Dim[]; accumulators: number } {
    const outputs = this.kernel.outputs.map((id) => this.#eqns[id]!);
    this.#laneWidth = laneWidth(outputs);
    // Pass 1 finds the matmuls the tile needs; pass 2 computes them together, then the rest.
    this.#requests = new Map();
    this.epilogue(new Block('  '), outputs);
    const requests = [...this.#requests.values()];
    this.#requests = undefined;
    this.#chooseVectorOperands(requests, outputs);
    this.#startPass();
    this.#vectorLoads = 0;
    this.#scalarExtra = Dim.of(0);
    this.#aligned.clear();
    this.#unrolledK.clear();
    this.#rowReductions = 0;
    const rowLanes = this.tile.lanes === 'rows';
    if (rowLanes && this.kernel.phase === 'step' && !this.tile.wholeRows) throw new Error('internal: lanes own row tiles only in kernels over all steps, or whole rows');
    const main = new Block('  ', undefined, Dim.of(1), new AccessCount(), rowLanes);
    const widths = new Map<string, Dim>();
    for (const o of outputs) widths.set(shapeSize(o.type.shape).toString(), shapeSize(o.type.shape));
    if (this.#laneWidth) {
      widths.clear();
      widths.set(this.#laneWidth.toString(), this.#laneWidth);
    }
    if (this.tile.wholeRows) {
      const [width] = widths.values();
      if (!rowLanes || widths.size !== 1 || requests.length > 0) throw new Error('internal: a whole-row tile takes one output width, lanes owning rows and no matmul');
      for (const o of outputs) for (let r = 0; r < this.tile.rows; r++) this.rowScalars(o.id, r, main);
      main.line(`for (var j0: u32 = 0u; j0 < ${this.dim(width!)}; j0 = j0 + 1u) {`);
      const row = main.child(width!);
      this.epilogue(row, outputs);
      main.append(row);
      main.line('}');
      return { main, widths: [...widths.values()], accumulators: 0 };
    }
    const accumulators = this.emitGathered(requests, main);
    this.epilogue(main, outputs);
    return { main, widths: [...widths.values()], accumulators };
  }

  /**
   * With vectorParams, the buffers that the tile's matmul operands read along k and that it
   * does not write are bound as vec4s, and those operands' loops step by four: each batch row's
   * operand is one load per four steps instead of four. Not in a persistent tile (its levels
   * write what later ones read) nor in a buffer this kernel writes (a vector component store
   * may touch its neighbours, which other invocations own).
   */
  #chooseVectorOperands(requests: readonly MatmulRequest[], outputs: readonly Eqn[]): void {
    this.#vectorBuffers.clear();
    this.#vectorOperands.clear();
    if (!this.tile.vectorParams || this.tile.persistent) return;
    // stores go out as whole vec4s where the tile's lanes come in fours and no output is a scalar
    const quadStores = this.tile.cols % VECTOR_LANES === 0 && !this.tile.lanes && outputs.every((o) => o.type.shape.length > 0);
    const written = new Set(quadStores ? [] : outputs.flatMap((o) => this.schedule.materialized.get(o.id)?.buffers ?? []));
    for (const r of requests) {
      if (r.eqn.op !== 'matmul') continue;
      const x = r.eqn.args[1]!;
      this.#probed = new Set();
      this.value(x, { base: OPERAND_PROBE, lane: 0, offset: ZERO }, r.batchRow, new Block('  '));
      const read = [...this.#probed];
      this.#probed = undefined;
      if (read.length > 0 && read.every((b) => !written.has(b))) {
        this.#vectorOperands.add(x);
        read.forEach((b) => this.#vectorBuffers.add(b));
      }
    }
  }

  /** A second pass starts afresh: names, bindings, and whether it uses params and the RNG. */
  #startPass(): void {
    this.#counter = 0;
    this.#bufferUse.clear();
    this.#usesParams = false;
    this.#usesRandom = false;
  }

  /**
   * After a first pass of a scan tile with vectorRows: the buffers it read along its lanes'
   * elements, and `also` (those it will store four at a time: vectorStore), are bound as vec4s
   * from here on, and the second pass starts afresh (names, bindings, alignment).
   */
  bindRowVectors(also: Iterable<number>): void {
    for (const buffer of [...this.#laneRowReads, ...also]) this.#vectorBuffers.add(buffer);
    this.#laneRowReads.clear();
    this.#startPass();
    this.#aligned.clear();
  }

  /** A store of four consecutive elements, from `index` at a multiple of 4, into a buffer bound as vec4s. */
  vectorStore(buffer: number, index: Index, batchRow: number, lag: number, values: readonly string[]): string {
    if (!this.#vectorBuffers.has(buffer) || values.length !== VECTOR_LANES) throw new Error(`internal: buffer ${buffer} is not bound as vec4s`);
    this.#requireAligned(this.schedule.buffers[buffer]!.elements, index.offset);
    return `${this.useBuffer(buffer, true)}[(${this.#flatIndex(buffer, index, batchRow, lag)}) >> 2u] = vec4<f32>(${values.join(', ')});`;
  }

  /** A vectorRows tile's buffers bound as vec4s, and the sizes their loads need to be multiples of 4. */
  get rowVectors(): { vectorLoads: number; aligned: Dim[] } {
    return { vectorLoads: this.#vectorBuffers.size, aligned: [...this.#aligned.values()] };
  }

  /** Takes on the bindings and helpers another writer's code uses, for one shader holding both. */
  absorb(other: KernelWriter): void {
    for (const [buffer, write] of other.#bufferUse) this.#bufferUse.set(buffer, (this.#bufferUse.get(buffer) ?? false) || write);
    this.#usesParams ||= other.#usesParams;
    this.#usesRandom ||= other.#usesRandom;
    this.#vectorLoads += other.#vectorLoads;
    this.#scalarExtra = this.#scalarExtra.add(other.#scalarExtra);
    for (const [key, d] of other.#aligned) this.#aligned.set(key, d);
    for (const k of other.#unrolledK) this.#unrolledK.add(k);
  }

  write(): GeneratedKernel {
    if (this.kernel.accumulation) return this.writeAccumulation();
    const { main, widths, accumulators } = this.body();
    const rowLanes = this.tile.lanes === 'rows';
    const header = this.header(false);
    const buffers = this.bufferList();
    const allSteps = this.kernel.phase !== 'step';
    const rowIds = Array.from({ length: this.tile.rows }, (_, r) => `  let r${r} = row0 + ${r}u;`);
    const wgsl = [
      ...header,
      '',
      '@compute @workgroup_size(workgroup_size, workgroup_rows)',
      'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {',
      // hoisted and after kernels run over all T*B rows at once; rows past 65535 blocks spill into z
      ...(rowLanes
        ? [...(this.tile.wholeRows ? [] : [`  let j0 = group.y * ${this.tile.cols}u;`]), `  let row0 = (gid.x + gid.z * groups.x * workgroup_size) * ${this.tile.rows}u;`]
        : [`  let j0 = gid.x * ${this.tile.cols}u;`, `  let row0 = (gid.y + gid.z * groups.y * workgroup_rows) * ${this.tile.rows}u;`]),
      '  let B = launch.batch;',
      allSteps ? '  let rows = launch.steps * B;' : '  let rows = B;',
      '  let t = launch.t;',
      '  if (row0 >= rows) { return; }',
      ...rowIds,
      ...main.lines,
      '}',
      '',
    ].join('\n');
    const vector = this.tile.vectorParams ? { ...this.vectorUse, vectorAccesses: main.accesses.vector } : {};
    const reductions = this.#rowReductions > 0 ? { rowReductions: this.#rowReductions } : {};
    return { wgsl, usesParams: this.#usesParams, buffers, widths, tile: this.tile, accumulators, accesses: main.accesses.total, sharedAccesses: main.accesses.shared, ...reductions, ...vector };
  }
}

/**
 * The scalar tile of a vector twin (Tile.vectorParams), from its text: each vector load split
 * into the loads of its four components and each component read a load of its own, which is
 * the code the tile generated without vectorParams has, at a fraction of the generation time.
 * Its accesses are the twin's with each component read counted as a load (scalarExtra).
 */
export function scalarTwin(twin: GeneratedKernel): GeneratedKernel {
  if (!twin.tile.vectorParams || twin.tile.persistent) throw new Error('internal: scalarTwin takes a vector tile of one kernel');
  const starts = new Map<string, string>();
  const wgsl = twin.wgsl
    .replace(/^.*let (w\d+) = params\[\((.*)\) >> 2u\];\n/gm, (_, name: string, start: string) => {
      starts.set(name, start);
      return '';
    })
    .replace(/\b(w\d+)\[(\d)\]/g, (_, name: string, lane: string) => `params[${starts.get(name)!}${lane === '0' ? '' : ` + ${lane}u`}]`)
    .replace(/params\[\(([^[\]]*?)\) >> 2u\]\[\(\1\) & 3u\]/g, 'params[$1]')
    .replace('var<storage, read> params: array<vec4<f32>>;', 'var<storage, read> params: array<f32>;')
    .replace(', params as vec4', '');
  const extra = twin.scalarExtra!;
  const rowLanes = twin.tile.lanes === 'rows';
  const { vectorParams: _, ...tile } = twin.tile;
  const { vectorLoads: __, scalarExtra: ___, aligned: ____, vectorAccesses: _____, ...rest } = twin;
  return {
    ...rest,
    wgsl,
    tile,
    accesses: twin.accesses.add(rowLanes ? extra : extra.scale(DIVERGENT_WEIGHT)),
    sharedAccesses: rowLanes ? twin.sharedAccesses.add(extra) : twin.sharedAccesses,
  };
}

export function generateKernel(schedule: Schedule, kernel: KernelSpec, tile: Tile = { rows: 1, cols: 1 }): GeneratedKernel {
  const writer = new KernelWriter(schedule, kernel, tile);
  return kernel.phase === 'scan' ? writeScanKernel(writer) : writer.write();
}
