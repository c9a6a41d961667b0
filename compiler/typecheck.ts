/**
 * The IR type check, run after every pass: equations come in topological order, each
 * equation's type is the one its op's shape rule gives, leaves name declared things, gather
 * and scatter read a one-hot input, and every state is updated exactly once with a value of
 * its own type.
 */
import type { CellProgram } from './ir.js';
import { formatType } from './ir.js';
import { SHAPE_RULES, type Type } from './ops.js';
import { shapeEquals } from './shape.js';

export class IRTypeError extends Error {}

function sameType(a: Type, b: Type): boolean {
  return a.batched === b.batched && shapeEquals(a.shape, b.shape);
}

export function typecheck(program: CellProgram, pass = 'program'): void {
  const fail = (message: string): never => {
    throw new IRTypeError(`IR type check after ${pass}: ${message}`);
  };
  const types = new Map<number, Type>();
  const inputs = new Map(program.inputs.map((i) => [i.name, i]));
  const params = new Map(program.params.map((p) => [p.name, p]));
  const states = new Map(program.states.map((s) => [s.name, s]));
  const loads = new Map((program.loads ?? []).map((l) => [l.name, l]));
  const streams = new Set<number>();
  for (const e of program.eqns) {
    if (types.has(e.id)) fail(`%${e.id} is defined twice`);
    const argTypes = e.args.map((a) => types.get(a) ?? fail(`%${e.id} uses %${a} before its definition`));
    let expected: Type;
    switch (e.op) {
      case 'input': {
        const decl = inputs.get(e.attrs.name!) ?? fail(`%${e.id} reads unknown input ${e.attrs.name}`);
        expected = { shape: decl.shape, batched: true };
        break;
      }
      case 'param': {
        const decl = params.get(e.attrs.name!) ?? fail(`%${e.id} reads unknown param ${e.attrs.name}`);
        expected = { shape: decl.shape, batched: false };
        break;
      }
      case 'load': {
        const decl = loads.get(e.attrs.name!) ?? fail(`%${e.id} loads undeclared ${e.attrs.name}`);
        if ((e.attrs.lag ?? 0) > decl.lags) fail(`%${e.id} loads ${decl.name} at lag ${e.attrs.lag}, beyond its ${decl.lags} kept slots`);
        expected = { shape: decl.shape, batched: true };
        break;
      }
      case 'state': {
        const decl = states.get(e.attrs.name!) ?? fail(`%${e.id} reads unknown state ${e.attrs.name}`);
        const lag = e.attrs.lag ?? 0;
        if (!Number.isInteger(lag) || lag < 1 || lag > decl.maxLag) fail(`%${e.id} reads ${decl.name} at lag ${lag}`);
        expected = { shape: decl.shape, batched: true };
        break;
      }
      case 'dropout_mask': {
        const { p, stream, size } = e.attrs;
        if (p === undefined || !(p >= 0 && Math.fround(p) < 1)) fail(`%${e.id} = dropout_mask drops with probability ${p}, not in [0, 1)`);
        if (!Number.isInteger(stream) || stream! < 0) fail(`%${e.id} = dropout_mask has stream ${stream}`);
        if (e.args.length || !size) fail(`%${e.id} = dropout_mask needs a size and no operands`);
        if (streams.has(stream!)) fail(`%${e.id} = dropout_mask reuses stream ${stream}: two call sites would share a mask`);
        streams.add(stream!);
        expected = { shape: [size!], batched: true };
        break;
      }
      default: {
        if (e.op === 'gather' || e.op === 'scatter') {
          const x = program.eqns.find((d) => d.id === e.args[1]);
          if (x?.op !== 'input' || !inputs.get(x.attrs.name!)?.onehot) fail(`%${e.id} = ${e.op} reads %${e.args[1]}, which is not a one-hot input`);
        }
        const rule = SHAPE_RULES[e.op](argTypes, e.attrs);
        if (typeof rule === 'string') fail(`%${e.id} = ${e.op}: expected ${rule}`);
        expected = rule as Type;
      }
    }
    if (!sameType(expected, e.type)) fail(`%${e.id} has type ${formatType(e.type)} but ${e.op} gives ${formatType(expected)}`);
    types.set(e.id, e.type);
  }
  const updated = new Set<string>();
  for (const u of program.updates) {
    const decl = states.get(u.name) ?? fail(`update of unknown state ${u.name}`);
    if (updated.has(u.name)) fail(`state ${u.name} is updated twice`);
    updated.add(u.name);
    const t = types.get(u.value) ?? fail(`update of ${u.name} uses undefined %${u.value}`);
    const want: Type = { shape: decl.shape, batched: true };
    if (!shapeEquals(t.shape, want.shape)) fail(`update of ${u.name} is ${formatType(t)}, state is ${formatType(want)}`);
  }
  for (const s of program.states) if (!updated.has(s.name)) fail(`state ${s.name} is never updated`);
  for (const r of program.readouts) if (!types.has(r.value)) fail(`readout ${r.name} uses undefined %${r.value}`);
  for (const a of program.accumulations ?? []) if (!types.has(a.value)) fail(`accumulation ${a.name} uses undefined %${a.value}`);
  const results = new Set([...program.updates, ...program.readouts].map((b) => b.name));
  for (const o of program.outputs) if (!results.has(o)) fail(`output ${o} is neither a state nor a readout`);
}
