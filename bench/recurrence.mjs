// The recurrence alone, for a cell whose recurrence is linear: the scan kernel against the
// sequential schedules that it replaces (the persistent kernel that walks every step, and a
// dispatch per step), each over the whole sequence with the same hoisted inputs. The forward
// as a whole also runs the hoisted GEMM and the readout, which are the same in every schedule;
// this isolates the part the scan changes. Each timed submit repeats the kernels `inner`
// times, so the host's submit-and-wait cost (about 0.1 ms) does not hide a short kernel.
import { readFileSync } from 'node:fs';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { createModel } from '../dist/runtime/index.js';
import { PlanRunner, planConstants } from '../dist/runtime/plan-runner.js';
import { allocateWorkspace, releaseWorkspace } from '../dist/runtime/workspace.js';
import { timeRuns } from './matmul.mjs';

const LOOP_PHASES = new Set(['scan', 'step']);

/** The schedules of the recurrence: null where the cell has no scan. */
export function recurrenceSchedules(c) {
  const cell = lowerSource(readFileSync(c.file, 'utf8'), c.file);
  const scanned = buildLaunchPlan(cell);
  if (!scanned.kernels.some((k) => k.phase === 'scan')) return null;
  const sequential = buildLaunchPlan(cell, { recurrence: 'sequential' });
  return {
    scan: scanned,
    persistent: { ...sequential, kernels: sequential.kernels.filter((k) => k.persistent || k.phase !== 'step') },
    stepped: { ...sequential, kernels: sequential.kernels.filter((k) => !k.persistent) },
  };
}

/** Median ms of one pass over the sequence by each schedule's loop kernels, on the case's weights and inputs. */
export async function recurrenceAlone(device, c, data, { repeats = 10, inner = 10 } = {}) {
  const schedules = recurrenceSchedules(c);
  if (!schedules) return null;
  const sizes = c.O === undefined ? { I: c.I, H: c.H } : { I: c.I, H: c.H, O: c.O };
  const result = { case: c.title, T: c.T, B: c.B, inner, schedules: {} };
  for (const [name, plan] of Object.entries(schedules)) {
    const model = await createModel(plan, { sizes, batch: c.B, device });
    model.setParams(data.params);
    const offsets = [...model.paramOffsets.values()].map((o) => o.offset);
    const runner = new PlanRunner(device, plan, model.sizes, planConstants(plan, model.sizes, offsets, model.paramCount));
    const ws = allocateWorkspace(runner, c.T, c.B);
    try {
      const kernels = await runner.kernelsFor(c.B, c.T);
      const groups = runner.bindGroups(kernels, { uniforms: ws.uniforms, params: model.paramBuffer, buffers: ws.buffers });
      const input = plan.buffers.findIndex((b) => b.kind === 'input');
      device.queue.writeBuffer(ws.buffers[input], 0, data.x);
      const only = (keep) => [kernels.filter((k) => keep(k.kernel)), groups.filter((_, i) => keep(kernels[i].kernel))];
      const submit = async ([ks, gs], times) => {
        const encoder = device.createCommandEncoder();
        runner.refreshParams(encoder, model.paramBuffer);
        const pass = encoder.beginComputePass();
        for (let r = 0; r < times; r++) runner.encode(pass, ks, gs, c.T, ws.stride);
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      };
      // the hoisted values the recurrence reads, from the case's inputs
      await submit(only((k) => k.phase === 'hoisted'), 1);
      const loop = only((k) => LOOP_PHASES.has(k.phase));
      // warm up as timed: a process's first passes over fresh buffers ran up to 1.7x slower
      await submit(loop, inner);
      const { median, min } = await timeRuns(() => submit(loop, inner), repeats);
      const label = loop[0].map((k) => `${k.kernel.label} (${k.variant.rows}x${k.variant.cols}${k.variant.aligned ? ' vec4' : ''})`).join(', ');
      result.schedules[name] = { kernels: label, medianMs: +(median / inner).toFixed(3), minMs: +(min / inner).toFixed(3) };
    } finally {
      releaseWorkspace(ws);
      model.dispose();
    }
  }
  const scan = result.schedules.scan.medianMs;
  result.ratios = { persistent: +(result.schedules.persistent.medianMs / scan).toFixed(2), stepped: +(result.schedules.stepped.medianMs / scan).toFixed(2) };
  return result;
}
