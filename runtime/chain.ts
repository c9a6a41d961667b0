/** What the host-chained models (Seq2Seq, Transformer) are made of: compiled cells, and how to create them. */
import type { LaunchPlan } from './plan.js';
import type { TrainerOptions, TrainingPlans } from './trainer.js';

/** One compiled cell: its forward plan, its training plans (a cotangent loss on its output, or the model's loss) and its sizes. */
export interface ChainedCell {
  readonly plan: LaunchPlan;
  readonly training: TrainingPlans;
  readonly sizes: Readonly<Record<string, number>>;
}

export interface ChainOptions {
  readonly batch: number;
  /** the cells' parameters are drawn from seed, seed + 1, ... in creation order */
  readonly seed?: number;
  readonly device?: GPUDevice;
  /** optimizer and clipping of every cell (each clips its own gradient) */
  readonly training?: Omit<TrainerOptions, 'stateful'>;
}
