/**
 * One launch plan on one device: its kernels compiled for bound sizes and a batch size (the
 * tile variant and workgroup size are chosen here), bound to buffers, and encoded into a
 * compute pass. Forward inference and training both drive plans through this.
 */
import type { DimTerms, LaunchPlan, PlanKernel, PlanVariant } from './plan.js';
import { evaluateDim, variantFits } from './plan.js';
import { type Parallelism, parallelismOf } from './device.js';
import { PARAM_TEXTURE_BINDING, paramAccessOf, paramTextureOf, paramTextureRows, withTextureParams } from './param-texture.js';
import { type HalfSpelling, type ParamPrecision, halfParamsOf, halfSpellingOf, withHalfParams } from './param-halves.js';

export const UNIFORM_BYTES = 16;

/**
 * What dispatching a step costs, in the units of a variant's `accesses` (weighted storage
 * accesses per invocation): on llvmpipe a step of a small LSTM takes about 0.3 ms beyond its
 * arithmetic, the time of some 40k such accesses.
 */
const DISPATCH_ACCESSES = 40_000;

/**
 * A variant's shader compile, in the same units, spread over the launches it is compiled
 * for: a kernel runs for a training run's steps, some ten thousand. Measured on llvmpipe,
 * compiling takes about 50 ms x (kilochars / 20)^1.6 (0.07 s for 22k, 0.7-0.9 s for 108k,
 * 1.4-2.8 s for 180k), and one access about 7.5 ns (DISPATCH_ACCESSES). Where a problem is
 * so small that every tile finishes in a round or two, the smaller kernel then wins: it
 * compiles in a tenth of the time, and a test or a gradient check compiles far more than it runs.
 */
const LAUNCHES_PER_COMPILE = 10_000;
const ACCESSES_PER_MS = DISPATCH_ACCESSES / 0.3;
function compileAccesses(wgsl: string): number {
  const ms = 50 * (wgsl.length / 1024 / 20) ** 1.6;
  return (ms * ACCESSES_PER_MS) / LAUNCHES_PER_COMPILE;
}

/**
 * What fetching a vector twin's four-wide parameter load from the texture costs against
 * loading it from the storage buffer: on llvmpipe a persistent LSTM step's weight loads took
 * 8.1 ms from the buffer and 4.2 ms as texels (param-texture.ts).
 */
const TEXEL_FETCH_SHARE = 0.5;

/**
 * What a shared storage load (one element every lane of a tile reads: a batch row's operand)
 * weighs where the weights come from the texture, against the 1 it weighs otherwise: fitted
 * to what tuning measured on llvmpipe (runtime/tune.ts, B=32, H=256). The LSTM step's 8x16
 * vector tile beat its 32x4 one (56.0 against 59.9 ms), which needs a weight above 2; the
 * minGRU's hoisted 32x8 tile beat its 8x16 one (13.7 against 15.8 ms), which needs one below
 * 3; the GRU's steps and hoisted GEMM took their 8x16 tiles as measured at either.
 */
const TEXTURED_SHARED_WEIGHT = 2.5;

/**
 * A variant's (or a persistent level's) weighted accesses. Where the runner reads weights from
 * the texture (`textured`), its vector loads weigh as texel fetches and its shared loads, where
 * given (`sharedAccesses`: lanes own columns and share them), TEXTURED_SHARED_WEIGHT each.
 */
function variantAccesses(variant: PlanVariant, accesses: DimTerms, vectorAccesses: DimTerms | undefined, sizes: Readonly<Record<string, number>>, textured: boolean, sharedAccesses?: DimTerms): number {
  let all = evaluateDim(accesses, sizes);
  if (!textured) return all;
  if (variant.vectorParams && vectorAccesses) all -= (1 - TEXEL_FETCH_SHARE) * evaluateDim(vectorAccesses, sizes);
  if (sharedAccesses) all += (TEXTURED_SHARED_WEIGHT - 1) * evaluateDim(sharedAccesses, sizes);
  return all;
}

/** The sequence length kernels are chosen for before the first run says (Executor.prepare, Trainer.create). */
const PLANNED_STEPS = 8;

/** Lengths that round up to the same power of two (at least PLANNED_STEPS) choose the same kernels. */
function stepsClass(steps: number): number {
  return Math.max(PLANNED_STEPS, nextPowerOfTwo(steps));
}

const shapeKey = (batch: number, steps: number): string => `${batch}x${stepsClass(steps)}`;

/** The rows a kernel's tile is chosen for: a step kernel's batch; the rows of all steps for the others. */
function estimatedRows(kernel: PlanKernel, batch: number, steps: number): number {
  return kernel.phase === 'step' ? batch : batch * stepsClass(steps);
}

/** Invocations per lane the device runs at once that a scan's dispatch should offer. */
const SCAN_FILL = 4;

export interface CompiledKernel {
  readonly kernel: PlanKernel;
  readonly variant: PlanVariant;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** its vector parameter loads fetch texels of the parameters' texture copy (binding PARAM_TEXTURE_BINDING) */
  readonly textured: boolean;
  /** workgroups per dispatch for a sequence of `steps` */
  readonly dispatch: (steps: number) => readonly [number, number, number];
  /** post and persistent kernels: dispatches for a sequence of `steps`, each over a chunk of its rows or steps (MAX_LOOP_ITERATIONS) */
  readonly chunks?: (steps: number) => number;
}

/**
 * Loop iterations one invocation may run: Mesa's llvmpipe ends every loop of an invocation,
 * silently, once its loops together have run 65535 iterations (LP_MAX_TGSI_LOOP_ITERATIONS;
 * measured: a second loop of 40,000 after a first one ran 25,534 times). Post kernels loop
 * over the rows of all steps, so they run in chunks that stay under it, on every adapter:
 * a chunk is one more dispatch per 65,000-odd iterations.
 */
export const MAX_LOOP_ITERATIONS = 65535;
/**
 * What a chunk plans for: half the limit, since the count from the generator misses what
 * the shader compiler adds (a persistent LSTM-like kernel planned at 65,406 iterations a
 * chunk lost its last two steps).
 */
const LOOP_BUDGET = Math.floor(MAX_LOOP_ITERATIONS / 2);

/**
 * Steps per dispatch of the persistent kernel: each step, an invocation takes its share of
 * every step kernel's tiles, each tile running its own loops. Undefined for plans from
 * before the count (one dispatch, as then).
 */
function persistentChunkSteps(kernel: PlanKernel, variant: PlanVariant, workgroupSize: number, batch: number, sizes: Readonly<Record<string, number>>): number | undefined {
  if (!variant.levels?.every((l) => l.iterations)) return undefined;
  let perStep = 1;
  for (const level of variant.levels) {
    const width = Math.max(...level.widths.map((w) => evaluateDim(w, sizes)));
    const tiles = Math.ceil(width / variant.cols) * Math.ceil(batch / variant.rows);
    perStep += Math.ceil(tiles / workgroupSize) * (1 + evaluateDim(level.iterations!, sizes));
  }
  const steps = Math.floor(LOOP_BUDGET / perStep);
  if (steps < 1) throw new ScheduleError(`kernel ${kernel.label} runs ${perStep} loop iterations per step, past the ${MAX_LOOP_ITERATIONS} an invocation may run on llvmpipe; run the steps stepped (stepLoop: 'stepped')`);
  return steps;
}

/** Rows of all steps per dispatch of a post kernel, with a margin for the loops it opens outside the rows. */
export function postChunkRows(kernel: PlanKernel, sizes: Readonly<Record<string, number>>, batch: number): number {
  if (!kernel.rowLoop) return Number.MAX_SAFE_INTEGER;
  const perRow = Math.max(1, evaluateDim(kernel.rowLoop.perRow, sizes));
  const room = LOOP_BUDGET - evaluateDim(kernel.rowLoop.fixed, sizes);
  const rows = Math.floor(room / perRow);
  // chunk c reads its start from step c's launch entry, so a chunk holds at least one step's rows
  if (rows < batch) {
    throw new ScheduleError(`kernel ${kernel.label} runs ${perRow} loop iterations per row: ${batch} rows (one step of the batch) would pass the ${MAX_LOOP_ITERATIONS} loop iterations an invocation may run on llvmpipe; use a smaller batch or smaller sizes`);
  }
  return rows;
}

/** Pipelines are cached per device by WGSL text and constants, so models of one cell share them. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>>();

function layoutFor(device: GPUDevice, kernel: PlanKernel, paramTexture: boolean): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: UNIFORM_BYTES } },
  ];
  const storage = (type: GPUBufferBindingType) => ({ binding: entries.length, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  if (kernel.usesParams) entries.push(storage('read-only-storage'));
  if (kernel.usesGrads) entries.push(storage('storage'));
  for (const b of kernel.buffers) entries.push(storage(b.write ? 'storage' : 'read-only-storage'));
  if (paramTexture) entries.push({ binding: PARAM_TEXTURE_BINDING, visibility: GPUShaderStage.COMPUTE, texture: { sampleType: 'unfilterable-float' } });
  return device.createBindGroupLayout({ entries, label: kernel.label });
}

/**
 * Compiles a variant's WGSL, with its vector parameter loads from the texture where `textured`
 * (param-texture.ts), or its parameter reads from their half copy where `halves` (param-halves.ts).
 */
export async function pipelineFor(device: GPUDevice, kernel: PlanKernel, planWgsl: string, constants: Record<string, number>, textured: boolean, halves?: HalfSpelling) {
  let cache = pipelineCache.get(device);
  if (!cache) pipelineCache.set(device, (cache = new Map()));
  const wgsl = textured ? withTextureParams(planWgsl) : halves ? withHalfParams(planWgsl, halves) : planWgsl;
  const key = `${JSON.stringify(constants)}\n${kernel.usesParams}${textured}${kernel.usesGrads}${JSON.stringify(kernel.buffers)}\n${wgsl}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = (async () => {
      // Dawn may compile on this thread; let timers and I/O run between kernels
      await new Promise((resolve) => setTimeout(resolve, 0));
      const layout = layoutFor(device, kernel, textured);
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: wgsl, label: kernel.label });
      const pipeline = await device.createComputePipelineAsync({
        label: kernel.label,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants },
      });
      const error = await device.popErrorScope();
      if (error) throw new Error(`kernel ${kernel.label} failed to compile: ${error.message}`);
      return { pipeline, layout };
    })();
    cache.set(key, entry);
    entry.catch(() => cache!.delete(key));
  }
  return entry;
}

/**
 * Invocations per workgroup: up to 64 but no more than the dispatch has along x (idle lanes
 * cost as much as busy ones), never fewer than a vector instruction's lanes, and small enough
 * that every thread of a CPU adapter (which runs each workgroup on one thread) gets work.
 */
function chooseWorkgroupSize(invocationsX: number, otherGroups: number, limit: number, parallel: Parallelism): number {
  const floor = Math.min(parallel.simd, limit);
  let size = Math.min(64, limit);
  while (size / 2 >= Math.max(invocationsX, floor)) size /= 2;
  while (size / 2 >= floor && Math.ceil(invocationsX / size) * otherGroups < 2 * parallel.threads) size /= 2;
  return size;
}

const nextPowerOfTwo = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Row tiles per workgroup (workgroups are 2-D): when the column tiles are fewer than a
 * vector instruction's lanes (a [4*H, E] gradient with E = 32 has two; so has W^T @ dz),
 * the lanes left over take row tiles instead of idling, as long as every thread still gets
 * workgroups. 1 when the columns fill the lanes.
 */
function workgroupRows(invocationsX: number, rowTiles: number, limit: number, parallel: Parallelism): number {
  const width = nextPowerOfTwo(invocationsX);
  let rows = 1;
  while (width * rows * 2 <= Math.min(parallel.simd, limit) && rows * 2 <= rowTiles && Math.ceil(rowTiles / (rows * 2)) >= 2 * parallel.threads) rows *= 2;
  return rows;
}

/**
 * The tile variants by their expected time, fastest first: rounds of invocations the device runs at once,
 * times the storage accesses of one invocation, plus its share of the compile. Bigger tiles reuse each load more; smaller
 * ones give more invocations, which matters when a step has few rows (a per-step kernel).
 * Where column tiles are fewer than a vector's lanes, a workgroup packs several row tiles
 * and the elements its lanes would share differ between them too.
 */
function rankVariants(kernel: PlanKernel, width: number, rows: number, sizes: Readonly<Record<string, number>>, parallel: Parallelism, textured: boolean): { variant: PlanVariant; cost: number }[] {
  const lanes = parallel.threads * parallel.simd;
  const ranked: { variant: PlanVariant; cost: number }[] = [];
  for (const variant of kernel.variants) {
    if (!variantFits(variant, sizes)) continue;
    if (!variant.accesses) return [{ variant: [...kernel.variants].sort((a, b) => b.rows - a.rows).find((v) => v.rows <= rows) ?? kernel.variants[0]!, cost: 0 }];
    const columnTiles = variant.wholeRows ? 1 : Math.ceil(width / variant.cols);
    const rowTiles = Math.ceil(rows / variant.rows);
    const packed = columnTiles < parallel.simd && rowTiles > 1;
    // lanes own row tiles only where column tiles cannot fill them: elsewhere the bigger kernel buys nothing
    if (variant.lanes === 'rows' && !packed) continue;
    const accesses = variantAccesses(variant, variant.accesses, variant.vectorAccesses, sizes, textured, packed || variant.lanes === 'rows' ? undefined : variant.sharedAccesses) + (packed && variant.lanes !== 'rows' && variant.sharedAccesses ? 3 * evaluateDim(variant.sharedAccesses, sizes) : 0);
    const cost = Math.ceil((columnTiles * rowTiles) / lanes) * accesses + (kernel.phase === 'step' ? DISPATCH_ACCESSES : 0) + compileAccesses(variant.wgsl);
    ranked.push({ variant, cost });
  }
  return ranked.sort((a, b) => a.cost - b.cost);
}

function chooseVariant(kernel: PlanKernel, width: number, rows: number, sizes: Readonly<Record<string, number>>, parallel: Parallelism, textured: boolean): { variant: PlanVariant; cost: number } {
  const best = rankVariants(kernel, width, rows, sizes, parallel, textured)[0];
  if (!best) throw new ScheduleError(`kernel ${kernel.label} has no tile variant for sizes ${JSON.stringify(sizes)}: each needs some size to be a multiple of 4`);
  return best;
}

/**
 * The persistent kernel's variant expected to finish a step first, and that cost: its one
 * workgroup runs a vector's lanes at a time, kernel after kernel, and dispatches nothing.
 */
function choosePersistentVariant(kernel: PlanKernel, batch: number, sizes: Readonly<Record<string, number>>, parallel: Parallelism, textured: boolean): { variant: PlanVariant; cost: number; tiles: number } {
  let best: { variant: PlanVariant; cost: number; tiles: number } | undefined;
  for (const variant of kernel.variants) {
    if (!variantFits(variant, sizes)) continue;
    let cost = 0;
    let tiles = 0;
    for (const level of variant.levels ?? []) {
      const width = Math.max(...level.widths.map((w) => evaluateDim(w, sizes)));
      const levelTiles = Math.ceil(width / variant.cols) * Math.ceil(batch / variant.rows);
      cost += Math.ceil(levelTiles / parallel.simd) * variantAccesses(variant, level.accesses, level.vectorAccesses, sizes, textured);
      tiles = Math.max(tiles, levelTiles);
    }
    if (!best || cost < best.cost) best = { variant, cost, tiles };
  }
  return best!;
}

/** Storage buffers a kernel binds. */
function storageOf(kernel: PlanKernel): number {
  return kernel.buffers.length + (kernel.usesParams ? 1 : 0) + (kernel.usesGrads ? 1 : 0);
}

/** Values of the WGSL override constants every kernel declares. */
export function planConstants(plan: LaunchPlan, sizes: Readonly<Record<string, number>>, paramOffsets: readonly number[], paramCount: number): Record<string, number> {
  const constants: Record<string, number> = { loss_slot: paramCount };
  plan.sizes.forEach((s, i) => (constants[`size_${i}`] = sizes[s.name]!));
  paramOffsets.forEach((offset, i) => (constants[`param_${i}`] = offset));
  return constants;
}

export interface PlanBindings {
  readonly uniforms: GPUBuffer;
  readonly params: GPUBuffer;
  readonly grads?: GPUBuffer;
  /** one per plan buffer, by index */
  readonly buffers: readonly GPUBuffer[];
}

/**
 * How a plan's step loop runs: 'auto' (the estimate's choice per batch size, or tuning's),
 * 'persistent' (its persistent kernel walks every step) or 'stepped' (a dispatch of each
 * step kernel per step).
 */
export type StepLoop = 'auto' | 'persistent' | 'stepped';

const STEP_LOOPS: readonly StepLoop[] = ['auto', 'persistent', 'stepped'];

/** A schedule asked for that the plan or the device cannot run. */
export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

/** The step loop asked for, checked against what the plan can do. */
export function checkStepLoop(plan: LaunchPlan, stepLoop: unknown): StepLoop {
  if (!STEP_LOOPS.includes(stepLoop as StepLoop)) throw new ScheduleError(`stepLoop must be one of ${STEP_LOOPS.map((s) => `'${s}'`).join(', ')}, got ${String(stepLoop)}`);
  if (stepLoop === 'persistent' && !plan.kernels.some((k) => k.persistent)) {
    const reason = plan.kernels.some((k) => k.phase === 'scan') ? 'its recurrence runs as a parallel scan (build the plan with recurrence: \'sequential\' for a step loop)' : 'it has no persistent kernel';
    throw new ScheduleError(`stepLoop 'persistent': cell ${plan.cell} cannot run its steps in one persistent kernel: ${reason}`);
  }
  return stepLoop as StepLoop;
}

export class PlanRunner {
  /** by shapeKey(batch, steps) */
  readonly #compiled = new Map<string, Promise<CompiledKernel[]>>();
  readonly #tuned = new Set<string>();
  /** whether vector twins fetch their parameter loads from the parameters' texture copy (param-texture.ts), chosen per device */
  readonly paramTexture: boolean;
  /** how kernels read their parameters' half copy (param-halves.ts), with paramPrecision 'f16'; undefined: the f32 buffer */
  readonly halfParams: HalfSpelling | undefined;

  /** the step loop's schedule: forced one way, or 'auto' */
  readonly stepLoop: StepLoop;

  constructor(
    readonly device: GPUDevice,
    readonly plan: LaunchPlan,
    readonly sizes: Readonly<Record<string, number>>,
    readonly constants: Readonly<Record<string, number>>,
    { paramPrecision = 'f32', stepLoop = 'auto' }: { readonly paramPrecision?: ParamPrecision; readonly stepLoop?: StepLoop } = {},
  ) {
    this.stepLoop = checkStepLoop(plan, stepLoop);
    const readsParams = plan.kernels.some((k) => k.usesParams);
    this.halfParams = paramPrecision === 'f16' && readsParams ? halfSpellingOf(device) : undefined;
    // the texture holds f32 texels: halves are read from their buffer
    this.paramTexture = !this.halfParams && paramAccessOf(device) === 'texture' && readsParams && paramTextureRows(device, this.paramCount) !== undefined;
  }

  /** Floats of the packed parameters: the gradient buffer's loss slot follows them (planConstants). */
  get paramCount(): number {
    return this.constants['loss_slot'] ?? 0;
  }

  /**
   * Brings the parameters' texture copy up to date with their buffer; the command buffer
   * must encode this before any pass that runs this plan's kernels.
   */
  refreshParams(encoder: GPUCommandEncoder, params: GPUBuffer): void {
    if (this.paramTexture) paramTextureOf(this.device, params).refresh(encoder);
    if (this.halfParams) halfParamsOf(this.device, params).refresh(encoder);
  }

  /** Elements of one step of one batch row, per plan buffer. */
  elements(): number[] {
    return this.plan.buffers.map((b) => evaluateDim(b.elements, this.sizes));
  }

  /**
   * Every kernel run at a batch size and sequence length, compiled, with its tile and
   * workgroup shape chosen: the step kernels or the persistent kernel that stands for them,
   * whichever is expected to finish a step first. Kernels over all steps (hoisted, after) choose
   * their tile for the rows of `steps` rounded up to a power of two, so that a long sequence
   * gets the bigger row tiles it fills; pipelines are cached, so lengths that choose alike
   * compile nothing new.
   */
  kernelsFor(batch: number, steps = PLANNED_STEPS): Promise<CompiledKernel[]> {
    const key = shapeKey(batch, steps);
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      const persist = this.#persists(batch);
      const used = this.plan.kernels.filter((k) => (k.persistent ? persist : !(persist && k.phase === 'step')));
      compiled = Promise.all(used.map((kernel) => this.#compile(kernel, batch, steps)));
      this.#compiled.set(key, compiled);
      compiled.catch(() => this.#compiled.delete(key));
    }
    return compiled;
  }

  /**
   * The estimate of a step of the step loop both ways, at this batch size: the persistent
   * kernel, and the step kernels with a dispatch each; undefined where the plan cannot persist.
   */
  stepLoopCosts(batch: number): { persistent: number; stepped: number } | undefined {
    const persistent = this.plan.kernels.find((k) => k.persistent);
    if (!persistent || storageOf(persistent) > this.device.limits.maxStorageBuffersPerShaderStage) return undefined;
    const steps = this.plan.kernels.filter((k) => k.phase === 'step' && !k.persistent);
    const parallel = parallelismOf(this.device);
    const stepped = steps.reduce((sum, k) => sum + chooseVariant(k, Math.max(...k.widths.map((w) => evaluateDim(w, this.sizes))), batch, this.sizes, parallel, this.paramTexture).cost, 0);
    return { persistent: choosePersistentVariant(persistent, batch, this.sizes, parallel, this.paramTexture).cost, stepped: steps.length === 0 ? Infinity : stepped };
  }

  #persists(batch: number): boolean {
    if (this.stepLoop === 'stepped') return false;
    // forced: a persistent kernel past the device's storage buffers is refused where it compiles (#compile)
    if (this.stepLoop === 'persistent') return true;
    const costs = this.stepLoopCosts(batch);
    return costs !== undefined && costs.persistent < costs.stepped;
  }

  async #pipeline(kernel: PlanKernel, variant: PlanVariant, constants: Record<string, number>): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; textured: boolean }> {
    const textured = this.paramTexture && kernel.usesParams && variant.vectorParams === true;
    const halves = kernel.usesParams ? this.halfParams : undefined;
    return { ...(await pipelineFor(this.device, kernel, variant.wgsl, constants, textured, halves)), textured };
  }

  /**
   * A hoisted, step or after kernel's variants that fit these sizes, by the estimate, fastest
   * first (what tuning times: runtime/tune.ts); none for the kernels whose variant is not
   * chosen by the estimate (persistent, scan and post kernels).
   */
  rankedVariants(kernel: PlanKernel, batch: number, steps = PLANNED_STEPS): { variant: PlanVariant; cost: number }[] {
    if (kernel.persistent || kernel.phase === 'scan' || kernel.phase === 'post') return [];
    const width = Math.max(...kernel.widths.map((w) => evaluateDim(w, this.sizes)));
    return rankVariants(kernel, width, estimatedRows(kernel, batch, steps), this.sizes, parallelismOf(this.device), this.paramTexture);
  }

  /** A kernel compiled with the given variant instead of the estimate's. */
  compileVariant(kernel: PlanKernel, batch: number, steps: number, variant: PlanVariant): Promise<CompiledKernel> {
    return this.#compile(kernel, batch, steps, variant);
  }

  /** A kernel compiled with the estimate's variant, whether or not kernelsFor runs it at this batch (a persistent kernel, or the step kernels it replaces). */
  compileKernel(kernel: PlanKernel, batch: number, steps: number): Promise<CompiledKernel> {
    return this.#compile(kernel, batch, steps);
  }

  /** Replaces what kernelsFor(batch, steps) gives with tuning's choice. */
  useKernels(batch: number, steps: number, kernels: readonly CompiledKernel[]): void {
    const key = shapeKey(batch, steps);
    this.#compiled.set(key, Promise.resolve([...kernels]));
    this.#tuned.add(key);
  }

  /** Whether tuning chose the kernels of this shape (useKernels). */
  tuned(batch: number, steps: number): boolean {
    return this.#tuned.has(shapeKey(batch, steps));
  }

  async #compile(kernel: PlanKernel, batch: number, steps: number, forced?: PlanVariant): Promise<CompiledKernel> {
    const { device, sizes } = this;
    const storageLimit = device.limits.maxStorageBuffersPerShaderStage;
    const storage = storageOf(kernel);
    if (storage > storageLimit) throw new ScheduleError(`kernel ${kernel.label} needs ${storage} storage buffers; this device allows ${storageLimit}`);
    const width = Math.max(...kernel.widths.map((w) => evaluateDim(w, sizes)));
    const parallel = parallelismOf(device);
    let variant: PlanVariant;
    let rowTiles: (steps: number) => number;
    const limit = device.limits.maxComputeInvocationsPerWorkgroup;
    if (kernel.persistent) {
      // one workgroup, as wide as the widest step kernel has tiles (within the device's limit)
      const chosen = choosePersistentVariant(kernel, batch, sizes, parallel, this.paramTexture);
      const workgroupSize = Math.min(limit, 256, Math.max(Math.min(parallel.simd, limit), nextPowerOfTwo(chosen.tiles)));
      const chunkSteps = persistentChunkSteps(kernel, chosen.variant, workgroupSize, batch, sizes);
      const shape = { workgroup_size: workgroupSize, ...(chunkSteps !== undefined ? { chunk_steps: chunkSteps } : {}) };
      const compiled = await this.#pipeline(kernel, chosen.variant, { ...this.constants, ...shape });
      const dispatch = () => [1, 1, 1] as const;
      if (chunkSteps === undefined) return { kernel, variant: chosen.variant, ...compiled, dispatch };
      return { kernel, variant: chosen.variant, ...compiled, dispatch, chunks: (steps: number) => Math.max(1, Math.ceil(steps / chunkSteps)) };
    }
    if (kernel.phase === 'scan') {
      // a workgroup per (variant.cols elements, batch row), variant.rows lanes along time (its size is in the WGSL):
      // the fewest time lanes that fill the device (its lanes, and with workgroups its threads), since each one adds work
      // (a stable sort: a twin reading four elements per load stays before its scalar tile)
      const byTimeLanes = kernel.variants.filter((v) => variantFits(v, sizes)).sort((a, b) => a.rows - b.rows);
      const fills = (v: PlanVariant) => batch * width * v.rows >= SCAN_FILL * parallel.threads * parallel.simd && Math.ceil(width / v.cols) * batch >= parallel.threads;
      variant = byTimeLanes.find(fills) ?? byTimeLanes.at(-1)!;
      const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
      if (batch > maxGroups) throw new Error(`kernel ${kernel.label} runs a workgroup per batch row; this device dispatches at most ${maxGroups} (batch ${batch})`);
      const compiled = await this.#pipeline(kernel, variant, { ...this.constants });
      const groups = [Math.ceil(width / variant.cols), batch, 1] as const;
      return { kernel, variant, ...compiled, dispatch: () => groups };
    }
    if (kernel.phase === 'post') {
      // a twin reading rows as vectors first, where the sizes line its loads up; the scalar tile last
      variant = forced ?? kernel.variants.find((v) => variantFits(v, sizes)) ?? kernel.variants.at(-1)!;
      const tiles = kernel.height ? Math.ceil(evaluateDim(kernel.height, sizes) / variant.rows) : 1;
      // a post kernel's workgroup y index is its column tile; there is no z to spill into
      if (tiles > device.limits.maxComputeWorkgroupsPerDimension) throw new Error(`kernel ${kernel.label} needs ${tiles} column tiles; this device dispatches at most ${device.limits.maxComputeWorkgroupsPerDimension}`);
      rowTiles = () => tiles;
    } else {
      const allSteps = kernel.phase !== 'step';
      variant = forced ?? chooseVariant(kernel, width, estimatedRows(kernel, batch, steps), sizes, parallel, this.paramTexture).variant;
      rowTiles = (steps: number) => Math.ceil((allSteps ? steps * batch : batch) / variant.rows);
    }
    const columnTiles = variant.wholeRows ? 1 : Math.ceil(width / variant.cols);
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    /** blocks along one dimension, those past the limit spilling into z */
    const spill = (blocks: number): [number, number] => [Math.min(blocks, maxGroups), Math.ceil(blocks / Math.min(blocks, maxGroups))];
    if (variant.lanes === 'rows') {
      // lanes along x own row tiles; each y index is one column tile
      const workgroupSize = chooseWorkgroupSize(rowTiles(32), columnTiles, limit, parallel);
      const compiled = await this.#pipeline(kernel, variant, { ...this.constants, workgroup_size: workgroupSize });
      const dispatch = (steps: number) => {
        const [x, z] = spill(Math.ceil(rowTiles(steps) / workgroupSize));
        return [x, columnTiles, z] as const;
      };
      return { kernel, variant, ...compiled, dispatch };
    }
    // plans from before 2-D workgroups declare no workgroup_rows; a post kernel's workgroup owns one column tile
    const rowsPerGroup = kernel.phase !== 'post' && variant.wgsl.includes('override workgroup_rows') ? workgroupRows(columnTiles, rowTiles(32), limit, parallel) : 1;
    const rowBlocks = (steps: number) => Math.ceil(rowTiles(steps) / rowsPerGroup);
    const workgroupSize = rowsPerGroup > 1 ? nextPowerOfTwo(columnTiles) : chooseWorkgroupSize(columnTiles, rowBlocks(32), limit, parallel);
    const shape: Record<string, number> = rowsPerGroup > 1 ? { workgroup_size: workgroupSize, workgroup_rows: rowsPerGroup } : { workgroup_size: workgroupSize };
    const chunkRows = kernel.rowLoop ? postChunkRows(kernel, sizes, batch) : undefined;
    if (chunkRows !== undefined) shape['chunk_rows'] = Math.min(chunkRows, 2 ** 32 - 1);
    const compiled = await this.#pipeline(kernel, variant, { ...this.constants, ...shape });
    const groupsX = Math.ceil(columnTiles / workgroupSize);
    const dispatch = (steps: number) => {
      const [y, z] = spill(rowBlocks(steps));
      return [groupsX, y, z] as const;
    };
    if (chunkRows === undefined) return { kernel, variant, ...compiled, dispatch };
    return { kernel, variant, ...compiled, dispatch, chunks: (steps: number) => Math.max(1, Math.ceil((steps * batch) / chunkRows)) };
  }

  bindGroups(kernels: readonly CompiledKernel[], bindings: PlanBindings): GPUBindGroup[] {
    return kernels.map(({ kernel, layout, textured }) => {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: bindings.uniforms, offset: 0, size: UNIFORM_BYTES } }];
      const params = this.halfParams ? halfParamsOf(this.device, bindings.params).buffer : bindings.params;
      if (kernel.usesParams) entries.push({ binding: entries.length, resource: { buffer: params } });
      if (kernel.usesGrads) {
        if (!bindings.grads) throw new Error(`internal: kernel ${kernel.label} needs a gradient buffer`);
        entries.push({ binding: entries.length, resource: { buffer: bindings.grads } });
      }
      for (const b of kernel.buffers) entries.push({ binding: entries.length, resource: { buffer: bindings.buffers[b.buffer]! } });
      if (textured) entries.push({ binding: PARAM_TEXTURE_BINDING, resource: paramTextureOf(this.device, bindings.params).view });
      return this.device.createBindGroup({ layout, entries, label: kernel.label });
    });
  }

  /**
   * Hoisted kernels, then every step (in the plan's direction) or the scan that replaces them, then after and post kernels. `only`
   * restricts the encoding to one kernel (all its steps), for profiling.
   */
  /** The parameters' copies brought up to date, then `kernels` (or only the one at `only`) over the sequence in one compute pass. */
  encodePass(encoder: GPUCommandEncoder, params: GPUBuffer, kernels: readonly CompiledKernel[], groups: readonly GPUBindGroup[], steps: number, stride: number, only?: number): void {
    this.refreshParams(encoder, params);
    const pass = encoder.beginComputePass();
    this.encode(pass, kernels, groups, steps, stride, only);
    pass.end();
  }

  encode(pass: GPUComputePassEncoder, kernels: readonly CompiledKernel[], groups: readonly GPUBindGroup[], steps: number, stride: number, only?: number): void {
    const phase = (name: PlanKernel['phase']) =>
      kernels.map((k, i) => ({ k, group: groups[i]!, i })).filter(({ k, i }) => k.kernel.phase === name && (only === undefined || only === i));
    // kernels over all steps dispatch once per chunk (post and persistent kernels split
    // their loops, MAX_LOOP_ITERATIONS), chunk c reading launch entry c; the others once
    const overAllSteps = (selected: readonly { k: CompiledKernel; group: GPUBindGroup }[]) => {
      for (const { k, group } of selected) {
        pass.setPipeline(k.pipeline);
        for (let c = 0; c < (k.chunks?.(steps) ?? 1); c++) {
          pass.setBindGroup(0, group, [c * stride]);
          pass.dispatchWorkgroups(...k.dispatch(steps));
        }
      }
    };
    overAllSteps(phase('hoisted'));
    overAllSteps(phase('scan'));
    // a persistent step kernel walks every step itself
    overAllSteps(phase('step').filter(({ k }) => k.kernel.persistent));
    const stepKernels = phase('step').filter(({ k }) => !k.kernel.persistent);
    const reverse = this.plan.direction === 'reverse';
    for (let s = 0; s < steps; s++) {
      const t = reverse ? steps - 1 - s : s;
      for (const { k, group } of stepKernels) {
        pass.setPipeline(k.pipeline);
        pass.setBindGroup(0, group, [t * stride]);
        pass.dispatchWorkgroups(...k.dispatch(steps));
      }
    }
    overAllSteps(phase('after'));
    overAllSteps(phase('post'));
  }
}

/**
 * The launch uniform: one 16-byte entry per step at the adapter's dynamic-offset alignment,
 * `{ t, steps, batch, seed }`. `data` is its host copy, kept to rewrite the seed.
 */
export function launchUniforms(device: GPUDevice, steps: number, batch: number, label: string, seed = 0): { buffer: GPUBuffer; stride: number; data: Uint32Array<ArrayBuffer> } {
  const stride = Math.max(UNIFORM_BYTES, device.limits.minUniformBufferOffsetAlignment);
  const buffer = device.createBuffer({ size: stride * steps, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label });
  const data = new Uint32Array((stride * steps) / 4);
  for (let t = 0; t < steps; t++) data.set([t, steps, batch, seed >>> 0], (t * stride) / 4);
  device.queue.writeBuffer(buffer, 0, data);
  return { buffer, stride, data };
}

/**
 * Sets the seed dropout masks are drawn from in every step's entry: one queued write, before
 * the submit that reads it, and none when the seed is unchanged.
 */
export function writeLaunchSeed(device: GPUDevice, uniforms: { buffer: GPUBuffer; stride: number; data: Uint32Array<ArrayBuffer> }, seed: number): void {
  const words = uniforms.stride / 4;
  if (uniforms.data[3] === seed >>> 0) return;
  for (let at = 3; at < uniforms.data.length; at += words) uniforms.data[at] = seed >>> 0;
  device.queue.writeBuffer(uniforms.buffer, 0, uniforms.data);
}
