/** The seqc compiler as a library. */
export { lowerCells, lowerSource } from './frontend.js';
export { printProgram } from './ir.js';
export type { CellProgram } from './ir.js';
export { buildLaunchPlan } from './launch-plan.js';
export { buildTrainingPlans } from './training.js';
export { emitModule } from './emit.js';
export { SeqError } from '../dsl/diagnostics.js';
