/**
 * The GPU kit (bench/gpu-kit.mjs): what a lent GPU machine gets instead of node_modules. Its
 * files, staged away from this repository's node_modules, must run the session's programs on
 * their own: a missing file would only show on a device, whose minutes are few.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the bench, without types
import { stageKit } from '../bench/gpu-kit.mjs';

function run(cwd: string, ...args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr });
    });
  });
}

describe('the GPU kit', () => {
  let kit: string;
  beforeAll(async () => {
    kit = join(mkdtempSync(join(tmpdir(), 'seqc-kit-test-')), 'kit');
    await stageKit(kit);
  }, 120_000);
  afterAll(() => rmSync(dirname(kit), { recursive: true, force: true }));

  it('is staged where no node_modules above it could stand in for a missing file', () => {
    for (let dir = dirname(kit); dir !== dirname(dir); dir = dirname(dir)) expect(existsSync(join(dir, 'node_modules')), dir).toBe(false);
    expect(existsSync(join(kit, 'node_modules/webgpu/dist/linux-x64/dawn.node'))).toBe(true);
    expect(readdirSync(join(kit, 'node_modules'))).not.toContain('typescript');
  });

  it('runs seqc run and the LSTM forward/backward timing', async () => {
    const check = await run(kit, 'bin/seqc.js', 'run', 'examples/lstm.seq', '--size', 'I=4', '--size', 'H=8', '--steps', '3', '--batch', '2', '--repeats', '1', '--profile');
    expect(check.status, check.output).toBe(0);
    expect(check.output).toMatch(/^PASS/m);
    const timing = await run(kit, 'bench/lstm-fwd-bwd.mjs', '--batch', '2', '--steps', '3', '--input', '4', '--hidden', '8', '--repeats', '1');
    expect(timing.status, timing.output).toBe(0);
    expect(timing.output).toMatch(/"trainStep": \{/);
  }, 120_000);

  it('runs the bench with tfjs and ONNX Runtime from its own files', async () => {
    const out = join(dirname(kit), 'out');
    const bench = await run(kit, 'bench/run.mjs', '--quick', '--case', 'lstm-tiny', '--peers', 'seqc,tfjs-webgpu,ort-wasm', '--no-matmul', '--no-compile', '--out', out);
    expect(bench.status, bench.output).toBe(0);
    const [file] = readdirSync(out);
    const result = JSON.parse(readFileSync(join(out, file!), 'utf8'));
    const peers = result.cases[0].peers;
    for (const peer of ['seqc', 'tfjs-webgpu', 'ort-wasm']) expect(peers[peer]?.median, `${peer}: ${JSON.stringify(result.cases[0].skipped)}`).toBeGreaterThan(0);
  }, 180_000);
});
