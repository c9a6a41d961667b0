/**
 * The persistent kernel: every step kernel of a plan in one shader that one workgroup runs
 * once for the whole sequence, what a persistent RNN does. At each step (in the program's
 * direction) it runs the step's kernels in order: the invocations take a kernel's tiles in
 * turn, then all wait at a storage barrier, so what one kernel wrote (a GRU's r * h, the
 * states of step t) is visible to every invocation in the next. A small step then costs no
 * dispatch. Each kernel's tile body is the code its own step kernel runs (KernelWriter.body).
 */
import type { KernelSpec, Schedule } from './schedule.js';
import type { Dim } from './shape.js';
import { type GeneratedKernel, KernelWriter, type Tile } from './wgsl.js';

/**
 * Per step kernel: the widths its tiles cover (the largest), its storage accesses per tile
 * (the runtime's cost estimate) and the loop iterations of one tile (the runtime splits the
 * sequence into chunks of steps, a dispatch each, so that an invocation's loops stay under
 * the adapter's limit: MAX_LOOP_ITERATIONS in runtime/plan-runner.ts).
 */
export interface PersistentLevel {
  readonly widths: readonly Dim[];
  readonly accesses: Dim;
  /** the part of `accesses` that vector loads of parameters make */
  readonly vectorAccesses: Dim;
  readonly iterations: Dim;
}

export function writePersistentKernel(schedule: Schedule, steps: readonly KernelSpec[], tile: Tile): GeneratedKernel & { levels: PersistentLevel[] } {
  if (steps.length === 0 || steps.some((k) => k.phase !== 'step')) throw new Error('internal: a persistent kernel runs step kernels');
  const writers = steps.map((k) => new KernelWriter(schedule, k, { ...tile, persistent: true }));
  const bodies = writers.map((w) => w.body());
  const [first] = writers as [KernelWriter];
  for (const w of writers.slice(1)) first.absorb(w);
  const { rows, cols } = tile;
  const levels = bodies.map(({ widths, main }) => ({ widths, widthText: widths.map((w) => first.dim(w)).reduce((a, b) => `max(${a}, ${b})`), accesses: main.accesses.total, vectorAccesses: main.accesses.vector, iterations: main.accesses.iterations }));
  const reverse = schedule.program.direction === 'reverse';
  const rowIds = Array.from({ length: rows }, (_, r) => `      let r${r} = row0 + ${r}u;`);
  const wgsl = [
    ...first.header(false, { ...tile, persistent: true }),
    '',
    '@compute @workgroup_size(workgroup_size)',
    'fn main(@builtin(local_invocation_index) local: u32) {',
    '  let B = launch.batch;',
    '  let rows = B;',
    '  let T = launch.steps;',
    `  let row_tiles = (rows + ${rows - 1}u) / ${rows}u;`,
    ...levels.map((level, l) => `  let column_tiles${l} = (${level.widthText} + ${cols - 1}u) / ${cols}u;`),
    // chunk launch.t of the steps (chunk_steps, set by the runtime)
    '  let step_begin = min(T, launch.t * chunk_steps);',
    '  let step_end = min(T, step_begin + chunk_steps);',
    '  for (var s: u32 = step_begin; s < step_end; s = s + 1u) {',
    `    let t = ${reverse ? 'T - 1u - s' : 's'};`,
    ...bodies.flatMap(({ main }, l) => [
      `    for (var tile: u32 = local; tile < column_tiles${l} * row_tiles; tile = tile + workgroup_size) {`,
      `      let j0 = (tile % column_tiles${l}) * ${cols}u;`,
      `      let row0 = (tile / column_tiles${l}) * ${rows}u;`,
      ...rowIds,
      ...main.lines.map((line) => `    ${line}`),
      '    }',
      // what this kernel wrote, the next one (or the next step) reads
      '    storageBarrier();',
    ]),
    '  }',
    '}',
    '',
  ].join('\n');
  const accesses = levels.map((l) => l.accesses).reduce((a, b) => a.add(b));
  return {
    wgsl,
    usesParams: first.usesParams,
    buffers: first.bufferList(),
    widths: levels.flatMap((l) => l.widths),
    tile: { ...tile, persistent: true },
    accumulators: Math.max(...bodies.map((b) => b.accumulators)),
    accesses,
    sharedAccesses: bodies.map((b) => b.main.accesses.shared).reduce((a, b) => a.add(b)),
    levels: levels.map(({ widths, accesses, vectorAccesses, iterations }) => ({ widths, accesses, vectorAccesses, iterations })),
    ...(tile.vectorParams ? first.vectorUse : {}),
  };
}
