/**
 * The inference program of a cell: dropout is the identity at inference (inverted dropout
 * already scaled what it kept by 1/(1-p) during training), so every mask becomes the
 * constant 1 and every product with it the other operand. A cell without dropout comes back
 * unchanged; the training programs keep their masks.
 */
import { GraphBuilder } from './graph.js';
import type { Binding, CellProgram } from './ir.js';
import { SHAPE_RULES, type Type } from './ops.js';
import { simplify } from './simplify.js';
import { typecheck } from './typecheck.js';

export function withoutDropout(program: CellProgram): CellProgram {
  if (!program.eqns.some((e) => e.op === 'dropout_mask')) return program;
  const graph = new GraphBuilder();
  const moved = new Map<number, number>();
  const isOne = (id: number) => graph.eqns[id]!.op === 'const' && graph.eqns[id]!.attrs.value === 1;
  for (const e of program.eqns) {
    const args = e.args.map((a) => moved.get(a)!);
    let id: number;
    if (e.op === 'dropout_mask') id = graph.constant(1);
    else if (e.op === 'mul' && args.some(isOne)) id = isOne(args[0]!) ? args[1]! : args[0]!;
    else {
      // types are derived again: without its mask, dropout of a parameter is no longer per example
      const type = args.length ? (SHAPE_RULES[e.op](args.map((a) => graph.type(a)), e.attrs) as Type) : e.type;
      id = graph.emitTyped(e.op, args, e.attrs, type, e.span);
    }
    moved.set(e.id, id);
  }
  const remap = (b: Binding): Binding => ({ name: b.name, value: moved.get(b.value)! });
  const result = simplify({
    ...program,
    eqns: graph.eqns,
    updates: program.updates.map(remap),
    readouts: program.readouts.map(remap),
    ...(program.accumulations ? { accumulations: program.accumulations.map(remap) } : {}),
    ...(program.packed ? { packed: { ...program.packed, values: program.packed.values.map((v) => ({ ...v, value: moved.get(v.value)! })) } } : {}),
  });
  typecheck(result, 'inference (dropout removed)');
  return result;
}
