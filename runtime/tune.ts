/**
 * Tuning: where the estimate is unsure, time the candidates on the device. For each hoisted,
 * step and after kernel, the variants whose estimated cost is within TUNE_SPREAD of the best
 * are compiled and each run alone over scratch buffers of the shape the first run has (its
 * steps and batch; values do not matter, only time), and the fastest is kept for that batch size and length class (PlanRunner.kernelsFor).
 * The estimate stays the default: tuning compiles several variants per kernel (about a
 * second each on llvmpipe), which pays for a long run on one shape, not for a short one.
 */
import type { CompiledKernel, PlanRunner } from './plan-runner.js';
import type { PlanKernel } from './plan.js';
import { allocateWorkspace, releaseWorkspace } from './workspace.js';
import { releaseParamTexture } from './param-texture.js';
import { releaseHalfParams } from './param-halves.js';

/** Candidates: estimated within this factor of the best. */
const TUNE_SPREAD = 2;
/** At most this many candidates per kernel. */
const TUNE_CANDIDATES = 4;
/**
 * Rounds of timed runs, each running every candidate once, after a warm-up run each; a
 * candidate's fastest run counts (the least disturbed by other work). In rounds, since this
 * machine's speed drifts over seconds: timed one after the other, the steps of the two Elman
 * RNNs (tanh and ReLU: the same product) took 16.8 and 23.4 ms with their 32x16 tile against
 * 17.8 and 18.5 with 8x16, in one run.
 */
const TUNE_ROUNDS = 5;

export interface TuningRow {
  readonly kernel: string;
  /** each candidate timed, `rows x cols` (`v` for a vector twin, `r` for lanes owning rows, `w` for whole rows) and its fastest run in ms */
  readonly times: readonly { readonly variant: string; readonly ms: number }[];
  readonly chosen: string;
}

const describe = (k: CompiledKernel): string => `${k.variant.rows}x${k.variant.cols}${k.variant.vectorParams ? 'v' : ''}${k.variant.lanes === 'rows' ? 'r' : ''}${k.variant.wholeRows ? 'w' : ''}`;

/** Times the candidates of each kernel the runner runs at this shape and keeps the fastest for it; returns what was timed (nothing where the shape is tuned already). */
export async function tuneKernels(runner: PlanRunner, steps: number, batch: number): Promise<TuningRow[]> {
  if (runner.tuned(batch, steps)) return [];
  const { device, plan } = runner;
  const kernels = [...(await runner.kernelsFor(batch, steps))];
  const ws = allocateWorkspace(runner, steps, batch);
  const params = device.createBuffer({ size: Math.max(16, Math.ceil(runner.paramCount / 4) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label: `${plan.cell}/tune/params` });
  const grads = device.createBuffer({ size: (runner.paramCount + 1) * 4, usage: GPUBufferUsage.STORAGE, label: `${plan.cell}/tune/grads` });
  const bindings = { uniforms: ws.uniforms, params, grads, buffers: ws.buffers };
  const rows: TuningRow[] = [];
  try {
    const schedule = await tuneStepLoop(runner, kernels, bindings, steps, batch, ws.stride);
    if (schedule) {
      kernels.splice(0, kernels.length, ...schedule.kernels);
      rows.push(schedule.row);
    }
    for (let i = 0; i < kernels.length; i++) {
      const current = kernels[i]!;
      const candidates = runner.rankedVariants(current.kernel, batch, steps);
      if (candidates.length < 2) continue;
      const compiled: CompiledKernel[] = [];
      for (const { variant, cost } of candidates.slice(0, TUNE_CANDIDATES)) {
        if (cost > TUNE_SPREAD * candidates[0]!.cost) break;
        compiled.push(variant === current.variant ? current : await runner.compileVariant(current.kernel, batch, steps, variant));
      }
      if (compiled.length < 2) continue;
      const times = await timeInRounds(runner, compiled.map((c) => [c]), bindings, steps, ws.stride);
      const timed = compiled.map((c, k) => ({ compiled: c, ms: times[k]! }));
      const fastest = timed.reduce((a, b) => (b.ms < a.ms ? b : a));
      kernels[i] = fastest.compiled;
      rows.push({ kernel: current.kernel.label, times: timed.map((t) => ({ variant: describe(t.compiled), ms: +t.ms.toFixed(3) })), chosen: describe(fastest.compiled) });
    }
  } finally {
    releaseWorkspace(ws);
    releaseParamTexture(params);
    releaseHalfParams(params);
    params.destroy();
    grads.destroy();
  }
  runner.useKernels(batch, steps, kernels);
  return rows;
}

type Bindings = Parameters<PlanRunner['bindGroups']>[1];

/**
 * The step loop's schedule, where the plan has both: its persistent kernel against its step
 * kernels with a dispatch each, each way run alone over the steps. The estimate weighs
 * storage accesses and dispatches, not arithmetic, which the persistent kernel's one
 * workgroup runs on one thread (on llvmpipe a seq2seq attention decoder at B = 64 persists
 * at 35.7 ms where its step kernels take 22.7). Returns the kernels with the faster way.
 */
async function tuneStepLoop(runner: PlanRunner, kernels: readonly CompiledKernel[], bindings: Bindings, steps: number, batch: number, stride: number): Promise<{ kernels: CompiledKernel[]; row: TuningRow } | undefined> {
  const persistentKernel = runner.plan.kernels.find((k) => k.persistent);
  const stepKernels = runner.plan.kernels.filter((k) => k.phase === 'step' && !k.persistent);
  // as with tiles, only where the estimate is unsure (no step kernels: an infinite cost): a big LSTM's persistent kernel would take 6x its step kernels' time (1.3 s a run for its backward)
  const costs = runner.stepLoopCosts(batch);
  if (runner.stepLoop !== 'auto' || !persistentKernel || !costs || Math.max(costs.persistent, costs.stepped) > TUNE_SPREAD * Math.min(costs.persistent, costs.stepped)) return undefined;
  const compiled = async (kernel: PlanKernel) => kernels.find((k) => k.kernel === kernel) ?? (await runner.compileKernel(kernel, batch, steps));
  const persistent = [await compiled(persistentKernel)];
  const stepped = await Promise.all(stepKernels.map(compiled));
  const [persistentMs, steppedMs] = await timeInRounds(runner, [persistent, stepped], bindings, steps, stride);
  const keepPersistent = persistentMs! <= steppedMs!;
  const others = kernels.filter((k) => k.kernel.phase !== 'step');
  const persistentName = `persistent ${describe(persistent[0]!)}`;
  const row: TuningRow = {
    kernel: `${runner.plan.cell}/step loop`,
    times: [{ variant: persistentName, ms: +persistentMs!.toFixed(3) }, { variant: 'a dispatch per step', ms: +steppedMs!.toFixed(3) }],
    chosen: keepPersistent ? persistentName : 'a dispatch per step',
  };
  return { kernels: [...others, ...(keepPersistent ? persistent : stepped)], row };
}

/** Each candidate's fastest run over TUNE_ROUNDS rounds, the order rotated each round; a candidate is the kernels run together. */
async function timeInRounds(runner: PlanRunner, candidates: readonly (readonly CompiledKernel[])[], bindings: Bindings, steps: number, stride: number): Promise<number[]> {
  const { device } = runner;
  const runs = candidates.map((together) => {
    const groups = runner.bindGroups(together, bindings);
    return async (): Promise<number> => {
      const start = performance.now();
      const encoder = device.createCommandEncoder();
      runner.encodePass(encoder, bindings.params, together, groups, steps, stride);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
  });
  for (const run of runs) await run();
  const fastest = runs.map(() => Infinity);
  for (let round = 0; round < TUNE_ROUNDS; round++) {
    for (let k = 0; k < runs.length; k++) {
      const i = (round + k) % runs.length;
      fastest[i] = Math.min(fastest[i]!, await runs[i]!());
    }
  }
  return fastest;
}
