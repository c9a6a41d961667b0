/**
 * The embedding rewrite: `W @ x` with x a one-hot input (`x: onehot[V]`) is column id of W,
 * so the matmul becomes a `gather`: one load per element instead of a V-long dot product,
 * and its gradient a scatter-add into that column instead of a dense outer product. The
 * operands and the type stay the same, so nothing else in the program changes. Uses of a
 * one-hot input other than directly as a matmul's vector (elementwise, concatenated) keep
 * their dense meaning, element j being (id == j).
 */
import type { CellProgram } from './ir.js';

export function gathers(program: CellProgram): CellProgram {
  const ids = new Set(program.inputs.filter((i) => i.onehot).map((i) => i.name));
  if (!ids.size) return program;
  const isId = (arg: number): boolean => {
    const e = program.eqns[arg]!;
    return e.op === 'input' && ids.has(e.attrs.name!);
  };
  return { ...program, eqns: program.eqns.map((e) => (e.op === 'matmul' && isId(e.args[1]!) ? { ...e, op: 'gather' } : e)) };
}
