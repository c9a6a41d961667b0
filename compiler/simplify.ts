/**
 * Drops equations that no step result needs and renumbers the rest densely, keeping
 * topological order; constant-only arithmetic folds to one constant.
 */
import type { CellProgram, Eqn } from './ir.js';
import { stepResults } from './ir.js';
import { BINARY, UNARY, isBinary, isUnary } from './ops.js';

export function simplify(program: CellProgram): CellProgram {
  const byId = new Map(program.eqns.map((e) => [e.id, e]));
  const live = new Set<number>();
  const mark = (id: number): void => {
    if (live.has(id)) return;
    live.add(id);
    for (const a of byId.get(id)!.args) mark(a);
  };
  for (const r of stepResults(program)) mark(r.value);
  const renumber = new Map<number, number>();
  const eqns: Eqn[] = [];
  for (const e of program.eqns) {
    if (!live.has(e.id)) continue;
    const args = e.args.map((a) => renumber.get(a)!);
    const folded = fold(e, args.map((a) => eqns[a]!));
    const id = eqns.length;
    renumber.set(e.id, id);
    eqns.push(folded ? { ...e, id, op: 'const', args: [], attrs: { value: folded } } : { ...e, id, args });
  }
  const remap = (b: { name: string; value: number }) => ({ name: b.name, value: renumber.get(b.value)! });
  return {
    ...program,
    eqns,
    updates: program.updates.map(remap),
    readouts: program.readouts.map(remap),
    ...(program.accumulations ? { accumulations: program.accumulations.map(remap) } : {}),
    ...(program.packed ? { packed: { ...program.packed, values: program.packed.values.map((v) => ({ ...v, value: renumber.get(v.value)! })) } } : {}),
  };
}

function fold(e: Eqn, args: readonly Eqn[]): number | undefined {
  if (!args.length || !args.every((a) => a.op === 'const')) return undefined;
  const values = args.map((a) => a.attrs.value!);
  if (isUnary(e.op)) return UNARY[e.op].cpu(values[0]!);
  if (isBinary(e.op)) return BINARY[e.op].cpu(values[0]!, values[1]!);
  return undefined;
}
