/** What every lowered cell goes through before it is scheduled: simplify, then gathers, each typechecked. */
import { gathers } from './gather.js';
import type { CellProgram } from './ir.js';
import { simplify } from './simplify.js';
import { typecheck } from './typecheck.js';

export function cellPasses(lowered: CellProgram): CellProgram {
  typecheck(lowered, 'lower');
  const simplified = simplify(lowered);
  typecheck(simplified, 'simplify');
  const gathered = gathers(simplified);
  typecheck(gathered, 'gather');
  return gathered;
}
