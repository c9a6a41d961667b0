// The compiler's own GEMM at n^3: bench/cells/projection.seq (y[t] = W @ x[t]) over T*B = n
// rows, K = N = n, compiled as seqc compiles any cell (its one kernel runs over all rows at
// once) and run by the runtime's PlanRunner with the tile it chooses; timed alone from the
// host (submit -> onSubmittedWorkDone, as bench/matmul.mjs), sampled against the CPU.
import { readFileSync } from 'node:fs';
import { lowerSource } from '../dist/compiler/frontend.js';
import { buildLaunchPlan } from '../dist/compiler/launch-plan.js';
import { allocateWorkspace, releaseWorkspace } from '../dist/runtime/workspace.js';
import { releaseParamTexture } from '../dist/runtime/param-texture.js';
import { PlanRunner, planConstants } from '../dist/runtime/plan-runner.js';
import { readFloats, sampledError, timeRuns } from './matmul.mjs';

const FILE = 'bench/cells/projection.seq';

/**
 * The GEMM compiled, its inputs uploaded and its result sampled against the CPU: `run` submits
 * one n^3 product and awaits it; `dispose` releases its buffers.
 */
export async function prepareSeqcGemm(device, { n = 1024 } = {}) {
  const plan = buildLaunchPlan(lowerSource(readFileSync(FILE, 'utf8'), FILE));
  const sizes = { K: n, N: n };
  const batch = Math.min(n, 32);
  const steps = n / batch;
  const W = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37)); // W [N, K] as the device stores it
  const weight = plan.params[0].columnMajor ? (j, k) => W[k * n + j] : (j, k) => W[j * n + k];
  const X = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.11)); // [rows, K]
  const params = device.createBuffer({ size: W.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  device.queue.writeBuffer(params, 0, W);
  const runner = new PlanRunner(device, plan, sizes, planConstants(plan, sizes, [0], n * n));
  const ws = allocateWorkspace(runner, steps, batch);
  const read = device.createBuffer({ size: n * n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const dispose = () => {
    releaseWorkspace(ws);
    releaseParamTexture(params);
    params.destroy();
    read.destroy();
  };
  try {
    const kernels = await runner.kernelsFor(batch, steps);
    const input = plan.buffers.findIndex((b) => b.kind === 'input');
    const output = plan.buffers.findIndex((b) => b.kind === 'readout');
    device.queue.writeBuffer(ws.buffers[input], 0, X);
    const groups = runner.bindGroups(kernels, { uniforms: ws.uniforms, params, buffers: ws.buffers });
    const run = async () => {
      const encoder = device.createCommandEncoder();
      runner.encodePass(encoder, params, kernels, groups, steps, ws.stride);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await run();
    const Y = await readFloats(device, ws.buffers[output], read, n * n);
    const { variant, textured } = kernels[0];
    return {
      n,
      flops: 2 * n ** 3,
      kernel: `${variant.rows}x${variant.cols}${variant.vectorParams ? ' vec4' : ''}${textured ? ', weights as texels' : ''}`,
      maxRelDiff: sampledError(Y, n, n, n, (row, k) => X[row * n + k], (k, col) => weight(col, k)),
      run,
      dispose,
    };
  } catch (error) {
    dispose();
    throw error;
  }
}

/** A prepared GEMM timed alone: median of `repeats` runs. */
export async function timeGemmAlone(gemm, repeats = 5) {
  const { median, min } = await timeRuns(gemm.run, repeats);
  return { n: gemm.n, kernel: gemm.kernel, medianMs: +median.toFixed(2), minMs: +min.toFixed(2), gflops: +(gemm.flops / median / 1e6).toFixed(2), maxRelDiff: gemm.maxRelDiff };
}
