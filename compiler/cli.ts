/**
 * The `seqc` command line. User mistakes (bad source, bad flags, missing files) print one
 * located message and exit 1; only a bug in seqc itself prints a stack trace (exit 2).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SeqError } from '../dsl/diagnostics.js';
import { emitModule } from './emit.js';
import { lowerFile, lowerSource, selectCell } from './frontend.js';
import { printModel } from './model.js';
import { type CellProgram, printProgram } from './ir.js';
import { buildLaunchPlan } from './launch-plan.js';
import { differentiate } from './autodiff.js';
import { withLengths } from './lengths.js';
import { type LossKind, type LossSpec, defaultLoss, withLoss } from './loss.js';
import type { TensorCheck } from './gradcheck.js';

export const DEFAULT_EXAMPLE = 'examples/lstm.seq';

const USAGE = `usage: seqc <command> [options]

commands:
  compile FILE.seq [-o OUT.js] [--cell NAME] [--runtime SPECIFIER] [--loss KIND[:OUTPUT]] [--lengths]
                     write an ES module (and OUT.d.ts) that runs the cell on WebGPU;
                     with --loss (mse, sigmoid-bce, softmax-ce) it also trains (trainStep);
                     with --lengths it takes per-sequence lengths (forward(x, s, { lengths }))
  compile FILE.seq [-o OUT.js] [--model NAME] [--runtime SPECIFIER]
                     a model (the default for a file with a model and no --cell): a module
                     whose create<Model>({ sizes, batch }) gives a LayeredModel (forward with
                     lengths, trainStep on the model's loss)
  ir FILE.seq [--grad [--loss KIND[:OUTPUT]]]
                     print the IR of every cell; with --grad, its training forward (with the
                     loss, default as for gradcheck) and its backward pass (a reverse scan)
  wgsl FILE.seq      print the generated WGSL kernels
  check FILE.seq     check the source (its cells and models) and report the first error
  run [FILE.seq] [--size NAME=N ...] [--steps T] [--batch B] [--repeats N] [--seed S] [--lengths]
      [--param-precision f32|f16] [--profile] [--step-loop auto|persistent|stepped]
                     run the cell on the WebGPU device found, compare it with the float64
                     CPU reference, print device, sizes, time and max error
                     (default: ${DEFAULT_EXAMPLE}, T=64, B=32; with f16 the kernels read the
                     parameters as halves and the reference is given those halves;
                     --profile: then each kernel's time alone, where the forward's time goes;
                     --step-loop: the persistent kernel or a dispatch per step, not the runtime's choice)
  gradcheck FILE.seq [--loss mse|sigmoid-bce|softmax-ce] [--output NAME] [--size NAME=N ...]
                     [--steps T] [--batch B] [--seed S] [--tolerance R] [--lengths]
                     GPU gradients of every parameter, input and initial state against float64
                     finite differences of the CPU reference (default: small random sizes,
                     T=5, B=3, softmax-ce on a readout else mse; exit 1 above R = 1e-3);
                     --lengths: with random per-sequence lengths (states hold past them)
  gradcheck FILE.seq [--model NAME] [--size NAME=N ...] [--steps T] [--batch B] [--seed S] [--tolerance R]
                     a model's GPU gradients, every parameter of every layer and direction,
                     against float64 finite differences of the whole model's loss, with random
                     per-sequence lengths (the default for a file with a model and no --cell)
  train [FILE.seq] [--out DIR] [--size NAME=N ...] [--batch B] [--steps T] [--minutes M]
                     [--max-steps N] [--lr R] [--clip C] [--seed S]
                     train a character language model (default examples/charlm.seq) on the
                     Brown corpus: progress, held-out bits/char, DIR/loss.svg, a checkpoint in
                     DIR (default runs/charlm) every 819,200 characters, at the end and on
                     Ctrl-C (defaults: B=64, T=16, 10 minutes, Adam lr 0.02 decaying linearly
                     to 0.002 over the budget, clip 5; scores and keeps a moving average of
                     the weights)
  sample DIR [--temperature T] [--length N] [--prime TEXT] [--seed S] [--beam K]
                     generate text from a checkpoint; --beam K: the K most probable
                     continuations to the end of the sentence (beam search, width K)
  score DIR "TEXT"   log-probability and bits/char of a text under a checkpoint
  help               show this text`;

/** A mistake in how seqc was called: printed without a stack trace. */
export class UsageError extends Error {}

/** Writes a file so that readers see the old content or the new, never half of it. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function readSource(file: string | undefined): { source: string; file: string } {
  if (!file) throw new UsageError('no input file: give a .seq file');
  try {
    return { source: readFileSync(file, 'utf8'), file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${file}: no such file`);
    if (code === 'EISDIR') throw new UsageError(`${file}: is a directory, not a .seq file`);
    throw new UsageError(`${file}: cannot read (${code ?? (error as Error).message})`);
  }
}

function parseSizes(values: readonly string[] | undefined): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const v of values ?? []) {
    const m = /^([A-Za-z_]\w*)=(\d+)$/.exec(v);
    if (!m) throw new UsageError(`--size ${v}: expected NAME=N, e.g. --size H=256`);
    sizes[m[1]!] = Number(m[2]);
  }
  return sizes;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} ${value}: expected a whole number >= 1`);
  return n;
}

/** Binds every size or reports, at the size's first use, that it has no value. */
export function bindSizes(program: CellProgram, given: Readonly<Record<string, number>>, file: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const name of Object.keys(given)) {
    if (!program.sizes.some((s) => s.name === name)) {
      throw new UsageError(`--size ${name}: cell ${program.name} has no size ${name}; its sizes are ${program.sizes.map((s) => s.name).join(', ')}`);
    }
  }
  for (const s of program.sizes) {
    const value = given[s.name] ?? s.default;
    if (value === undefined) {
      throw new SeqError(s.span ?? { file, start: 0, end: 1 }, `size ${s.name} is never given a value`, `pass --size ${s.name}=<n>, or declare a default in the cell: size ${s.name} = <n>`);
    }
    sizes[s.name] = value;
  }
  return sizes;
}

async function commandCompile(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string', short: 'o' }, cell: { type: 'string' }, model: { type: 'string' }, runtime: { type: 'string' }, loss: { type: 'string' }, lengths: { type: 'boolean' } } });
  const { source, file } = readSource(positionals[0]);
  const out = resolve(values.out ?? join(dirname(file), `${basename(file, extname(file))}.js`));
  const emitOptions = { runtime: values.runtime ?? 'seqc/runtime', sourceName: basename(file) };
  const write = ({ js, dts }: { js: string; dts: string }, what: string): void => {
    const dtsPath = out.replace(/\.(m?js)$/, '') + (out.endsWith('.mjs') ? '.d.mts' : '.d.ts');
    writeFileAtomic(out, js);
    writeFileAtomic(dtsPath, dts);
    console.log(`wrote ${out} and ${dtsPath} (${what})`);
  };
  const lowered = lowerFile(source, file);
  // a model when named, or when the file has one and no cell is named (as gradcheck does)
  if (values.model !== undefined || (values.cell === undefined && lowered.models.length > 0)) {
    if (values.cell !== undefined) throw new UsageError('--cell and --model: give one');
    const cellOnly = (['loss', 'lengths'] as const).find((k) => values[k] !== undefined);
    if (cellOnly) throw new UsageError(`--${cellOnly} goes with a cell (--cell NAME); a model trains on its loss line and always runs with lengths`);
    const { modelSpec, selectModel } = await import('./compile-model.js');
    const { emitModelModule } = await import('./emit-model.js');
    const model = selectModel(lowered, file, values.model);
    const spec = modelSpec(model);
    const layers = [...spec.layers, spec.head];
    const plans = new Set(layers.flatMap((l) => [l.plan, l.training.forward, l.training.backward]));
    const kernels = [...plans].reduce((n, p) => n + p.kernels.length, 0);
    write(emitModelModule(spec, model, emitOptions), `model ${model.name}, ${layers.length} layers, ${kernels} kernels`);
    return;
  }
  const cell = selectCell(lowered.cells, file, values.cell);
  const program = values.lengths ? withLengths(cell) : cell;
  const plan = buildLaunchPlan(program);
  let training;
  if (values.loss !== undefined) {
    const { buildTrainingPlans } = await import('./training.js');
    training = buildTrainingPlans(program, parseLoss(values.loss, program));
  }
  write(emitModule(plan, emitOptions, training), `cell ${plan.cell}, ${plan.kernels.length} kernels`);
}

/** `--loss KIND[:OUTPUT]`; the output defaults to the cell's first. */
function parseLoss(value: string, program: CellProgram): LossSpec {
  const [kind, output = program.outputs[0]!] = value.split(':') as [string, string | undefined];
  if (!['mse', 'sigmoid-bce', 'softmax-ce'].includes(kind)) throw new UsageError(`--loss ${value}: expected mse, sigmoid-bce or softmax-ce, optionally :OUTPUT`);
  if (!program.outputs.includes(output)) throw new UsageError(`--loss ${value}: cell ${program.name} outputs ${program.outputs.join(', ')}`);
  return { kind: kind as LossKind, output };
}

function commandIr(args: string[]): void {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { grad: { type: 'boolean' }, loss: { type: 'string' } } });
  const { source, file } = readSource(positionals[0]);
  const { cells, models } = lowerFile(source, file);
  if (!values.grad) {
    if (values.loss !== undefined) throw new UsageError('--loss goes with --grad');
    // a model's forward stack is a cell of its own, made for the model: printed after it
    const made = models.flatMap((m) => [printModel(m), ...m.layers.filter((l) => !cells.includes(l.cell)).map((l) => printProgram(l.cell))]);
    process.stdout.write([...cells.map(printProgram), ...made].join('\n'));
    return;
  }
  // the training forward (the cell, its loss, what the backward keeps) and the backward scan
  process.stdout.write(cells.map((cell) => {
    const { forward, backward } = differentiate(withLoss(cell, values.loss === undefined ? defaultLoss(cell) : parseLoss(values.loss, cell)));
    return `${printProgram(forward)}\n${printProgram(backward)}`;
  }).join('\n'));
}

function commandWgsl(args: string[]): void {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { cell: { type: 'string' } } });
  const { source, file } = readSource(positionals[0]);
  const plan = buildLaunchPlan(lowerSource(source, file, values.cell));
  for (const k of plan.kernels) {
    for (const v of k.variants) process.stdout.write(`// ===== ${k.label}, tile ${v.rows} rows x ${v.cols} elements${v.vectorParams ? ', params as vec4' : ''} =====\n${v.wgsl}\n`);
  }
}

function commandCheck(args: string[]): void {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  const { source, file } = readSource(positionals[0]);
  const { cells, models } = lowerFile(source, file);
  console.log(`${file}: ok (${[...cells.map((c) => c.name), ...models.map((m) => `model ${m.name}`)].join(', ')})`);
}

async function commandRun(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      size: { type: 'string', multiple: true },
      steps: { type: 'string' },
      batch: { type: 'string' },
      repeats: { type: 'string' },
      seed: { type: 'string' },
      cell: { type: 'string' },
      lengths: { type: 'boolean' },
      'param-precision': { type: 'string' },
      profile: { type: 'boolean' },
      'step-loop': { type: 'string' },
    },
  });
  const stepLoop = values['step-loop'] ?? 'auto';
  if (stepLoop !== 'auto' && stepLoop !== 'persistent' && stepLoop !== 'stepped') throw new UsageError(`--step-loop ${stepLoop}: expected auto, persistent or stepped`);
  const paramPrecision = values['param-precision'] ?? 'f32';
  if (paramPrecision !== 'f32' && paramPrecision !== 'f16') throw new UsageError(`--param-precision ${paramPrecision}: expected f32 or f16`);
  const { source, file } = readSource(positionals[0] ?? DEFAULT_EXAMPLE);
  const cell = lowerSource(source, file, values.cell);
  const program = values.lengths ? withLengths(cell) : cell;
  const sizes = bindSizes(program, parseSizes(values.size), file);
  const { runAgainstReference } = await import('./run.js');
  const report = await runAgainstReference(program, {
    sizes,
    steps: positiveInt('steps', values.steps, 64),
    batch: positiveInt('batch', values.batch, 32),
    repeats: positiveInt('repeats', values.repeats, 5),
    seed: positiveInt('seed', values.seed, 1),
    paramPrecision,
    profile: values.profile ?? false,
    stepLoop,
  });
  console.log(report.text);
  return report.ok ? 0 : 1;
}

async function commandGradcheck(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      loss: { type: 'string' },
      output: { type: 'string' },
      size: { type: 'string', multiple: true },
      steps: { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      tolerance: { type: 'string' },
      cell: { type: 'string' },
      lengths: { type: 'boolean' },
      model: { type: 'string' },
    },
  });
  const { source, file } = readSource(positionals[0]);
  const tolerance = values.tolerance === undefined ? 1e-3 : Number(values.tolerance);
  if (!(tolerance > 0)) throw new UsageError(`--tolerance ${values.tolerance}: expected a positive number`);
  if (values.model !== undefined || (values.cell === undefined && lowerFile(source, file).models.length)) {
    const cellOnly = (['loss', 'output', 'lengths'] as const).find((k) => values[k] !== undefined);
    if (cellOnly) throw new UsageError(`--${cellOnly} goes with a cell (--cell NAME); a model trains on its loss line and always runs with lengths`);
    return gradcheckModel(source, file, values, tolerance);
  }
  const cell = lowerSource(source, file, values.cell);
  const program = values.lengths ? withLengths(cell) : cell;
  const { gradCase, gradcheck } = await import('./gradcheck.js');
  const fallback = defaultLoss(program);
  const loss = (values.loss ?? fallback.kind) as 'mse' | 'sigmoid-bce' | 'softmax-ce';
  if (!['mse', 'sigmoid-bce', 'softmax-ce'].includes(loss)) throw new UsageError(`--loss ${loss}: expected mse, sigmoid-bce or softmax-ce`);
  const output = values.output ?? fallback.output;
  if (!program.outputs.includes(output)) throw new UsageError(`--output ${output}: cell ${program.name} outputs ${program.outputs.join(', ')}`);
  const seed = positiveInt('seed', values.seed, 1);
  const given = parseSizes(values.size);
  const random = (await import('../runtime/init.js')).Random;
  const pick = new random(seed);
  const small = Object.fromEntries(program.sizes.map((s) => [s.name, given[s.name] ?? 3 + Math.floor(pick.uniform() * 6)]));
  const sizes = bindSizes(program, small, file);
  const T = positiveInt('steps', values.steps, 5);
  const B = positiveInt('batch', values.batch, 3);
  return withDevice(async () => {
    const checks = await gradcheck(program, gradCase(program, loss, output, { T, B, sizes }, seed));
    console.log(`gradcheck ${program.name}: loss ${loss} on ${output}, sizes ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}, T=${T}, B=${B}, seed ${seed}`);
    return printChecks(checks, tolerance);
  });
}

/** The table of `seqc gradcheck`; exit status 0 when every check is within the tolerance. */
function printChecks(checks: readonly TensorCheck[], tolerance: number): number {
  console.log('  tensor                 checked  worst relative error');
  let ok = true;
  for (const c of checks) {
    const pass = c.worst <= tolerance;
    ok &&= pass;
    const where = pass || !c.at ? '' : `  at ${c.at.index}: gpu ${c.at.gpu} vs finite difference ${c.at.numeric}`;
    console.log(`  ${c.tensor.padEnd(22)} ${String(c.checked).padStart(7)}  ${c.worst.toExponential(2)} ${pass ? 'ok' : 'FAIL'}${where}`);
  }
  console.log(ok ? `PASS: every gradient within ${tolerance} of float64 finite differences` : `FAIL: gradients beyond ${tolerance}`);
  return ok ? 0 : 1;
}

/** `seqc gradcheck --model`: small random sizes unless given, random lengths. */
async function gradcheckModel(source: string, file: string, values: { model?: string; size?: string[]; steps?: string; batch?: string; seed?: string }, tolerance: number): Promise<number> {
  const { bindModelSizes, compileModel, selectModel } = await import('./compile-model.js');
  const { dropoutLayer, modelGradcheck } = await import('./model-gradcheck.js');
  const { Random } = await import('../runtime/init.js');
  const name = values.model;
  const model = selectModel(lowerFile(source, file), file, name);
  const given = parseSizes(values.size);
  for (const size of Object.keys(given)) {
    if (!model.sizes.some((s) => s.name === size)) throw new UsageError(`--size ${size}: model ${model.name} has no size ${size}; its sizes are ${model.sizes.map((s) => s.name).join(', ')}`);
  }
  const seed = positiveInt('seed', values.seed, 1);
  const pick = new Random(seed);
  const sizes = bindModelSizes(model, Object.fromEntries(model.sizes.map((s) => [s.name, given[s.name] ?? 3 + Math.floor(pick.uniform() * 6)])), file);
  const compiled = compileModel(source, file, { sizes, ...(name ? { model: name } : {}) });
  const dropout = dropoutLayer(compiled);
  if (dropout) throw new UsageError(`model ${model.name}: cell ${dropout} has dropout, which a layered model applies only within each cell's own step; check the cell alone with --cell ${dropout}`);
  const T = positiveInt('steps', values.steps, 5);
  const B = positiveInt('batch', values.batch, 3);
  return withDevice(async () => {
    const { lengths, checks } = await modelGradcheck(compiled, { T, B, seed });
    console.log(`gradcheck model ${model.name}: loss ${model.loss.kind} on ${model.output}, sizes ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}, T=${T}, B=${B}, lengths ${[...lengths].join(' ')}, seed ${seed}`);
    return printChecks(checks, tolerance);
  });
}

/** Runs work that uses the shared device, and releases it after so the process can exit. */
async function withDevice<T>(work: () => Promise<T>): Promise<T> {
  const { releaseDevice } = await import('../runtime/index.js');
  try {
    return await work();
  } finally {
    await releaseDevice();
  }
}

function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} ${value}: expected a positive number`);
  return n;
}

async function commandTrain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' }, size: { type: 'string', multiple: true }, batch: { type: 'string' }, steps: { type: 'string' },
      minutes: { type: 'string' }, 'max-steps': { type: 'string' }, lr: { type: 'string' }, clip: { type: 'string' }, seed: { type: 'string' },
    },
  });
  const { train } = await import('./language-model.js');
  return withDevice(async () => {
    console.log(
      await train({
        file: positionals[0] ?? 'examples/charlm.seq',
        out: values.out ?? join('runs', 'charlm'),
        sizes: parseSizes(values.size),
        batch: positiveInt('batch', values.batch, 64),
        steps: positiveInt('steps', values.steps, 16),
        minutes: positiveNumber('minutes', values.minutes, 10),
        maxSteps: positiveInt('max-steps', values['max-steps'], Number.MAX_SAFE_INTEGER),
        learningRate: positiveNumber('lr', values.lr, 2e-2),
        clip: positiveNumber('clip', values.clip, 5),
        seed: positiveInt('seed', values.seed, 1),
        write: writeFileAtomic,
      }),
    );
    return 0;
  });
}

async function commandSample(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { temperature: { type: 'string' }, length: { type: 'string' }, seed: { type: 'string' }, prime: { type: 'string' }, beam: { type: 'string' } },
  });
  if (!positionals[0]) throw new UsageError('give a checkpoint directory, e.g. seqc sample runs/charlm');
  const { beam, sample } = await import('./language-model.js');
  return withDevice(async () => {
    if (values.beam !== undefined) {
      if (values.temperature !== undefined || values.seed !== undefined) throw new UsageError('--beam searches for the most probable text; it takes no --temperature or --seed');
      console.log(await beam(positionals[0], { width: positiveInt('beam', values.beam, 4), length: positiveInt('length', values.length, 120), prime: values.prime ?? 'The ' }));
      return 0;
    }
    console.log(await sample(positionals[0], {
      temperature: positiveNumber('temperature', values.temperature, 0.8),
      length: positiveInt('length', values.length, 400),
      seed: positiveInt('seed', values.seed, 1),
      prime: values.prime ?? 'The ',
    }));
    return 0;
  });
}

async function commandScore(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (positionals.length < 2) throw new UsageError('usage: seqc score DIR "TEXT"');
  const { score } = await import('./language-model.js');
  return withDevice(async () => {
    console.log(await score(positionals[0]!, positionals.slice(1).join(' ')));
    return 0;
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  let source = '';
  try {
    switch (command) {
      case 'compile':
        source = readSourceQuietly(args);
        await commandCompile(args);
        return 0;
      case 'ir':
        source = readSourceQuietly(args);
        commandIr(args);
        return 0;
      case 'wgsl':
        source = readSourceQuietly(args);
        commandWgsl(args);
        return 0;
      case 'check':
        source = readSourceQuietly(args);
        commandCheck(args);
        return 0;
      case 'run':
        source = readSourceQuietly(args.length && !args[0]!.startsWith('-') ? args : [DEFAULT_EXAMPLE]);
        return await commandRun(args);
      case 'gradcheck':
        source = readSourceQuietly(args);
        return await commandGradcheck(args);
      case 'train':
        source = readSourceQuietly(args.length && !args[0]!.startsWith('-') ? args : ['examples/charlm.seq']);
        return await commandTrain(args);
      case 'sample':
        return await commandSample(args);
      case 'score':
        return await commandScore(args);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 1 : 0;
      default:
        throw new UsageError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof SeqError) {
      console.error(error.format(source));
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`seqc: error: ${(error as Error).message}`);
      return 1;
    }
    if (['NoAdapterError', 'SizeError', 'ScheduleError', 'CheckpointError', 'SafetensorsError'].includes((error as Error).name)) {
      console.error(`seqc: error: ${(error as Error).message}`);
      return 1;
    }
    console.error('seqc: internal error (a bug in seqc; please report it with the input that caused it):');
    console.error(error);
    return 2;
  }
}

/** The source text, for formatting errors; empty when it cannot be read (readSource reports that). */
function readSourceQuietly(args: string[]): string {
  const file = args.find((a) => !a.startsWith('-'));
  try {
    return file ? readFileSync(file, 'utf8') : '';
  } catch {
    return '';
  }
}
