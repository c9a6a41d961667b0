/** Scheduled kernels to the launch plan the runtime executes (plain JSON, embeddable). */
import type { DimTerms, LaunchPlan, PlanKernel, PlanTensor } from '../runtime/plan.js';
import { withoutDropout } from './inference.js';
import type { CellProgram } from './ir.js';
import { type KernelSpec, type Schedule, type ScheduleOptions, schedule as scheduleCell } from './schedule.js';
import { type Dim, type Shape, formatShape } from './shape.js';
import { type GeneratedKernel, type Tile, generateKernel, scalarTwin } from './wgsl.js';
import { writePersistentKernel } from './wgsl-persistent.js';
import { SCAN_TILES, SCAN_VECTOR_TILE } from './wgsl-scan.js';

export function dimTerms(dim: Dim): DimTerms {
  return [...dim.terms].map(([monomial, coefficient]) => [coefficient, ...(monomial === '' ? [] : monomial.split('*'))] as const);
}

function tensor(name: string, shape: Shape): PlanTensor {
  return { name, shape: shape.map(dimTerms), shapeText: formatShape(shape) };
}

/**
 * Accumulators an invocation may keep across its matmul loops: measured on llvmpipe, blocks
 * of about 512 (e.g. 16 outputs x 32 batch rows) reuse each load most before spilling hurts.
 */
const ACCUMULATOR_BUDGET = 512;
const ROW_CHOICES = [1, 8, 32];

/**
 * Tiles of the persistent kernel, for small batches where a step's work is smaller than a
 * dispatch: one row by 8 columns, and by one (SwiftShader compiles a char LM's 1x8 persistent
 * kernel in 0.3 s but did not finish its 1x16 in a minute, nor an LSTM's 8-row one in 20 s).
 * The 1x8 tile also with its weights read as vec4s: at one batch row nothing amortizes a
 * weight load, and on llvmpipe those loads were 80% of a 128-unit LSTM's step (1x16 and 1x4
 * vec4 tiles measured no faster than 1x8).
 */
const PERSISTENT_TILES: readonly Tile[] = [{ rows: 1, cols: 8, vectorParams: true }, { rows: 1, cols: 8 }, { rows: 1, cols: 1 }];
const MAX_COLS = 16;

/** Row tiles of the variant whose lanes own rows (measured on llvmpipe: 16x16 beat 8x32 and 4x32). */
const ROW_LANE_ROWS = 16;

function tileOf(rows: number, matmulsPerElement: number, scalarOutputs: boolean): Tile {
  if (scalarOutputs) return { rows, cols: 1 };
  if (matmulsPerElement === 0) return { rows, cols: 4 };
  let cols = 1;
  while (cols * 2 <= MAX_COLS && cols * 2 * rows * matmulsPerElement <= ACCUMULATOR_BUDGET) cols *= 2;
  return { rows, cols };
}

/**
 * Tile shapes to emit: for each batch-row count, as many columns as the budget allows; kernels
 * over all steps' rows also get one whose lanes own row tiles, for outputs too narrow to fill
 * the lanes (W^T @ dz into a 32-wide embedding: 2.5 ms against 6.6 for a [1024, 512] x [512, 32] product).
 */
function tilesFor(phase: KernelSpec['phase'], matmulsPerElement: number, scalarOutputs: boolean): Tile[] {
  const tiles = ROW_CHOICES.map((rows) => tileOf(rows, matmulsPerElement, scalarOutputs));
  if (phase === 'hoisted' || phase === 'after') tiles.push({ ...tileOf(ROW_LANE_ROWS, matmulsPerElement, scalarOutputs), lanes: 'rows' });
  return tiles;
}

/**
 * Unrolled tiles grow with the epilogue; past this size the shader compiler's time (seconds
 * on a CPU adapter) outweighs what the tile saves, so a variant shrinks until it fits.
 */
export const MAX_KERNEL_CHARS = 200 * 1024;

function boundedVariants(scheduled: Schedule, kernel: KernelSpec, single: GeneratedKernel, maxChars: number, extrapolate: boolean): GeneratedKernel[] {
  const variants: GeneratedKernel[] = [];
  const longest = (kernels: readonly GeneratedKernel[]) => Math.max(...kernels.map((k) => k.wgsl.length));
  let sizes: TwinSizes | undefined;
  for (const tile of tilesFor(kernel.phase, single.accumulators, single.widths.every((w) => w.constant === 1))) {
    let cols = tile.cols;
    const contracts = single.accumulators > 0;
    // where a twin's scalar tile must be generated anew, only the small tiles keep one: enough to
    // run any size, without the time the big ones take to generate
    const fallback = !tile.lanes && SCALAR_FALLBACK_ROWS.has(tile.rows);
    const generate = () => tileKernels(scheduled, kernel, { ...tile, cols }, contracts, fallback, maxChars);
    // a twin sure to pass the cap is not generated only to be discarded
    const surelyTooLong = () => !tile.lanes && cols % 4 === 0 && sizes !== undefined && sizes.predict(tile.rows, cols, maxChars) > maxChars;
    let generated: GeneratedKernel[];
    for (;;) {
      while (cols > 1 && surelyTooLong()) cols /= 2;
      generated = tile.rows === 1 && cols === 1 && !tile.lanes ? [single] : generate();
      if (longest(generated) <= maxChars || cols === 1) break;
      cols /= 2;
    }
    const twin = generated[0]!;
    if (extrapolate && tile.rows === 1 && !tile.lanes && twin.tile.vectorParams) sizes = new TwinSizes(scheduled, kernel, twin);
    if (longest(generated) <= maxChars || tile.rows === 1) variants.push(...generated);
  }
  if (ownsWholeRows(kernel, single)) variants.push(generateKernel(scheduled, kernel, WHOLE_ROW_TILE));
  return variants;
}

/**
 * The tile of a kernel that computes reductions over a row (a softmax's, a layer norm's): an
 * invocation per row, looping over its width, so each reduction runs once per row, where a
 * tile of a few columns runs it once per column tile. The runtime weighs it against the others.
 */
const WHOLE_ROW_TILE: Tile = { rows: 1, cols: 1, lanes: 'rows', wholeRows: true };

function ownsWholeRows(kernel: KernelSpec, single: GeneratedKernel): boolean {
  return kernel.phase !== 'scan' && (single.rowReductions ?? 0) > 0 && single.accumulators === 0 && single.widths.length === 1 && single.widths[0]!.constant !== 1;
}

/**
 * The length of a kernel's vector twins, extrapolated in rows from its one-row twin and a
 * two-row one of the same columns: each row adds its accumulators, loads and epilogue, and
 * names and indices grow longer as a tile grows, so the extrapolation falls short of the real
 * length. It did for every twin of every kernel of examples/ and bench/cells/ (8x16, 8x8,
 * 32x4 and 32x8 tiles: 0-20% short, never above), so a twin it puts past the cap is past it.
 * The two-row twin is generated only where a tile might be: where rows x the one-row twin's
 * length per column passes the cap.
 */
class TwinSizes {
  readonly #oneRow: number;
  readonly #cols: number;
  #twoRows: number | undefined;

  constructor(
    private readonly scheduled: Schedule,
    private readonly kernel: KernelSpec,
    oneRow: GeneratedKernel,
  ) {
    this.#oneRow = oneRow.wgsl.length;
    this.#cols = oneRow.tile.cols;
  }

  /** The extrapolated length of the twin of rows x cols; 0 where it surely fits within maxChars. */
  predict(rows: number, cols: number, maxChars: number): number {
    const perColumn = this.#oneRow / this.#cols;
    if (rows <= 2 || rows * cols * perColumn <= maxChars) return 0;
    this.#twoRows ??= generateKernel(this.scheduled, this.kernel, { rows: 2, cols: this.#cols, vectorParams: true }).wgsl.length;
    return (cols / this.#cols) * (this.#oneRow + (rows - 1) * (this.#twoRows - this.#oneRow));
  }
}

/**
 * A tile, and the same tile reading its column-major weights as vec4s where it has any to
 * read (only matmuls have them): the twin alone where its loads line up at every size, else
 * both, the scalar one derived from the twin (the runtime takes the twin where the sizes line
 * up: PlanVariant.aligned). A twin past maxChars comes back alone: the caller shrinks the
 * tile anyway, and generating its scalar tile (tens of ms for an LSTM's step) would be wasted.
 */
function tileKernels(scheduled: Schedule, kernel: KernelSpec, tile: Tile, contracts: boolean, fallback: boolean, maxChars: number): GeneratedKernel[] {
  if (tile.cols % 4 !== 0 || !contracts) return [generateKernel(scheduled, kernel, tile)];
  const twin = generateKernel(scheduled, kernel, { ...tile, vectorParams: true });
  // a twin that does not line up even where every size is a multiple of 4 (an offset of 3) would never run
  if (!twin.vectorLoads || !alignedAtRoundSizes(scheduled, twin)) return [generateKernel(scheduled, kernel, tile)];
  if (twin.aligned!.length === 0 || twin.wgsl.length > maxChars) return [twin];
  // a twin whose loops step by four cannot become the scalar tile by its loads alone
  if (!twin.unrolled) return [twin, scalarTwin(twin)];
  return fallback ? [twin, generateKernel(scheduled, kernel, tile)] : [twin];
}

function alignedAtRoundSizes(scheduled: Schedule, twin: GeneratedKernel): boolean {
  return [4, 8].every((n) => {
    const sizes = Object.fromEntries(scheduled.program.sizes.map((s) => [s.name, n]));
    return twin.aligned!.every((d) => d.evaluate(sizes) % 4 === 0);
  });
}

/** Row counts of the tiles whose scalar tile is generated beside a twin whose loops step by four (tileKernels). */
const SCALAR_FALLBACK_ROWS = new Set([1, 8]);

/**
 * Post kernels: a matrix sum's invocation owns 16 rows by 16 columns (14 GFLOP/s on llvmpipe,
 * against 10-11 for 8x16 or 16x8 and ~200 ms more shader compile for 16x32); a vector's 16 elements.
 */
const ACCUMULATION_TILE: Tile = { rows: 16, cols: 16 };

/**
 * Storage buffers one kernel may bind: WebGPU guarantees 8 on every device (SwiftShader
 * offers 10, llvmpipe 16), so kernels are split to fit 8 wherever one output allows it.
 */
const STORAGE_BUDGET = 8;

function storageOf(k: GeneratedKernel): number {
  return k.buffers.length + (k.usesParams ? 1 : 0) + (k.usesGrads ? 1 : 0);
}

/**
 * A level's kernel split to fit the budget, each part with the storage buffers it binds.
 * Outputs of one level never read each other, so any grouping of them is a valid split.
 */
function fitToBudget(scheduled: Schedule, kernel: KernelSpec): { kernel: KernelSpec; storage: number }[] {
  if (kernel.accumulation) return [{ kernel, storage: 0 }];
  const storage = (outputs: readonly number[]) => storageOf(generateKernel(scheduled, { ...kernel, outputs }));
  const whole = storage(kernel.outputs);
  if (whole <= STORAGE_BUDGET) return [{ kernel, storage: whole }];
  const groups: { outputs: number[]; storage: number }[] = [];
  for (const output of kernel.outputs) {
    const current = groups[groups.length - 1];
    const joined = current ? storage([...current.outputs, output]) : Infinity;
    if (current && joined <= STORAGE_BUDGET) {
      current.outputs.push(output);
      current.storage = joined;
    } else groups.push({ outputs: [output], storage: storage([output]) });
  }
  return groups.map((g) => ({ kernel: { ...kernel, outputs: g.outputs }, storage: g.storage }));
}

/** Every kernel of a schedule, split to fit, and the most storage buffers one of them binds. */
function fitted(scheduled: Schedule): { kernels: KernelSpec[]; widest: number } {
  const parts = scheduled.kernels.flatMap((k) => fitToBudget(scheduled, k));
  return { kernels: parts.map((p) => p.kernel), widest: Math.max(...parts.map((p) => p.storage)) };
}

export interface PlanOptions extends ScheduleOptions {
  /** the largest WGSL text of a tile variant (MAX_KERNEL_CHARS) */
  readonly maxKernelChars?: number;
  /** skip generating tiles whose extrapolated length passes the cap (TwinSizes); default true */
  readonly extrapolateTileSizes?: boolean;
}

/** The inference plan of a cell (model.forward, seqc run): dropout is the identity there. */
export function buildLaunchPlan(program: CellProgram, options: PlanOptions = {}): LaunchPlan {
  return buildPlan(withoutDropout(program), options);
}

/** The plan of a program as it is, dropout masks included: what the training passes run. */
export function buildPlan(program: CellProgram, options: PlanOptions = {}): LaunchPlan {
  const maxKernelChars = options.maxKernelChars ?? MAX_KERNEL_CHARS;
  let scheduled = scheduleCell(program, options);
  let { kernels, widest } = fitted(scheduled);
  if (!options.packTemps && widest > STORAGE_BUDGET) {
    // a value that reads many kept values (attention's backward) binds them all as one buffer
    const packed = scheduleCell(program, { ...options, packTemps: true });
    const packedFit = fitted(packed);
    if (packedFit.widest < widest) [scheduled, kernels] = [packed, packedFit.kernels];
  }
  const persistent = persistentKernel(scheduled, kernels.filter((k) => k.phase === 'step'), `${program.name}/persistent#${kernels.length}`);
  const results = new Map([...program.updates, ...program.readouts].map((r) => [r.name, r.value]));
  const stateNames = new Set(program.states.map((s) => s.name));
  return {
    format: 'seqc-plan-1',
    cell: program.name,
    direction: program.direction ?? 'forward',
    sizes: program.sizes.map((s) => (s.default === undefined ? { name: s.name } : { name: s.name, default: s.default })),
    inputs: program.inputs.map((i) => ({ ...tensor(i.name, i.shape), ...(i.onehot ? { onehot: true } : {}), ...(i.binary ? { binary: true } : {}) })),
    params: program.params.map((p) => ({ ...tensor(p.name, p.shape), init: p.init, columnMajor: scheduled.columnMajor.has(p.name) })),
    states: program.states.map((s) => ({ ...tensor(s.name, s.shape), initial: s.initial, lags: s.maxLag })),
    outputs: program.outputs.map((name) => ({
      ...tensor(name, program.eqns[results.get(name)!]!.type.shape),
      kind: stateNames.has(name) ? ('state' as const) : ('readout' as const),
    })),
    buffers: scheduled.buffers.map((b) => ({ kind: b.kind, name: b.name, elements: dimTerms(b.elements), lags: b.lags })),
    kernels: kernels.map((k, i): PlanKernel => {
      if (k.phase === 'scan') {
        // one kernel for all steps; its lanes span elements and time (compiler/wgsl-scan.ts).
        // The twin reading four elements per load comes first: the runtime takes the first that fits
        const scalar = SCAN_TILES.map((tile) => generateKernel(scheduled, k, tile));
        const twin = generateKernel(scheduled, k, SCAN_VECTOR_TILE);
        const variants = twin.vectorLoads && alignedAtRoundSizes(scheduled, twin) ? [twin, ...scalar] : scalar;
        return {
          label: `${program.name}/scan#${i}`,
          phase: k.phase,
          widths: scalar[0]!.widths.map(dimTerms),
          usesParams: scalar[0]!.usesParams,
          buffers: scalar[0]!.buffers,
          variants: variants.map((v) => ({ rows: v.tile.rows, cols: v.tile.cols, ...(v.tile.vectorRows ? { aligned: v.aligned!.map(dimTerms) } : {}), wgsl: v.wgsl })),
        };
      }
      if (k.accumulation) {
        // the twin reading its lanes' rows four at a time comes first (the runtime takes the first
        // variant that fits the sizes); one whose loads line up at every size replaces the scalar tile
        const twin = generateKernel(scheduled, k, { ...ACCUMULATION_TILE, vectorRows: true });
        const vectorized = (twin.vectorLoads ?? 0) > 0;
        const scalar = vectorized && twin.aligned!.length === 0 ? undefined : generateKernel(scheduled, k, ACCUMULATION_TILE);
        const generated = scalar ?? twin;
        const variants = [
          ...(vectorized ? [{ rows: twin.tile.rows, cols: twin.tile.cols, aligned: twin.aligned!.map(dimTerms), wgsl: twin.wgsl }] : []),
          ...(scalar ? [{ rows: scalar.tile.rows, cols: scalar.tile.cols, wgsl: scalar.wgsl }] : []),
        ];
        return {
          label: `${program.name}/post#${i}`,
          phase: k.phase,
          widths: generated.widths.map(dimTerms),
          ...(generated.height ? { height: dimTerms(generated.height) } : {}),
          usesParams: generated.usesParams,
          usesGrads: true,
          buffers: generated.buffers,
          ...(generated.rowLoop ? { rowLoop: { perRow: dimTerms(generated.rowLoop.perRow), fixed: dimTerms(generated.rowLoop.fixed) } } : {}),
          variants,
        };
      }
      const single = generateKernel(scheduled, k);
      const variants = boundedVariants(scheduled, k, single, maxKernelChars, options.extrapolateTileSizes ?? true);
      return {
        label: `${program.name}/${k.phase}${k.level}#${i}`,
        phase: k.phase,
        widths: single.widths.map(dimTerms),
        usesParams: single.usesParams,
        buffers: single.buffers,
        variants: variants.map((v) => ({
          rows: v.tile.rows,
          cols: v.tile.cols,
          ...(v.tile.lanes ? { lanes: v.tile.lanes } : {}),
          ...(v.tile.wholeRows ? { wholeRows: true } : {}),
          accesses: dimTerms(v.accesses),
          sharedAccesses: dimTerms(v.sharedAccesses),
          ...(v.tile.vectorParams ? { vectorParams: true, aligned: (v.aligned ?? []).map(dimTerms), vectorAccesses: dimTerms(v.vectorAccesses!) } : {}),
          wgsl: v.wgsl,
        })),
      };
    }).concat(persistent ? [persistent] : []),
  };
}

/**
 * The alternative to a plan's step kernels that runs them all, every step, in one workgroup
 * (compiler/wgsl-persistent.ts): the runtime takes one or the other by the batch size, and
 * steps where the device offers fewer storage buffers than the step kernels bind together (a
 * backward pass binds more than the 8 every device has).
 */
function persistentKernel(scheduled: Schedule, steps: readonly KernelSpec[], label: string): PlanKernel | undefined {
  if (steps.length === 0) return undefined;
  // a vector tile that found nothing to load four at a time is its scalar twin, slower
  const variants = PERSISTENT_TILES.map((tile) => writePersistentKernel(scheduled, steps, tile)).filter((v) => !v.tile.vectorParams || v.vectorLoads! > 0);
  return {
    label,
    phase: 'step',
    persistent: true,
    widths: variants[0]!.widths.map(dimTerms),
    usesParams: variants[0]!.usesParams,
    buffers: variants[0]!.buffers,
    variants: variants.map((v) => ({
      rows: v.tile.rows,
      cols: v.tile.cols,
      accesses: dimTerms(v.accesses),
      levels: v.levels.map((l) => ({ widths: l.widths.map(dimTerms), accesses: dimTerms(l.accesses), ...(v.tile.vectorParams ? { vectorAccesses: dimTerms(l.vectorAccesses) } : {}), iterations: dimTerms(l.iterations) })),
      ...(v.tile.vectorParams ? { vectorParams: true, aligned: v.aligned!.map(dimTerms) } : {}),
      wgsl: v.wgsl,
    })),
  };
}
