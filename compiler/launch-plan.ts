/** Scheduled kernels to the launch plan the runtime executes (plain JSON, embeddable). */
import type { DimTerms, LaunchPlan, PlanTensor } from '../runtime/plan.js';
import type { CellProgram } from './ir.js';
import { schedule as scheduleCell } from './schedule.js';
import { type Dim, type Shape, formatShape } from './shape.js';
import { WORKGROUP_SIZE, generateKernel } from './wgsl.js';

export function dimTerms(dim: Dim): DimTerms {
  return [...dim.terms].map(([monomial, coefficient]) => [coefficient, ...(monomial === '' ? [] : monomial.split('*'))] as const);
}

function tensor(name: string, shape: Shape): PlanTensor {
  return { name, shape: shape.map(dimTerms), shapeText: formatShape(shape) };
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
      const generated = generateKernel(scheduled, k);
      return {
        label: `${program.name}/${k.phase}${k.level}#${i}`,
        phase: k.phase,
        wgsl: generated.wgsl,
        widths: generated.widths.map(dimTerms),
        usesParams: generated.usesParams,
        buffers: generated.buffers,
      };
    }),
    workgroupSize: WORKGROUP_SIZE,
  };
}
