/**
 * The launch plan: everything the executor needs to run a compiled cell, as plain JSON so
 * a compiled module can embed it. It depends on nothing in the compiler.
 */

/** A symbolic size as terms [coefficient, ...size names]; [[4, 'H'], [1, 'I']] is 4*H + I. */
export type DimTerms = readonly (readonly [number, ...string[]])[];

export interface PlanTensor {
  readonly name: string;
  readonly shape: readonly DimTerms[];
  /** the same shape as source text, e.g. "[4*H, I]" */
  readonly shapeText: string;
}

export type PlanInit =
  | { readonly kind: 'zeros' | 'ones' | 'xavier' | 'orthogonal' }
  | { readonly kind: 'uniform'; readonly scale: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'constant'; readonly value: number }
  /** the first dimension in equal blocks, each filled with its value (e.g. a forget-gate bias) */
  | { readonly kind: 'blocks'; readonly values: readonly number[] };

export interface PlanInput extends PlanTensor {
  readonly onehot?: boolean;
  /** declared `mask[...]`: every element 0 or 1 */
  readonly binary?: boolean;
}

export interface PlanBuffer {
  readonly kind: 'input' | 'state' | 'readout' | 'temp' | 'load';
  /** the input, state or readout it holds; temps are named by the value they keep */
  readonly name: string;
  /** elements of one step of one batch element */
  readonly elements: DimTerms;
  /** leading steps kept before t = 0 (a state read at t-k keeps k) */
  readonly lags: number;
}

export interface PlanKernel {
  readonly label: string;
  /**
   * hoisted kernels run once over all steps before the loop, step kernels once per step,
   * after kernels once over all steps after it (what reads state but feeds no state), post
   * kernels last (sums over every step and row into the gradient buffer); a scan kernel runs
   * once in place of the step loop, every step's update by a parallel scan over time
   * (a recurrence affine in its state)
   */
  readonly phase: 'hoisted' | 'step' | 'scan' | 'after' | 'post';
  /**
   * A step kernel that stands for all the others: one workgroup, dispatched once, runs every
   * step kernel at every step itself. The runtime runs either it or the others.
   */
  readonly persistent?: boolean;
  /** the same kernel for several tile shapes; the runtime picks one for the batch size */
  readonly variants: readonly PlanVariant[];
  /** the element counts of its outputs (a post kernel over a matrix: its rows); invocations along x cover the largest */
  readonly widths: readonly DimTerms[];
  /** post kernels over a matrix: its columns, covered by workgroups along y (a variant's `rows` each) */
  readonly height?: DimTerms;
  /** binding 1 or 2: the packed gradient buffer, written by post kernels */
  readonly usesGrads?: boolean;
  /**
   * post kernels: loop iterations an invocation runs per row of all steps, and besides them;
   * the runtime splits the rows into chunks, a dispatch each, to stay within the adapter's
   * loop limit (MAX_LOOP_ITERATIONS in runtime/plan-runner.ts)
   */
  readonly rowLoop?: { readonly perRow: DimTerms; readonly fixed: DimTerms };
  /** binding 0 is the launch uniform, 1 the packed parameters (if `usesParams`), then these buffers */
  readonly usesParams: boolean;
  readonly buffers: readonly { readonly buffer: number; readonly write: boolean }[];
}

export interface PlanVariant {
  /** batch rows (hoisted and after kernels: rows of all steps) per invocation; a post kernel over a matrix: its columns per workgroup */
  readonly rows: number;
  /** consecutive output elements per invocation; a post kernel over a matrix: its rows; a scan kernel: per workgroup */
  readonly cols: number;
  /** 'rows': a workgroup's lanes own consecutive row tiles and share the column tile of its y index; otherwise lanes own column tiles */
  readonly lanes?: 'rows';
  /** with lanes 'rows': an invocation loops over its rows' whole width (one column tile), computing their reductions once */
  readonly wholeRows?: boolean;
  /** a persistent kernel's: per step kernel it runs, the widths its tiles cover and its accesses per tile */
  readonly levels?: readonly { readonly widths: readonly DimTerms[]; readonly accesses: DimTerms; readonly vectorAccesses?: DimTerms; readonly iterations?: DimTerms }[];
  /** storage accesses per invocation (loops by their trip counts; an element that differs between lanes 4, a shared one 1), to compare variants */
  readonly accesses?: DimTerms;
  /** the shared accesses alone: they differ between lanes too where a workgroup packs several row tiles */
  readonly sharedAccesses?: DimTerms;
  /** parameters bound as vec4s, some read four at a time: valid only where every `aligned` size is a multiple of 4 */
  readonly vectorParams?: boolean;
  readonly aligned?: readonly DimTerms[];
  /** the part of `accesses` that the four-wide parameter loads make (a vector twin's; a persistent one's per level) */
  readonly vectorAccesses?: DimTerms;
  readonly wgsl: string;
}

export interface LaunchPlan {
  readonly format: 'seqc-plan-1';
  readonly cell: string;
  /** 'reverse' plans (backward passes) run their steps from T-1 down to 0 */
  readonly direction: 'forward' | 'reverse';
  readonly sizes: readonly { readonly name: string; readonly default?: number }[];
  /** a `onehot` input's shape is [V]; its buffer holds one id per step and example */
  readonly inputs: readonly PlanInput[];
  /** `columnMajor` params are stored transposed on the device; the API speaks row-major */
  readonly params: readonly (PlanTensor & { readonly init: PlanInit; readonly columnMajor: boolean })[];
  readonly states: readonly (PlanTensor & { readonly initial: number; readonly lags: number })[];
  /** what forward returns at every step, in the order the cell lists them */
  readonly outputs: readonly (PlanTensor & { readonly kind: 'state' | 'readout' })[];
  readonly buffers: readonly PlanBuffer[];
  readonly kernels: readonly PlanKernel[];
  // WGSL override constants: size_i is sizes[i], param_i the offset of params[i] in the
  // packed parameter buffer, workgroup_size the invocations per workgroup.
}

export function evaluateDim(dim: DimTerms, sizes: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const [coefficient, ...names] of dim) {
    let product = coefficient;
    for (const n of names) {
      const value = sizes[n];
      if (value === undefined) throw new Error(`size ${n} is not bound`);
      product *= value;
    }
    total += product;
  }
  return total;
}

/** Whether a variant's vector loads line up at these sizes (PlanVariant.aligned). */
export function variantFits(variant: PlanVariant, sizes: Readonly<Record<string, number>>): boolean {
  return (variant.aligned ?? []).every((d) => evaluateDim(d, sizes) % 4 === 0);
}

/** Parameter offsets in the packed buffer are multiples of this, so that vector loads line up. */
export const PARAM_ALIGNMENT = 4;

export function tensorElements(tensor: PlanTensor, sizes: Readonly<Record<string, number>>): number {
  return tensor.shape.reduce((n, d) => n * evaluateDim(d, sizes), 1);
}

/** A [rows, cols] row-major matrix to its transpose [cols, rows], row-major: column-major storage and back. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** What a caller passes for an input: floats [T, B, ...shape], or for a onehot input its ids [T, B]. */
export type InputData = Float32Array | Int32Array | Uint32Array;

export function isInputData(data: unknown): data is InputData {
  return data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint32Array;
}

/** Values one step of one example takes in an input's data: its elements, or one id. */
export function inputStride(input: PlanInput, sizes: Readonly<Record<string, number>>): number {
  return input.onehot ? 1 : tensorElements(input, sizes);
}

/** The largest count of ids an f32 holds exactly (every whole number below 2^24). */
const MAX_IDS = 2 ** 24;

/**
 * An input as the device stores it. Floats pass as given. Ids are checked here, on the host
 * (a bad id must fail loudly, never read or write the wrong column), and stored as f32 like
 * every other buffer element: exact for ids below 2^24, and the kernels, buffers and
 * uploads need no second element type.
 */
export function deviceInput(input: PlanInput, data: InputData, sizes: Readonly<Record<string, number>>, batch: number): Float32Array {
  if (!input.onehot) {
    if (!(data instanceof Float32Array)) throw new Error(`input ${input.name} is ${input.binary ? 'mask' : ''}${input.shapeText} ${input.binary ? '0/1 values' : 'numbers'}: pass a Float32Array`);
    if (input.binary) {
      const bad = data.findIndex((v) => v !== 0 && v !== 1);
      if (bad >= 0) throw new Error(`input ${input.name} is mask${input.shapeText}: element ${bad} is ${data[bad]}; a mask holds only 0 and 1`);
    }
    return data;
  }
  const V = tensorElements(input, sizes);
  if (V > MAX_IDS) throw new Error(`input ${input.name} is onehot${input.shapeText} with ${V} ids; at most ${MAX_IDS} are supported`);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const id = data[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      const t = Math.floor(i / batch);
      throw new Error(`input ${input.name}: id ${id} at step ${t}, example ${i - t * batch} is not a whole number in [0, ${V}) (${input.name} is onehot${input.shapeText})`);
    }
    out[i] = id;
  }
  return out;
}
