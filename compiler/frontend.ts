/** Source text to a type-checked IR program: parse, check, lower, simplify, gather. */
import { check } from '../dsl/check.js';
import { SeqError } from '../dsl/diagnostics.js';
import { parse } from '../dsl/parse.js';
import { gathers } from './gather.js';
import type { CellProgram } from './ir.js';
import { lowerCell } from './lower.js';
import { simplify } from './simplify.js';
import { typecheck } from './typecheck.js';

/** Every cell of a source file, lowered. Throws SeqError for user mistakes. */
export function lowerCells(source: string, file: string): CellProgram[] {
  const tree = parse(source, file);
  // each cell may call those above it, inlined from their lowered form
  const lowered = new Map<string, CellProgram>();
  return check(tree).map((cell) => {
    const program = lowerCell(cell, source, lowered);
    lowered.set(program.name, program);
    return program;
  }).map((lowered) => {
    typecheck(lowered, 'lower');
    const simplified = simplify(lowered);
    typecheck(simplified, 'simplify');
    const gathered = gathers(simplified);
    typecheck(gathered, 'gather');
    return gathered;
  });
}

/**
 * The cell named, or else the file's last cell: a cell calls only cells above it, so the
 * last one is the whole model.
 */
export function lowerSource(source: string, file: string, cellName?: string): CellProgram {
  const cells = lowerCells(source, file);
  if (cellName === undefined) return cells[cells.length - 1]!;
  const cell = cells.find((c) => c.name === cellName);
  if (!cell) {
    throw new SeqError({ file, start: 0, end: 1 }, `no cell named ${cellName}`, `cells in this file: ${cells.map((c) => c.name).join(', ')}`);
  }
  return cell;
}
