/**
 * Gradients on the CPU in float64: the training forward, then its backward program, both by
 * the reference interpreter. Used to check the GPU's gradients, and checked itself against
 * finite differences of the forward loss.
 */
import { LOSS_TOTAL, adjointState, gradientName } from '../compiler/autodiff.js';
import type { Differentiated } from '../compiler/autodiff.js';
import { shapeSize } from '../compiler/shape.js';
import { type ReferenceRun, referenceForward } from './reference.js';

export interface ReferenceGradients {
  readonly loss: number;
  readonly params: Record<string, Float64Array>;
  readonly inputs: Record<string, Float64Array>;
  /** adjoints of the initial states, [lags, B, N] oldest first */
  readonly initialStates: Record<string, Float64Array>;
}

/** `run.inputs` must include `__target` and `__weight` (see compiler/loss.ts). */
export function referenceGradients({ forward, backward }: Differentiated, run: ReferenceRun): ReferenceGradients {
  const fwd = referenceForward(forward, run);
  const loads: Record<string, Float64Array> = { ...fwd.stateSequences };
  for (const [name, seq] of Object.entries(fwd.results)) if (!(name in loads)) loads[name] = seq;
  const bwd = referenceForward(backward, { ...run, loads, initialState: {} });
  const params: Record<string, Float64Array> = {};
  for (const p of forward.params) params[p.name] = bwd.accumulations[gradientName(p.name)] ?? new Float64Array(shapeSize(p.shape).evaluate(run.sizes));
  const inputs: Record<string, Float64Array> = {};
  for (const i of forward.inputs) {
    const r = bwd.results[gradientName(i.name)];
    if (r) inputs[i.name] = r;
  }
  const initialStates: Record<string, Float64Array> = {};
  for (const s of forward.states) {
    const n = shapeSize(s.shape).evaluate(run.sizes);
    const out = new Float64Array(s.maxLag * run.B * n);
    // the initial slot j steps before t = 0 receives what step k - j sent at lag k
    for (let j = 1; j <= s.maxLag; j++) {
      for (let k = j; k <= s.maxLag; k++) {
        const sent = bwd.results[adjointState(s.name, k)];
        const t = k - j;
        if (!sent || t >= run.T) continue;
        for (let i = 0; i < run.B * n; i++) out[(s.maxLag - j) * run.B * n + i]! += sent[t * run.B * n + i]!;
      }
    }
    initialStates[s.name] = out;
  }
  return { loss: bwd.accumulations[LOSS_TOTAL]![0]!, params, inputs, initialStates };
}
