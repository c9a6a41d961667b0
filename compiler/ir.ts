/**
 * The IR: a cell is a step graph (equations in topological order) run along time by an
 * implicit scan. Leaves read inputs x[t], parameters and past states h[t-k]; the step
 * yields new states and readouts.
 */
import type { Span } from '../dsl/span.js';
import type { PlanInit } from '../runtime/plan.js';
import { type Attrs, type OpName, type Type } from './ops.js';
import type { Shape } from './shape.js';

export interface Eqn {
  readonly id: number;
  readonly op: OpName;
  readonly args: readonly number[];
  readonly attrs: Attrs;
  readonly type: Type;
  readonly span?: Span;
}

/** Initializers are data the runtime interprets, so their type lives with the plan. */
export type Initializer = PlanInit;

export interface SizeDecl {
  readonly name: string;
  readonly default?: number;
  /** where the size first appears, for located "no value" errors */
  readonly span?: Span;
}
export interface InputDecl {
  readonly name: string;
  readonly shape: Shape;
  /**
   * An id input (`x: onehot[V]`): the device and the caller hold one id in [0, V) per step
   * and example; its value, as any leaf's, is the vector of `shape` with element j = (id == j).
   */
  readonly onehot?: boolean;
  /** a 0/1 mask the runtime derives from sequence lengths (compiler/lengths.ts): data, no gradient */
  readonly mask?: boolean;
  /** declared `mask[...]`: 0/1 data the caller gives (attention's valid or causal steps), no gradient */
  readonly binary?: boolean;
}
export interface ParamDecl {
  readonly name: string;
  readonly shape: Shape;
  readonly init: Initializer;
}
export interface StateDecl {
  readonly name: string;
  readonly shape: Shape;
  readonly initial: number;
  /** the furthest step back the cell reads (h[t-2] makes it 2) */
  readonly maxLag: number;
}
/** A sequence buffer of another program that this one reads (a backward pass reads the forward's). */
export interface LoadDecl {
  readonly name: string;
  readonly shape: Shape;
  /** slots the buffer keeps before t = 0 (a forward state keeps its lags) */
  readonly lags: number;
}

export interface Binding {
  readonly name: string;
  readonly value: number;
}

export interface CellProgram {
  readonly name: string;
  readonly sizes: readonly SizeDecl[];
  readonly inputs: readonly InputDecl[];
  readonly params: readonly ParamDecl[];
  readonly states: readonly StateDecl[];
  readonly eqns: readonly Eqn[];
  /** new state values, one per state */
  readonly updates: readonly Binding[];
  /** per-step outputs that are not carried */
  readonly readouts: readonly Binding[];
  /** what the cell returns at every step: state or readout names */
  readonly outputs: readonly string[];
  /** 'reverse' runs t = T-1 down to 0, and `state` leaves read t + lag (a backward pass) */
  readonly direction?: 'forward' | 'reverse';
  readonly loads?: readonly LoadDecl[];
  /** values summed over every step and batch row after the loop (parameter gradients) */
  readonly accumulations?: readonly Binding[];
  /**
   * Per-step values written side by side into one readout buffer, each at its offset: what a
   * backward pass loads from its forward, in one binding however many values it needs.
   */
  readonly packed?: { readonly name: string; readonly size: Shape[number]; readonly values: readonly { readonly value: number; readonly offset: Shape[number] }[] };
}

/** Every value the step yields: state updates first, then readouts, then accumulations. */
export function stepResults(program: CellProgram): Binding[] {
  const packed = (program.packed?.values ?? []).map((v, i) => ({ name: `${program.packed!.name}#${i}`, value: v.value }));
  return [...program.updates, ...program.readouts, ...(program.accumulations ?? []), ...packed];
}

export function formatType(type: Type): string {
  const dims = type.shape.map(String);
  return `f32[${(type.batched ? ['B', ...dims] : dims).join(', ')}]`;
}

function formatInit(init: Initializer): string {
  switch (init.kind) {
    case 'uniform':
      return `uniform(${init.scale})`;
    case 'normal':
      return `normal(${init.std})`;
    case 'constant':
      return `constant(${init.value})`;
    case 'blocks':
      return `blocks(${init.values.join(', ')})`;
    default:
      return init.kind;
  }
}

function formatAttrs(e: Eqn): string {
  const { name, lag, value, start, size } = e.attrs;
  switch (e.op) {
    case 'input':
      return ` ${name}[t]`;
    case 'state':
      return ` ${name}[t-${lag}]`;
    case 'load':
      return lag ? ` ${name}[t-${lag}]` : ` ${name}[t]`;
    case 'param':
      return ` ${name}`;
    case 'const':
      return ` ${value}`;
    case 'slice':
    case 'pad':
      return ` {start: ${start}, size: ${size}}`;
    case 'broadcast':
    case 'dim':
      return ` {size: ${size}}`;
    case 'reshape':
      return ` {shape: [${e.attrs.shape!.join(', ')}]}`;
    case 'conv2d':
    case 'conv2d_filter':
      return ` {map: ${e.attrs.height} x ${e.attrs.width}, kernel: ${e.attrs.kernel}}`;
    case 'flip_kernel':
      return ` {kernel: ${e.attrs.kernel}}`;
    case 'dropout_mask':
      return ` {p: ${e.attrs.p}, stream: ${e.attrs.stream}, ${e.attrs.perStep ? 'per step' : 'per sequence'}}`;
    default:
      return '';
  }
}

/** The canonical text form, printed by `seqc ir` and held by golden files. */
export function printProgram(program: CellProgram): string {
  const lines: string[] = [];
  const sizes = program.sizes.map((s) => (s.default === undefined ? s.name : `${s.name}=${s.default}`));
  const reverse = program.direction === 'reverse' ? ' reverse' : '';
  lines.push(`cell ${program.name}${reverse} sizes(${sizes.join(', ')}) -> (${program.outputs.join(', ')})`);
  for (const i of program.inputs) lines.push(`  input ${i.name}: ${formatType({ shape: i.shape, batched: true })}${i.onehot ? ' onehot' : ''}${i.mask ? ' mask' : ''}${i.binary ? ' 0/1' : ''}`);
  for (const p of program.params) {
    lines.push(`  param ${p.name}: ${formatType({ shape: p.shape, batched: false })} = ${formatInit(p.init)}`);
  }
  for (const s of program.states) {
    lines.push(`  state ${s.name}: ${formatType({ shape: s.shape, batched: true })} = ${s.initial}, lags ${s.maxLag}`);
  }
  for (const l of program.loads ?? []) lines.push(`  load ${l.name}: ${formatType({ shape: l.shape, batched: true })}, lags ${l.lags}`);
  lines.push('  step {');
  for (const e of program.eqns) {
    const args = e.args.map((a) => ` %${a}`).join('');
    lines.push(`    %${e.id}: ${formatType(e.type)} = ${e.op}${formatAttrs(e)}${args}`);
  }
  for (const u of program.updates) lines.push(`    ${u.name}[t] <- %${u.value}`);
  for (const r of program.readouts) lines.push(`    ${r.name}[t] <- %${r.value}`);
  for (const a of program.accumulations ?? []) lines.push(`    ${a.name} += %${a.value}`);
  for (const v of program.packed?.values ?? []) lines.push(`    ${program.packed!.name}[t, ${v.offset}:] <- %${v.value}`);
  lines.push('  }');
  return lines.join('\n') + '\n';
}

