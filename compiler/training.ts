/** A cell and a loss to the launch plans the trainer runs (forward with loss, backward). */
import type { TrainingPlans } from '../runtime/trainer.js';
import { differentiate } from './autodiff.js';
import type { CellProgram } from './ir.js';
import { type PlanOptions, buildPlan } from './launch-plan.js';
import { type LossSpec, withLoss } from './loss.js';
import { matmulWeights } from './schedule.js';

export function buildTrainingPlans(cell: CellProgram, loss: LossSpec, options: Omit<PlanOptions, 'columnMajor'> = {}): TrainingPlans {
  const { forward, backward } = differentiate(withLoss(cell, loss));
  // Both passes keep their dropout masks (the backward redraws the forward's) and read one
  // parameter buffer, laid out as the inference plan lays it out.
  const planOptions = { ...options, columnMajor: matmulWeights(cell) };
  return { loss, forward: buildPlan(forward, planOptions), backward: buildPlan(backward, planOptions) };
}
