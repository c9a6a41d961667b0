/**
 * `npm run bench`'s harness in its quick mode, seqc only (the peers take minutes on llvmpipe
 * and are not run here): two tiny cases, and the results file it writes has the shape the
 * docs describe.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { timeInterleaved } from '../bench/interleave.mjs';
import { quiesce } from '../bench/quiesce.mjs';

const out = mkdtempSync(join(tmpdir(), 'seqc-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench/run.mjs --quick', () => {
  it('times a tiny case on seqc and writes a results file', () => {
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--peers', 'seqc', '--case', 'lstm-tiny,mingru-tiny', '--repeats', '2', '--out', out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/lstm-tiny\s+seqc/);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[a-z0-9-]+\.json$/);
    const result = JSON.parse(readFileSync(join(out, files[0]!), 'utf8'));
    expect(result).toMatchObject({ schema: 1, complete: true, node: process.version, options: { cases: ['lstm-tiny', 'mingru-tiny'], peers: ['seqc'], repeats: 2, quick: true } });
    expect(typeof result.adapter.route).toBe('string');
    expect(result.adapter.featureLevel).toMatch(/^(compatibility|core)$/);
    const [entry] = result.cases;
    expect(entry).toMatchObject({ id: 'lstm-tiny', kind: 'forward', sizes: { B: 2, T: 8, I: 8, H: 16 }, unit: 'ms' });
    const seqc = entry.peers.seqc;
    expect(seqc.runs).toHaveLength(2);
    expect(seqc.min).toBeGreaterThan(0);
    expect(seqc.min).toBeLessThanOrEqual(seqc.median);
    expect(seqc.median).toBeLessThanOrEqual(seqc.max);
    expect(seqc.maxAbsDiff.against).toBe('float64 reference');
    expect(seqc.maxAbsDiff.value).toBeLessThan(1e-4);
    expect(entry.ratios).toEqual({});
    // where seqc's time went: the whole forward, then each kernel it ran
    expect(seqc.kernels[0].kernel).toMatch(/^whole forward/);
    expect(seqc.kernels.slice(1).map((k: { kernel: string }) => k.kernel).join(' ')).toMatch(/^LSTM\/hoisted0#0 \(\d+x\d+/);
    for (const k of seqc.kernels) expect(k.ms).toBeGreaterThan(0);
    expect(result.matmul.best.gflops).toBeGreaterThan(0);
    for (const v of result.matmul.variants) expect(v.maxRelDiff).toBeLessThan(1e-3);
    // the compiler's own GEMM (bench/cells/projection.seq) at 256^3, sampled against the CPU
    expect(result.matmul.seqcGemm).toMatchObject({ n: 256 });
    expect(result.matmul.seqcGemm.gflops).toBeGreaterThan(0);
    expect(result.matmul.seqcGemm.maxRelDiff).toBeLessThan(1e-4);
    expect(result.compile.medianMs).toBeGreaterThan(0);
    // the recurrence alone, for the cell whose recurrence is a scan: scan, persistent loop, a dispatch per step
    expect(result.recurrence.map((r: { id: string }) => r.id)).toEqual(['mingru-tiny']);
    const { schedules } = result.recurrence[0];
    expect(Object.keys(schedules)).toEqual(['scan', 'persistent', 'stepped']);
    expect(schedules.scan.kernels).toMatch(/scan/);
    expect(schedules.persistent.kernels).toMatch(/persistent/);
    for (const s of Object.values(schedules) as { medianMs: number }[]) expect(s.medianMs).toBeGreaterThan(0);
    // each forward's matmul rate, its FLOPs read off the IR (the LSTM's 2 x 4H x (I + H) per row and step), timed in rounds with seqc's GEMM
    const [lstm, mingru] = result.efficiency as { id: string; matmulFlops: number; medianMs: number; gflops: number; gemmGflops: number; ofBestMatmul: number; ofLstm?: number }[];
    expect(lstm).toMatchObject({ id: 'lstm-tiny', matmulFlops: 2 * 4 * 16 * (8 + 16) * 8 * 2 });
    expect(lstm!.gflops).toBeCloseTo(lstm!.matmulFlops / lstm!.medianMs / 1e6, 1);
    expect(lstm!.gemmGflops).toBeGreaterThan(0);
    expect(lstm!.ofBestMatmul).toBeCloseTo(lstm!.gflops / Math.max(result.matmul.best.gflops, lstm!.gemmGflops), 2);
    // minGRU (O = 8): Wz and Wn on x, Wy on h
    expect(mingru).toMatchObject({ id: 'mingru-tiny', matmulFlops: 2 * (2 * 16 * 8 + 8 * 16) * 8 * 2 });
    expect(mingru!.ofLstm).toBeCloseTo(mingru!.gflops / lstm!.gflops, 2);
  });
});

describe('timeInterleaved', () => {
  it('runs every run once a round, the order rotated each round, and drops one that throws', async () => {
    const calls: string[] = [];
    const dropped: string[] = [];
    const run = (name: string) => async () => {
      calls.push(name);
      if (name === 'c' && calls.filter((n) => n === 'c').length === 3) throw new Error('lost the device');
    };
    const timed = await timeInterleaved({ a: run('a'), b: run('b'), c: run('c') }, { warmup: 1, repeats: 4, settle: 0, onError: (name: string) => dropped.push(name) });
    // warm-up a b c; round 0 a b c; round 1 b a (c threw: its third call); round 2 a b; round 3 b a
    expect(calls).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'a', 'a', 'b', 'b', 'a']);
    expect(dropped).toEqual(['c']);
    expect(Object.keys(timed)).toEqual(['a', 'b']);
    expect(timed.a!.runs).toHaveLength(4);
    expect(timed.a!.min).toBeLessThanOrEqual(timed.a!.median);
  });

  it('times each run after settling runs of its own, which are not timed', async () => {
    const calls: string[] = [];
    const slowAfterOthers = (name: string) => async () => {
      // a run right after another's is slow, as one on cold caches is
      const cold = calls.length > 0 && calls.at(-1) !== name;
      calls.push(name);
      await new Promise((resolve) => setTimeout(resolve, cold ? 60 : 1));
    };
    const timed = await timeInterleaved({ a: slowAfterOthers('a'), b: slowAfterOthers('b') }, { warmup: 0, repeats: 3, settle: 1 });
    expect(calls).toEqual(['a', 'a', 'b', 'b', 'b', 'b', 'a', 'a', 'a', 'a', 'b', 'b']);
    expect(timed.a!.max).toBeLessThan(50);
    expect(timed.b!.max).toBeLessThan(50);
  });
});

describe('quiesce', () => {
  it('waits while another thread of the process keeps a core busy, and not when none does', async () => {
    const idle = await quiesce({ sampleMs: 200 });
    expect(idle.timedOut).toBeUndefined();
    expect(idle.waitedMs).toBeLessThan(2000);
    const worker = new Worker('const end = Date.now() + 1500; while (Date.now() < end) {}', { eval: true });
    try {
      await new Promise((resolve) => worker.once('online', resolve));
      const busy = await quiesce({ sampleMs: 200 });
      expect(busy.waitedMs).toBeGreaterThanOrEqual(1200);
      const capped = new Worker('const end = Date.now() + 1500; while (Date.now() < end) {}', { eval: true });
      await new Promise((resolve) => capped.once('online', resolve));
      expect(await quiesce({ sampleMs: 200, maxMs: 400 })).toMatchObject({ timedOut: true });
      await capped.terminate();
    } finally {
      await worker.terminate();
    }
  });
});
