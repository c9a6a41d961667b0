/**
 * The main job: compile a cell, run it on the WebGPU device found with fresh random weights
 * and inputs, and check it against the float64 CPU reference.
 */
import { compare } from '../runtime/compare.js';
import { type SeqModel, createModel, releaseDevice } from '../runtime/index.js';
import { type ParamPrecision, readHalfParams } from '../runtime/param-halves.js';
import type { KernelTime } from '../runtime/kernel-times.js';
import { Random } from '../runtime/init.js';
import { referenceForward } from '../runtime/reference.js';
import type { LaunchPlan } from '../runtime/plan.js';
import type { StepLoop } from '../runtime/plan-runner.js';
import type { CellProgram } from './ir.js';
import { withoutDropout } from './inference.js';
import { buildLaunchPlan } from './launch-plan.js';
import { randomInputs, randomParams } from './random-data.js';

export interface RunOptions {
  readonly sizes: Readonly<Record<string, number>>;
  readonly steps: number;
  readonly batch: number;
  readonly repeats: number;
  readonly seed: number;
  /** how the kernels store the parameters they read (CreateOptions.paramPrecision) */
  readonly paramPrecision?: ParamPrecision;
  /** also time each kernel alone (SeqModel.profile) and report where the forward's time goes */
  readonly profile?: boolean;
  /** how the step loop runs (CreateOptions.stepLoop) */
  readonly stepLoop?: StepLoop;
}

export interface RunReport {
  readonly ok: boolean;
  readonly text: string;
  readonly medianMs: number;
  readonly maxAbsError: number;
  /** with `profile`: the whole forward, then each kernel alone */
  readonly profile?: readonly KernelTime[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function kernelCounts(plan: LaunchPlan): string {
  const count = (phase: LaunchPlan['kernels'][number]['phase']) => plan.kernels.filter((k) => k.phase === phase && !k.persistent).length;
  const persistent = plan.kernels.some((k) => k.persistent) ? ' (or one persistent kernel for every step)' : '';
  const loop = count('scan') ? `${count('scan')} parallel scan over time` : `${count('step')} per step${persistent}`;
  return `${count('hoisted')} hoisted, ${loop}, ${count('after')} after the loop`;
}

/** The profile as a table: each kernel's median and its share of the kernels' sum. */
function profileLines(rows: readonly KernelTime[], repeats: number): string[] {
  const [whole, ...kernels] = rows;
  const sum = kernels.reduce((s, r) => s + r.ms, 0);
  const line = (r: KernelTime, share: string) => `  ${r.ms.toFixed(2).padStart(9)} ms  (min ${r.minMs.toFixed(2).padStart(8)})  ${share.padStart(4)}  ${r.kernel}`;
  return [
    `profile: host time, median of ${repeats}; each kernel submitted alone over all steps (its share of their sum)`,
    line(whole!, ''),
    ...kernels.map((r) => line(r, `${Math.round((100 * r.ms) / sum)}%`)),
  ];
}

/**
 * The parameters as a model's kernels read them, by name: with halves, the device's half copy
 * widened back to f32 (exact), which the f32 buffer then holds too, so every later forward
 * reads the same halves; otherwise the f32 parameters.
 */
async function paramsAsRead(model: SeqModel, precision: ParamPrecision): Promise<Record<string, Float32Array>> {
  if (precision === 'f16') model.device.queue.writeBuffer(model.paramBuffer, 0, await readHalfParams(model.device, model.paramBuffer));
  return model.getParams();
}

export async function runAgainstReference(program: CellProgram, options: RunOptions): Promise<RunReport> {
  const { sizes, steps, batch, repeats } = options;
  const precision = options.paramPrecision ?? 'f32';
  const random = new Random(options.seed);
  const plan = buildLaunchPlan(program);
  const model = await createModel(plan, { sizes, batch, seed: options.seed, paramPrecision: precision, stepLoop: options.stepLoop ?? 'auto' });
  try {
    const params = randomParams(program, sizes, random);
    model.setParams(params);
    const inputs = randomInputs(program, sizes, steps, batch, random);
    const first = await model.forward(inputs); // warm-up: pipelines, buffers
    const read = await paramsAsRead(model, precision);
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = performance.now();
      await model.forward(inputs);
      times.push(performance.now() - start);
    }
    const profile = options.profile ? await model.profile(inputs, undefined, { repeats }) : undefined;
    // the inference forward: dropout is the identity, in the plan and in the reference
    const reference = referenceForward(withoutDropout(program), { params: read, inputs, sizes, T: steps, B: batch });
    const lines: string[] = [];
    let ok = true;
    let maxAbs = 0;
    const check = (label: string, actual: Float32Array, expected: Float64Array) => {
      const c = compare(actual, expected);
      ok &&= c.ok;
      maxAbs = Math.max(maxAbs, c.maxAbs);
      lines.push(`  ${label.padEnd(14)} max |gpu - f64| = ${c.maxAbs.toExponential(2)}${c.ok ? '' : `  FAIL at ${c.worst?.index}: ${c.worst?.actual} vs ${c.worst?.expected}`}`);
    };
    for (const name of Object.keys(reference.outputs)) check(`output ${name}`, first.outputs[name]!, reference.outputs[name]!);
    for (const name of Object.keys(reference.finalStates)) check(`final ${name}`, first.states[name]!, reference.finalStates[name]!);
    const sorted = [...times].sort((a, b) => a - b);
    const text = [
      `cell ${program.name}: ${plan.kernels.length} kernels (${kernelCounts(plan)})`,
      `device: ${model.deviceDescription}`,
      `sizes: ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}  steps T=${steps}  batch B=${batch}`,
      ...(precision === 'f16' ? [`parameters: read as halves (${model.device.features.has('shader-f16') ? 'f16' : 'packed in u32s'}); the reference is given the same halves`] : []),
      `forward: median ${median(times).toFixed(2)} ms (min ${sorted[0]!.toFixed(2)}, max ${sorted[sorted.length - 1]!.toFixed(2)}) over ${repeats} runs after warm-up`,
      ...lines,
      ok ? 'PASS: GPU equals the float64 reference within 1e-5 (abs + rel)' : 'FAIL: GPU differs from the float64 reference beyond 1e-5 (abs + rel)',
      ...(profile ? profileLines(profile, repeats) : []),
    ].join('\n');
    return { ok, text, medianMs: median(times), maxAbsError: maxAbs, ...(profile ? { profile } : {}) };
  } finally {
    model.dispose();
    await releaseDevice();
  }
}
