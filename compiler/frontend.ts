/** Source text to type-checked IR programs: parse, check, lower, simplify, gather. */
import { check } from '../dsl/check.js';
import { checkModel } from '../dsl/check-model.js';
import { SeqError } from '../dsl/diagnostics.js';
import { parse } from '../dsl/parse.js';
import { cellPasses } from './cell-passes.js';
import type { CellProgram } from './ir.js';
import { lowerCell } from './lower.js';
import { type ModelProgram, lowerModel } from './model.js';

export interface LoweredFile {
  readonly cells: readonly CellProgram[];
  readonly models: readonly ModelProgram[];
}

/** Every cell and model of a source file, lowered. Throws SeqError for user mistakes. */
export function lowerFile(source: string, file: string): LoweredFile {
  const tree = parse(source, file);
  // each cell may call those above it, inlined from their lowered form
  const lowered = new Map<string, CellProgram>();
  const cells = check(tree).map((cell) => {
    const program = lowerCell(cell, source, lowered);
    lowered.set(program.name, program);
    return program;
  }).map(cellPasses);
  const programs = new Map(cells.map((c) => [c.name, c]));
  const nodes = new Map(tree.cells.map((c) => [c.name.name, c]));
  const names = new Map(tree.cells.map((c) => [c.name.name, 'cell']));
  const models = tree.models.map((node) => {
    if (names.has(node.name.name)) throw new SeqError(node.name.span, `${node.name.name} is already the name of a ${names.get(node.name.name)} in this file`, 'give the model its own name');
    names.set(node.name.name, 'model');
    return lowerModel(checkModel(node, file, source, nodes), source, { lowered, programs });
  });
  return { cells, models };
}

/** Every cell of a source file, lowered (its models are checked too). */
export function lowerCells(source: string, file: string): CellProgram[] {
  return [...lowerFile(source, file).cells];
}

/**
 * The cell named, or else the file's last cell: a cell calls only cells above it, so the
 * last one is the one that composes the others.
 */
export function lowerSource(source: string, file: string, cellName?: string): CellProgram {
  return selectCell(lowerFile(source, file).cells, file, cellName);
}

/** The cell named among cells lowered from `file`, or else its last cell (lowerSource). */
export function selectCell(cells: readonly CellProgram[], file: string, cellName?: string): CellProgram {
  if (cellName === undefined) return cells[cells.length - 1]!;
  const cell = cells.find((c) => c.name === cellName);
  if (!cell) {
    throw new SeqError({ file, start: 0, end: 1 }, `no cell named ${cellName}`, `cells in this file: ${cells.map((c) => c.name).join(', ')}`);
  }
  return cell;
}
