#!/usr/bin/env node
// A step kernel's product alone, hand-written, to see what its time is made of on an adapter:
// out[r][j] = sum_k h[r][k] * W[k][j] for ROWS batch rows, COLS columns and K, each invocation
// owning R rows and C columns (weights as rgba32float texels, the parameter texture's layout),
// dispatched once per step like seqc's step kernels. --without h|w replaces that operand's
// loads with values computed in registers, so the arithmetic stays and the loads go; --h
// storage,read_write,uniform times each tile reading h from a read-only storage buffer, a
// writable one (as seqc's step kernels bind their state) and a uniform one. Prints ms a step and GFLOP/s
// for each tile, in rounds. docs/benchmarks.md ("What limits a step kernel") has its figures.
// Usage: node bench/step-lab.mjs [--tiles 8x32,16x32,32x16] [--rows 32] [--cols 1024] [--k 256] [--h storage,read_write,uniform] [--without h|w] [--rounds 3]
import { parseArgs } from 'node:util';
import { openGpu, seqcDevice } from './gpu.mjs';

const { values } = parseArgs({
  options: {
    tiles: { type: 'string', default: '8x32,16x32,32x16,8x16' }, rows: { type: 'string', default: '32' }, cols: { type: 'string', default: '1024' },
    k: { type: 'string', default: '256' }, h: { type: 'string', default: 'storage' }, without: { type: 'string', multiple: true, default: [] },
    steps: { type: 'string', default: '64' }, rounds: { type: 'string', default: '3' },
  },
});
const [ROWS, COLS, K, STEPS, ROUNDS] = ['rows', 'cols', 'k', 'steps', 'rounds'].map((k) => Number(values[k]));
const without = new Set(values.without);
const WORKGROUP = 16;

/** The kernel for an R x C tile (C a multiple of 4: C / 4 texels a k), h read from `source`. */
function kernel(R, C, source) {
  const T = C / 4;
  const L = [
    '@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;',
    '@group(0) @binding(1) var weights: texture_2d<f32>;',
    source === 'uniform' ? `@group(0) @binding(2) var<uniform> h: array<vec4<f32>, ${(ROWS * K) / 4}>;` : `@group(0) @binding(2) var<storage, ${source === 'read_write' ? 'read_write' : 'read'}> h: array<vec4<f32>>;`,
    `@compute @workgroup_size(${WORKGROUP})`,
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>) {',
    `  let j = gid.x * ${T}u;`,
    `  let row0 = gid.y * ${R}u;`,
    // both bindings stay in use when --without drops their loads from the loop
    '  let keep = h[gid.x & 1u].x + textureLoad(weights, vec2<u32>(0u, 0u), 0).x;',
  ];
  for (let r = 0; r < R; r++) for (let c = 0; c < T; c++) L.push(`  var a${r}_${c} = vec4<f32>(${r + c === 0 ? 'keep' : '0.0'});`);
  L.push(`  for (var k = 0u; k < ${K}u; k += 4u) {`);
  for (let q = 0; q < 4; q++) for (let c = 0; c < T; c++) L.push(without.has('w') ? `    let w${q}_${c} = vec4<f32>(f32(k + ${q * 7 + c}u), 1.0, 2.0, 3.0);` : `    let w${q}_${c} = textureLoad(weights, vec2<u32>(j + ${c}u, k + ${q}u), 0);`);
  for (let r = 0; r < R; r++) {
    L.push(without.has('h') ? `    let h${r} = vec4<f32>(f32(k + ${r}u), 0.5, 0.25, 0.125);` : `    let h${r} = h[((row0 + ${r}u) * ${K}u + k) >> 2u];`);
    for (let q = 0; q < 4; q++) for (let c = 0; c < T; c++) L.push(`    a${r}_${c} = fma(w${q}_${c}, vec4<f32>(h${r}[${q}]), a${r}_${c});`);
  }
  L.push('  }');
  for (let r = 0; r < R; r++) for (let c = 0; c < T; c++) L.push(`  out[(row0 + ${r}u) * ${COLS / 4}u + j + ${c}u] = a${r}_${c};`);
  L.push('}');
  return L.join('\n');
}

const device = await seqcDevice(await openGpu());
const out = device.createBuffer({ size: ROWS * COLS * 4, usage: GPUBufferUsage.STORAGE });
const weights = device.createTexture({ size: [COLS / 4, K], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
const h = device.createBuffer({ size: ROWS * K * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(h, 0, Float32Array.from({ length: ROWS * K }, (_, i) => Math.sin(i)));
const tiles = values.tiles.split(',').flatMap((t) => values.h.split(',').map((source) => [t, source])).map(([t, source]) => {
  const [R, C] = t.split('x').map(Number);
  if (!(ROWS % R === 0 && C % 4 === 0 && (COLS / C) % WORKGROUP === 0)) throw new Error(`tile ${t}: rows must divide ${ROWS}, columns be a multiple of 4 and ${COLS} / columns of ${WORKGROUP}`);
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: kernel(R, C, source) }), entryPoint: 'main' } });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }, { binding: 1, resource: weights.createView() }, { binding: 2, resource: { buffer: h } }] });
  return { name: `${t} ${source}`, pipeline, group, groups: [COLS / C / WORKGROUP, ROWS / R], ms: [] };
});

async function time({ pipeline, group, groups }) {
  const times = [];
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    for (let s = 0; s < STEPS; s++) pass.dispatchWorkgroups(...groups);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    times.push((performance.now() - start) / STEPS);
  }
  return times.slice(1).sort((a, b) => a - b)[1];
}

for (let round = 0; round < ROUNDS; round++) for (const tile of round % 2 ? [...tiles].reverse() : tiles) tile.ms.push(await time(tile));
console.log(`${ROWS}x${K} by ${K}x${COLS} a step${without.size ? `, without the loads of ${[...without].join(' and ')}` : ''}; median of ${ROUNDS} rounds`);
for (const tile of tiles) {
  const ms = [...tile.ms].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
  console.log(`  ${tile.name.padEnd(14)}  ${ms.toFixed(3)} ms a step  ${((2 * ROWS * COLS * K) / ms / 1e6).toFixed(1)} GFLOP/s`);
}
process.exit(0);
