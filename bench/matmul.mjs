// The adapter's tiled matmul rate: a standalone WGSL kernel, C = A B with A [M, K] and B [K, N]
// row-major, each invocation computing a TM x TN block of C in registers (one load of A and
// of B per row and column of the block per k). Several tile shapes and workgroup sizes run;
// the best is the adapter's "tiled matmul GFLOP/s". Timed from the host: submit ->
// onSubmittedWorkDone (llvmpipe has no timestamp queries).

function kernel(M, N, K, TM, TN, WG) {
  const lines = [];
  const acc = [];
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) acc.push(`acc${i}_${j}`);
  lines.push(
    '@group(0) @binding(0) var<storage, read> a: array<f32>;',
    '@group(0) @binding(1) var<storage, read> b: array<f32>;',
    '@group(0) @binding(2) var<storage, read_write> c: array<f32>;',
    `@compute @workgroup_size(${WG})`,
    'fn main(@builtin(global_invocation_id) g: vec3u) {',
    `  let c0 = g.x * ${TN}u;`,
    `  let r0 = g.y * ${TM}u;`,
    `  if (c0 >= ${N}u || r0 >= ${M}u) { return; }`,
    ...acc.map((v) => `  var ${v} = 0.0;`),
    `  for (var k = 0u; k < ${K}u; k++) {`,
  );
  for (let i = 0; i < TM; i++) lines.push(`    let a${i} = a[(r0 + ${i}u) * ${K}u + k];`);
  for (let j = 0; j < TN; j++) lines.push(`    let b${j} = b[k * ${N}u + c0 + ${j}u];`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) lines.push(`    acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`);
  lines.push('  }');
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) lines.push(`  c[(r0 + ${i}u) * ${N}u + c0 + ${j}u] = acc${i}_${j};`);
  lines.push('}');
  return lines.join('\n');
}

const TILES = [
  { TM: 4, TN: 4, WG: 64 },
  { TM: 8, TN: 4, WG: 32 },
  { TM: 4, TN: 8, WG: 32 },
  { TM: 8, TN: 8, WG: 32 },
  { TM: 16, TN: 4, WG: 32 },
  { TM: 8, TN: 8, WG: 64 },
];

/** Times every tile shape on an n x n x n matmul; returns each variant and the best GFLOP/s. */
export async function matmulBench(device, { n = 1024, repeats = 5, tiles = TILES } = {}) {
  const M = n;
  const N = n;
  const K = n;
  const A = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37));
  const B = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.11));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const a = device.createBuffer({ size: A.byteLength, usage });
  const b = device.createBuffer({ size: B.byteLength, usage });
  const c = device.createBuffer({ size: M * N * 4, usage });
  const read = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(a, 0, A);
  device.queue.writeBuffer(b, 0, B);
  const flops = 2 * M * N * K;
  const variants = [];
  try {
    for (const { TM, TN, WG } of tiles) {
      const module = device.createShaderModule({ code: kernel(M, N, K, TM, TN, WG) });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [a, b, c].map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const once = async () => {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(Math.ceil(N / TN / WG), Math.ceil(M / TM));
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      };
      await once(); // warm-up (and the first run's lazy compile)
      // check a sample of C against the CPU once
      const C = await readFloats(device, c, read, M * N);
      const maxDiff = sampledError(C, M, N, K, (r, k) => A[r * K + k], (k, col) => B[k * N + col]);
      const { median, min } = await timeRuns(once, repeats);
      variants.push({ tile: `${TM}x${TN}`, workgroup: WG, medianMs: +median.toFixed(2), minMs: +min.toFixed(2), gflops: +(flops / median / 1e6).toFixed(2), maxRelDiff: maxDiff });
    }
  } finally {
    for (const buffer of [a, b, c, read]) buffer.destroy();
  }
  const best = variants.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { n, repeats, best: { tile: best.tile, workgroup: best.workgroup, gflops: best.gflops }, variants };
}

/** `count` floats of a buffer, through a mappable one at least as large. */
export async function readFloats(device, source, read, count) {
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, 0, read, 0, count * 4);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0, count * 4));
  read.unmap();
  return out;
}

/** The largest relative error of 64 spread elements of C [M, N] against sums over k of a(row, k) * b(k, col), in float64. */
export function sampledError(C, M, N, K, a, b) {
  let maxDiff = 0;
  for (let s = 0; s < 64; s++) {
    const r = (s * 131) % M;
    const col = (s * 977) % N;
    let sum = 0;
    for (let k = 0; k < K; k++) sum += a(r, k) * b(k, col);
    maxDiff = Math.max(maxDiff, Math.abs(sum - C[r * N + col]) / Math.max(1, Math.abs(sum)));
  }
  return maxDiff;
}

/** Median, fastest and slowest host time of `repeats` awaited calls of `once`. */
export async function timeRuns(once, repeats) {
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await once();
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times.at(-1) };
}
