/** Scheduled kernels to the launch plan the runtime executes (plain JSON, embeddable). */
import type { DimTerms, LaunchPlan, PlanTensor } from '../runtime/plan.js';
import type { CellProgram } from './ir.js';
import { schedule as scheduleCell } from './schedule.js';
import { type Dim, type Shape, formatShape } from './shape.js';
import { type Tile, generateKernel } from './wgsl.js';

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
const MAX_COLS = 16;

/** Tile shapes to emit: for each batch-row count, as many columns as the budget allows. */
function tilesFor(matmulsPerElement: number, scalarOutputs: boolean): Tile[] {
  return ROW_CHOICES.map((rows) => {
    if (scalarOutputs) return { rows, cols: 1 };
    if (matmulsPerElement === 0) return { rows, cols: 4 };
    let cols = 1;
    while (cols * 2 <= MAX_COLS && cols * 2 * rows * matmulsPerElement <= ACCUMULATOR_BUDGET) cols *= 2;
    return { rows, cols };
  });
}

export function buildLaunchPlan(program: CellProgram): LaunchPlan {
  const scheduled = scheduleCell(program);
  const results = new Map([...program.updates, ...program.readouts].map((r) => [r.name, r.value]));
  const stateNames = new Set(program.states.map((s) => s.name));
  return {
    format: 'seqc-plan-1',
    cell: program.name,
    sizes: program.sizes.map((s) => (s.default === undefined ? { name: s.name } : { name: s.name, default: s.default })),
    inputs: program.inputs.map((i) => tensor(i.name, i.shape)),
    params: program.params.map((p) => ({ ...tensor(p.name, p.shape), init: p.init, columnMajor: scheduled.columnMajor.has(p.name) })),
    states: program.states.map((s) => ({ ...tensor(s.name, s.shape), initial: s.initial, lags: s.maxLag })),
    outputs: program.outputs.map((name) => ({
      ...tensor(name, program.eqns[results.get(name)!]!.type.shape),
      kind: stateNames.has(name) ? ('state' as const) : ('readout' as const),
    })),
    buffers: scheduled.buffers.map((b) => ({ kind: b.kind, name: b.name, elements: dimTerms(b.elements), lags: b.lags })),
    kernels: scheduled.kernels.map((k, i) => {
      const single = generateKernel(scheduled, k);
      const variants = tilesFor(single.accumulators, single.widths.every((w) => w.constant === 1)).map((tile) =>
        tile.rows === 1 && tile.cols === 1 ? single : generateKernel(scheduled, k, tile),
      );
      return {
        label: `${program.name}/${k.phase}${k.level}#${i}`,
        phase: k.phase,
        widths: single.widths.map(dimTerms),
        usesParams: single.usesParams,
        buffers: single.buffers,
        variants: variants.map((v) => ({ rows: v.tile.rows, cols: v.tile.cols, wgsl: v.wgsl })),
      };
    }),
  };
}
