/** The seqc compiler as a library. */
export { lowerCells, lowerSource } from './frontend.js';
export { printProgram } from './ir.js';
export type { CellProgram } from './ir.js';
export { buildLaunchPlan, buildPlan } from './launch-plan.js';
export { withoutDropout } from './inference.js';
export { buildTrainingPlans } from './training.js';
export { emitModule } from './emit.js';
export { SeqError } from '../dsl/diagnostics.js';
export { lowerFile } from './frontend.js';
export { compileModel } from './compile-model.js';
export type { CompiledLayer, CompiledModel, CompileModelOptions } from './compile-model.js';
export { layeredModelFromSource } from './layered-from-source.js';
export { modelReference } from './model-reference.js';
