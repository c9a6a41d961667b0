/**
 * Device memory shared between a plan's temporaries whose lifetimes do not overlap. A temp
 * (a value one kernel keeps for a later one: a GEMM's result, a softmax's row maximum) lives
 * from the first kernel that binds it to the last, in the order the runner encodes them:
 * hoisted kernels, the scan, the step loop (one span: every step kernel runs at every step),
 * after kernels, post kernels. Temps whose spans are disjoint take turns in one buffer, sized
 * for the largest. Only temps share: inputs, states, readouts and loads are read by the host
 * or by another plan (a backward pass reads its forward's states and readouts).
 */
import type { LaunchPlan, PlanKernel } from './plan.js';

const PHASE_ORDER: Record<PlanKernel['phase'], number> = { hoisted: 0, scan: 1, step: 2, after: 3, post: 4 };

/**
 * The position of each kernel in the encoding order. Kernels of one phase run in plan order,
 * except the step kernels (and the persistent kernel that stands for them), which all run at
 * every step and so share one position.
 */
function positions(plan: LaunchPlan): number[] {
  const order = plan.kernels.map((k, i) => ({ i, phase: PHASE_ORDER[k.phase], rank: k.phase === 'step' ? 0 : i }));
  order.sort((a, b) => a.phase - b.phase || a.rank - b.rank);
  const position: number[] = [];
  let at = -1;
  let last: { phase: number; rank: number } | undefined;
  for (const o of order) {
    if (!last || o.phase !== last.phase || o.rank !== last.rank) at++;
    position[o.i] = at;
    last = o;
  }
  return position;
}

/**
 * For each plan buffer, the index of the buffer whose storage it uses: itself, or an earlier
 * temp whose span ended before its own began (strictly, so that no kernel binds two temps
 * that share storage: a dispatch may not alias a writable binding). The first buffer of each
 * group holds the storage; its size must be the largest of the group's.
 */
export function storageOwners(plan: LaunchPlan): number[] {
  const owners = plan.buffers.map((_, i) => i);
  const position = positions(plan);
  const spans = new Map<number, { first: number; last: number }>();
  plan.kernels.forEach((kernel, k) => {
    for (const { buffer } of kernel.buffers) {
      if (plan.buffers[buffer]?.kind !== 'temp') continue;
      const span = spans.get(buffer);
      const p = position[k]!;
      spans.set(buffer, span ? { first: Math.min(span.first, p), last: Math.max(span.last, p) } : { first: p, last: p });
    }
  });
  // greedy interval colouring in order of first use: a temp takes the first storage free before it starts
  const storage: { owner: number; last: number }[] = [];
  for (const [buffer, span] of [...spans].sort((a, b) => a[1].first - b[1].first || a[0] - b[0])) {
    const free = storage.find((s) => s.last < span.first);
    if (free) {
      owners[buffer] = free.owner;
      free.last = span.last;
    } else storage.push({ owner: buffer, last: span.last });
  }
  return owners;
}
