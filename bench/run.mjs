// npm run bench: seqc against TensorFlow.js (WebGPU backend) and ONNX Runtime Web (WebGPU EP,
// and its wasm backend as the CPU reference), all in this one process on one Dawn adapter.
//
//   node bench/run.mjs [--case lstm-big,gru-small ...] [--peers seqc,seqc-sequential,seqc-stepped,tfjs-webgpu,ort-webgpu,ort-wasm]
//                      (seqc-f16, not run by default: seqc's forward reading its parameters as halves)
//                      [--repeats 10] [--warmup 2] [--settle 1] [--quick] [--no-matmul] [--no-compile] [--out DIR]
//                      [--param-access texture|buffer]   (how seqc's kernels read parameters; default: the runtime's choice)
//                      [--tune]   (seqc times its candidate tiles at creation and keeps the fastest: CreateOptions.tune)
//
// Each case runs on every peer with the same seeded weights and inputs; each peer's output is
// checked once against seqc's (and seqc's against the float64 reference where that is cheap)
// outside the timed region. Timed runs await the result on the host; a case's peers are timed
// in alternation (bench/interleave.mjs), as is each forward's matmul rate against seqc's GEMM
// and the LSTM of its shape. Results go to bench/results/<date>-<adapter>.json (written atomically).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASES, caseData, maxAbsDiff } from './cases.mjs';
import { adapterInfo, closeGpu, installNavigatorGpu, openGpu, seqcDevice } from './gpu.mjs';
import { matmulBench } from './matmul.mjs';
import { prepareSeqcGemm, timeGemmAlone } from './seqc-gemm.mjs';
import { recurrenceAlone } from './recurrence.mjs';
import { timeInterleaved } from './interleave.mjs';
import { quiesce } from './quiesce.mjs';
import * as seqc from './peers/seqc.mjs';
import { setParamAccess } from '../dist/runtime/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const { values } = parseArgs({
  options: {
    case: { type: 'string', multiple: true, default: [] },
    peers: { type: 'string', default: 'seqc,seqc-sequential,seqc-stepped,tfjs-webgpu,ort-webgpu,ort-wasm' },
    repeats: { type: 'string' },
    warmup: { type: 'string' },
    settle: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-matmul': { type: 'boolean', default: false },
    'no-compile': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    'param-access': { type: 'string' },
    tune: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`node bench/run.mjs [--case ${Object.keys(CASES).join('|')}] [--peers seqc,seqc-sequential,seqc-stepped,seqc-f16,tfjs-webgpu,ort-webgpu,ort-wasm] [--repeats N] [--warmup N] [--settle N] [--quick] [--no-matmul] [--no-compile] [--out DIR] [--param-access texture|buffer] [--tune]`);
  process.exit(0);
}
const quick = values.quick;
const repeats = Number(values.repeats ?? (quick ? 3 : 10));
const warmup = Number(values.warmup ?? (quick ? 1 : 2));
// untimed runs of a peer before each of its timed ones in a round (bench/interleave.mjs)
const settle = Number(values.settle ?? 1);
const caseIds = values.case.flatMap((s) => s.split(',')).filter(Boolean);
const selected = caseIds.length ? caseIds : Object.keys(CASES).filter((k) => !CASES[k].hidden);
for (const id of selected) if (!CASES[id]) throw new Error(`unknown case ${id}; cases: ${Object.keys(CASES).join(', ')}`);
const peerNames = values.peers.split(',').filter(Boolean);
const KNOWN = ['seqc', 'seqc-sequential', 'seqc-stepped', 'seqc-f16', 'tfjs-webgpu', 'ort-webgpu', 'ort-wasm'];
for (const p of peerNames) if (!KNOWN.includes(p)) throw new Error(`unknown peer ${p}; peers: ${KNOWN.join(', ')}`);
if (!peerNames.includes('seqc')) throw new Error('seqc must be among the peers: the others are checked against it');

const log = (...a) => console.error(...a);

/** A peer that could not run this case: skipped (its own reason) or failed (the error). */
function failed(entry, peerName, error) {
  const skip = error?.constructor?.name === 'Skip';
  entry.skipped[peerName] = skip ? error.message : `failed: ${error?.stack?.split('\n').slice(0, 3).join(' | ') ?? error}`;
  log(`${entry.id}: ${peerName} ${skip ? 'skipped' : 'FAILED'}: ${entry.skipped[peerName]}`);
}

function diffOutputs(mine, theirs) {
  const diffs = {};
  for (const [name, value] of Object.entries(theirs)) if (mine[name]) diffs[name] = maxAbsDiff(mine[name], value);
  return Math.max(...Object.values(diffs));
}

let compile;
// --- seqc compile time, whole process: first, before any peer is loaded. Once ONNX Runtime's
// wasm backend has run, this process keeps a core busy for seconds (with one wasm thread, and
// with V8's wasm tier-up off too; the cause was not found): a compile spawned right after two
// of its runs took 310-495 ms against 212-258 before them, and 249-327 two seconds later.
if (!values['no-compile']) {
  log('seqc compile ...');
  const dir = mkdtempSync(join(tmpdir(), 'seqc-bench-'));
  const runs = [];
  for (let i = 0; i < (quick ? 1 : 5); i++) {
    const start = performance.now();
    const r = spawnSync(process.execPath, ['bin/seqc.js', 'compile', 'examples/lstm.seq', '-o', join(dir, 'lstm.js')], { encoding: 'utf8' });
    runs.push(performance.now() - start);
    if (r.status !== 0) throw new Error(`seqc compile failed: ${r.stderr}`);
  }
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...runs].sort((a, b) => a - b);
  compile = { command: 'node bin/seqc.js compile examples/lstm.seq -o lstm.js', medianMs: +sorted[Math.floor(sorted.length / 2)].toFixed(0), minMs: +sorted[0].toFixed(0), maxMs: +sorted.at(-1).toFixed(0), runs: runs.map((r) => +r.toFixed(0)) };
}

// --- the adapter, shared by every peer
const adapter = await openGpu();
const device = await seqcDevice(adapter);
if (values['param-access']) {
  if (!['texture', 'buffer'].includes(values['param-access'])) throw new Error(`--param-access takes texture or buffer, not ${values['param-access']}`);
  setParamAccess(device, values['param-access']);
}
const adapterDescription = adapterInfo(adapter);
log(`adapter: ${adapterDescription.route} (${adapterDescription.featureLevel}): ${[adapterDescription.vendor, adapterDescription.architecture, adapterDescription.description].filter(Boolean).join(' ')}`);
const peers = { seqc, 'seqc-sequential': seqc.sequential, 'seqc-stepped': seqc.stepped, 'seqc-f16': seqc.halves };
if (peerNames.some((p) => !p.startsWith('seqc'))) {
  installNavigatorGpu();
  if (peerNames.includes('tfjs-webgpu')) peers['tfjs-webgpu'] = await import('./peers/tfjs.mjs');
  if (peerNames.some((p) => p.startsWith('ort-'))) {
    const ort = await import('./peers/ort.mjs');
    peers['ort-webgpu'] = ort.webgpu;
    peers['ort-wasm'] = ort.wasm;
  }
}

let matmul;
const recurrence = [];
const efficiency = [];
const date = new Date().toISOString();
mkdirSync(values.out, { recursive: true });

function save(partial) {
const peerVersions = {};
for (const [name, p] of Object.entries(peers)) if (p.backendInfo) peerVersions[name] = p.backendInfo();
const output = {
  schema: 1,
  date,
  adapter: adapterDescription,
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpus: cpus().length,
  options: { cases: selected, peers: peerNames, repeats, warmup, settle, quick, ...(values['param-access'] ? { paramAccess: values['param-access'] } : {}), tune: values.tune },
  complete: !partial,
  peerVersions,
  cases: results,
  matmul: matmul ?? null,
  compile: compile ?? null,
  recurrence,
  efficiency,
  notes: [
    'times in ms per call, awaited on the host (seqc forward/trainStep, tfjs await data()/trainOnBatch, ORT await session.run)',
    'ratios: peer median / seqc median (> 1: seqc is faster)',
    'efficiency: the matmul GFLOP/s of each seqc forward (its matmuls\' 2*N*K per row, over its median), timed in rounds with seqc\'s own GEMM (gemmGflops) and the other forwards of its shape; ofBestMatmul against the faster of that GEMM and the tiled bench, ofLstm against the LSTM of those same rounds',
    'cases: every peer of a case is timed in rounds, each round running each peer once in a rotated order, so the machine\'s drift lands on all of them alike',
    'GRU is the reset-before form everywhere: examples/gru.seq, tfjs resetAfter: false (its only mode), ONNX linear_before_reset = 0',
  ],
};

const slug = [adapterDescription.vendor, adapterDescription.device || adapterDescription.description].filter(Boolean).join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'adapter';
const file = join(values.out, `${date.slice(0, 19).replace(/[:T]/g, '-')}-${slug}.json`);
writeFileSync(`${file}.tmp`, JSON.stringify(output, null, 2) + '\n');
renameSync(`${file}.tmp`, file);
return file;
}

const REFERENCE_BUDGET = 2e8; // multiply-adds the float64 reference may spend per case

const results = [];
let hoisted;
for (const id of selected) {
  const c = CASES[id];
  const data = caseData(c);
  const entry = { id, title: c.title, kind: c.kind, cell: c.file, sizes: Object.fromEntries(['B', 'T', 'I', 'H', 'O'].filter((k) => c[k] !== undefined).map((k) => [k, c[k]])), unit: 'ms', peers: {}, skipped: {}, ratios: {} };
  let baseline; // seqc's outputs (forward) or first two losses (train)
  const prepared = {};
  try {
    // every peer set up and checked first, outside the timed region (the first call also compiles)
    for (const peerName of peerNames) {
      const peer = peers[peerName];
      if (c.peers && !c.peers.includes(peerName)) {
        entry.skipped[peerName] = `not run for this case (its peers: ${c.peers.join(', ')})`;
        continue;
      }
      log(`${id}: ${peerName} ...`);
      let ready;
      try {
        const setupStart = performance.now();
        ready = await peer.prepare(c, data, { device, tune: values.tune });
        const record = {};
        if (c.kind === 'train') {
          const losses = [await ready.run(), await ready.run()];
          record.losses = losses.map((l) => +l.toFixed(6));
          if (peerName === 'seqc') baseline = losses;
          else record.maxAbsDiff = { against: 'seqc', value: Math.max(...losses.map((l, k) => Math.abs(l - baseline[k]))), what: 'loss of steps 1 and 2' };
        } else {
          const outputs = ready.outputs(await ready.run());
          if (peerName === 'seqc') {
            baseline = outputs;
            if (seqc.forwardMatmulFlops(c) / 2 <= REFERENCE_BUDGET) record.maxAbsDiff = { against: 'float64 reference', value: diffOutputs(seqc.reference(c, data), outputs) };
          } else {
            record.maxAbsDiff = { against: 'seqc', value: diffOutputs(baseline, outputs) };
          }
        }
        record.setupMs = +(performance.now() - setupStart).toFixed(0);
        if (ready.tuning?.length) {
          record.tuning = ready.tuning;
          for (const t of ready.tuning) log(`  tuned ${t.kernel}: ${t.times.map((x) => `${x.variant} ${x.ms} ms`).join(', ')} -> ${t.chosen}`);
        }
        prepared[peerName] = ready;
        entry.peers[peerName] = record;
      } catch (error) {
        failed(entry, peerName, error);
        try {
          ready?.dispose();
        } catch {}
      }
    }
    // the peers in alternation, so that the machine's drift lands on every one of them alike,
    // once the threads that preparing them started (a wasm module's compile) are idle
    entry.quiesce = await quiesce();
    log(`${id}: timing ${Object.keys(prepared).join(', ')} in alternation (after ${(entry.quiesce.waitedMs / 1000).toFixed(1)} s for background threads to go idle${entry.quiesce.timedOut ? ': they did not' : ''}) ...`);
    const runs = Object.fromEntries(Object.entries(prepared).map(([name, p]) => [name, p.run]));
    const onError = (peerName, error) => {
      failed(entry, peerName, error);
      delete entry.peers[peerName];
    };
    const timed = await timeInterleaved(runs, { warmup, repeats, settle, onError });
    for (const [peerName, times] of Object.entries(timed)) {
      const record = Object.assign(entry.peers[peerName], times);
      const diff = record.maxAbsDiff ? ` max|diff| ${record.maxAbsDiff.value.toExponential(2)} vs ${record.maxAbsDiff.against}` : '';
      log(`${id}: ${peerName} median ${record.median} ms (min ${record.min}, max ${record.max})${diff}`);
    }
    // where seqc's time went: the whole run, then each kernel alone (the training forward's hoisted GEMM gives its rate)
    if (prepared.seqc && entry.peers.seqc) {
      await quiesce();
      const rows = await prepared.seqc.profile();
      entry.peers.seqc.kernels = rows.map((r) => ({ kernel: r.kernel, ms: +r.ms.toFixed(2) }));
      log(`${id}: seqc per kernel (each alone over all steps): ${rows.map((r) => `${r.kernel} ${r.ms.toFixed(2)} ms`).join('; ')}`);
      const gemm = c.kind === 'train' && !hoisted && rows.find((r) => /\/hoisted0#/.test(r.kernel) && !/_grad\//.test(r.kernel));
      if (gemm) {
        const flops = 2 * c.T * c.B * 4 * c.H * c.I;
        hoisted = { case: id, kernel: gemm.kernel, ms: +gemm.ms.toFixed(2), gflops: +(flops / gemm.ms / 1e6).toFixed(2), what: 'training forward hoisted kernel (W @ x for all steps), timed alone' };
      }
    }
  } finally {
    for (const p of Object.values(prepared)) {
      try {
        p.dispose();
      } catch {}
    }
  }
  const mine = entry.peers.seqc?.median;
  for (const [name, r] of Object.entries(entry.peers)) if (name !== 'seqc' && mine && r.median) entry.ratios[name] = +(r.median / mine).toFixed(2);
  results.push(entry);
  save(true); // after every case, so a cut-short run keeps what it measured
}

// --- the recurrence alone where a scan replaces the step loop: the part of the forward the schedule changes
for (const id of selected) {
  const c = CASES[id];
  if (c.kind !== 'forward') continue;
  await quiesce();
  const alone = await recurrenceAlone(device, c, caseData(c), quick ? { repeats: 3, inner: 3 } : {});
  if (!alone) continue;
  recurrence.push({ id, ...alone });
  log(`${id}: recurrence alone: scan ${alone.schedules.scan.medianMs} ms, persistent ${alone.schedules.persistent.medianMs} ms, stepped ${alone.schedules.stepped.medianMs} ms`);
}

// --- the adapter's tiled matmul rate, and seqc's own GEMM (prepared once: timed alone here, in rounds below)
const gemm = values['no-matmul'] ? undefined : await prepareSeqcGemm(device, { n: quick ? 256 : 1024 });
if (gemm) {
  log('matmul ...');
  await quiesce();
  matmul = await matmulBench(device, quick ? { n: 256, repeats: 3, tiles: [{ TM: 4, TN: 4, WG: 64 }, { TM: 8, TN: 4, WG: 32 }] } : {});
  matmul.seqcHoisted = hoisted ?? null;
  matmul.seqcGemm = await timeGemmAlone(gemm, quick ? 3 : 5);
  log(`matmul ${matmul.n}^3: best ${matmul.best.gflops} GFLOP/s (${matmul.best.tile}, workgroup ${matmul.best.workgroup}); seqc's ${matmul.seqcGemm.gflops} GFLOP/s (${matmul.seqcGemm.kernel})`);
}

// --- each forward's matmul rate, timed in alternation with seqc's own GEMM and the LSTM at its
// shape: a rate measured minutes apart from the one it is compared with would carry the drift
const bestTiled = matmul?.best.gflops;
const forwards = gemm ? results.filter((e) => CASES[e.id].kind === 'forward' && e.peers.seqc) : [];
try {
  if (forwards.length) {
    log('matmul rate of each forward, in alternation with the GEMM ...');
    const shapeOf = (c) => [c.B, c.T, c.I, c.H].join(',');
    for (const shape of new Set(forwards.map((e) => shapeOf(CASES[e.id])))) {
      const group = forwards.filter((e) => shapeOf(CASES[e.id]) === shape);
      const prepared = {};
      try {
        for (const e of group) prepared[e.id] = await seqc.prepare(CASES[e.id], caseData(CASES[e.id]), { device, tune: values.tune });
        await quiesce();
        const timed = await timeInterleaved({ gemm: gemm.run, ...Object.fromEntries(Object.entries(prepared).map(([id, p]) => [id, p.run])) }, { warmup, repeats, settle });
        const gemmGflops = gemm.flops / timed.gemm.median / 1e6;
        const best = Math.max(gemmGflops, bestTiled ?? 0);
        const rows = group.map((e) => {
          const c = CASES[e.id];
          const flops = seqc.forwardMatmulFlops(c);
          const gflops = flops / timed[e.id].median / 1e6;
          return { id: e.id, family: c.family, shape: [c.B, c.T, c.I, c.H], matmulFlops: flops, medianMs: timed[e.id].median, gflops: +gflops.toFixed(2), gemmGflops: +gemmGflops.toFixed(2), ofBestMatmul: +(gflops / best).toFixed(3) };
        });
        const lstm = rows.find((x) => x.family === 'lstm');
        for (const x of rows) if (lstm && x !== lstm) x.ofLstm = +(x.gflops / lstm.gflops).toFixed(3);
        efficiency.push(...rows);
      } finally {
        for (const p of Object.values(prepared)) p.dispose();
      }
    }
  }
} finally {
  gemm?.dispose();
}

const file = save(false);

// --- the table
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
console.log(`\nseqc benchmark on ${adapterDescription.route}: ${adapterDescription.description || adapterDescription.device} (${adapterDescription.featureLevel}), node ${process.version}; ${warmup} warm-up + ${repeats} timed rounds, each run after ${settle} untimed\n`);
console.log(`${pad('case', 16)}${pad('peer', 13)}${lpad('min ms', 10)}${lpad('median ms', 11)}${lpad('max ms', 10)}  ${pad('max |diff|', 24)}`);
for (const e of results) {
  for (const [name, r] of Object.entries(e.peers)) {
    const d = r.maxAbsDiff ? `${r.maxAbsDiff.value.toExponential(1)} vs ${r.maxAbsDiff.against === 'seqc' ? 'seqc' : 'f64'}` : '';
    console.log(`${pad(e.id, 16)}${pad(name, 13)}${lpad(r.min.toFixed(1), 10)}${lpad(r.median.toFixed(1), 11)}${lpad(r.max.toFixed(1), 10)}  ${pad(d, 24)}`);
  }
  for (const [name, why] of Object.entries(e.skipped)) console.log(`${pad(e.id, 16)}${pad(name, 13)}  (${why.length > 100 ? why.slice(0, 100) + '…' : why})`);
  for (const [name, ratio] of Object.entries(e.ratios)) console.log(`${pad('', 16)}seqc is ${ratio >= 1 ? `${ratio}× faster than` : `${(1 / ratio).toFixed(2)}× slower than`} ${name}`);
}
const profiled = results.filter((e) => e.peers.seqc?.kernels);
if (profiled.length) console.log("\nwhere seqc's time goes: the whole forward (training: forward and backward) in one submit, then each kernel alone over all steps (ms)");
for (const e of profiled) {
  const [whole, ...kernels] = e.peers.seqc.kernels;
  console.log(`${pad(e.id, 16)}${lpad(whole.ms.toFixed(1), 8)}  ${kernels.map((k) => `${k.kernel} ${k.ms.toFixed(1)}`).join('; ')}`);
}
for (const r of recurrence) {
  const s = r.schedules;
  console.log(`\n${r.id}, the recurrence alone (T=${r.T}, B=${r.B}; median of ${r.inner} passes per submit): scan ${s.scan.medianMs} ms, persistent loop ${s.persistent.medianMs} ms (${r.ratios.persistent}×), a dispatch per step ${s.stepped.medianMs} ms (${r.ratios.stepped}×)`);
}
if (matmul) {
  console.log(`\ntiled matmul ${matmul.n}³: best ${matmul.best.gflops} GFLOP/s (${matmul.best.tile} per invocation, workgroup ${matmul.best.workgroup})${hoisted ? `; seqc hoisted GEMM ${hoisted.gflops} GFLOP/s (${hoisted.kernel})` : ''}`);
  const own = matmul.seqcGemm;
  console.log(`seqc's own GEMM ${own.n}³ (bench/cells/projection.seq): median ${own.medianMs} ms, ${own.gflops} GFLOP/s (${own.kernel}), max rel diff ${own.maxRelDiff.toExponential(1)} vs CPU`);
}
if (efficiency.length) {
  console.log(`\nmatmul rate of each seqc forward (2*N*K per matmul and row, over the median), timed in alternation with seqc's GEMM and the LSTM at its shape${bestTiled ? `; the tiled bench's best: ${bestTiled} GFLOP/s` : ''}`);
  for (const x of efficiency) console.log(`${pad(x.id, 16)}${lpad(x.medianMs.toFixed(1), 8)} ms${lpad(x.gflops.toFixed(2), 8)} GFLOP/s  ${lpad((100 * x.ofBestMatmul).toFixed(0), 4)}% of the best matmul (GEMM ${x.gemmGflops})${x.ofLstm !== undefined ? `  ${lpad((100 * x.ofLstm).toFixed(0), 4)}% of the LSTM's rate` : ''}`);
}
if (compile) console.log(`seqc compile examples/lstm.seq: median ${compile.medianMs} ms (whole process)`);
console.log(`\nresults: ${file}`);

device.destroy();
closeGpu();
process.exit(0);
