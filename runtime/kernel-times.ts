/**
 * Where a run's time goes, kernel by kernel, timed from the host: each kernel is submitted
 * alone over the whole sequence and awaited. There are no timestamp queries on every adapter
 * (Dawn's OpenGL ES backend has none), so this is what works everywhere; a kernel's time
 * includes one submit's overhead, which the whole run pays once.
 */
import type { PlanKernel, PlanVariant } from './plan.js';

/** One row of a profile: the median and fastest host time of a kernel (or of a whole run). */
export interface KernelTime {
  readonly kernel: string;
  readonly ms: number;
  readonly minMs: number;
}

/** The kernel's label with the tile it runs, as a profile names it. */
export function kernelTimeLabel(kernel: PlanKernel, variant: PlanVariant): string {
  return `${kernel.label} (${variant.rows}x${variant.cols}${variant.lanes === 'rows' ? ', lanes own rows' : ''})`;
}

/** Runs `work` `repeats` times, one after another, and keeps the median and the fastest time. */
export async function timeRepeats(kernel: string, repeats: number, work: () => Promise<unknown>): Promise<KernelTime> {
  const times: number[] = [];
  for (let r = 0; r < Math.max(1, repeats); r++) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { kernel, ms: times[Math.floor(times.length / 2)]!, minMs: times[0]! };
}

/** Times `repeats` submits of what `record` encodes into a fresh command buffer, each awaited. */
export function timeSubmits(device: GPUDevice, kernel: string, repeats: number, record: (encoder: GPUCommandEncoder) => void): Promise<KernelTime> {
  return timeRepeats(kernel, repeats, () => {
    const encoder = device.createCommandEncoder({ label: `profile/${kernel}` });
    record(encoder);
    device.queue.submit([encoder.finish()]);
    return device.queue.onSubmittedWorkDone();
  });
}
