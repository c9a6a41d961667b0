/** What the host-chained models (Seq2Seq, Transformer) are made of: compiled cells, and how to create them. */
import { type CreateOptions, type SeqModel, createModel } from './model.js';
import type { InputData, LaunchPlan } from './plan.js';
import type { TrainerOptions, TrainingBatch, TrainingPlans } from './trainer.js';

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

/** A batch of source and target sequences: what an encoder-decoder trains on. */
export interface SequencePairBatch {
  /** [S, B] source ids, padded to the encoder's S steps */
  readonly source: InputData;
  /** [B] valid source steps of each example (default all S) */
  readonly sourceLengths?: ArrayLike<number>;
  /** [T, B] decoder input ids: the start token, then the target shifted by one */
  readonly previous: InputData;
  /** [T, B, V] one-hot targets of the decoder's logits */
  readonly target: Float32Array;
  /** [T, B] the target steps the loss counts (default all) */
  readonly mask?: Float32Array;
  readonly learningRate?: number;
}

/**
 * Creates a chain's cells one by one: parameters from seed, seed + 1, ..., all on one device
 * (the given one, else the first cell's), each trained without carried state.
 */
export function chainCreator(options: ChainOptions): (part: ChainedCell) => Promise<SeqModel> {
  let seed = options.seed ?? 0;
  let device = options.device;
  const training = { ...options.training, stateful: false };
  return async (part) => {
    const create: CreateOptions = { sizes: part.sizes, batch: options.batch, seed: seed++, training, ...(device ? { device } : {}) };
    const model = await createModel(part.plan, create, part.training);
    device ??= model.device;
    return model;
  };
}

/** One cell's training step in a chain's backward: its loss, and the gradients of its inputs it sends down. */
export type ChainStep = (model: SeqModel, batch: TrainingBatch) => Promise<{ loss: number; inputs: Record<string, Float32Array> }>;

/**
 * A chain's backward with every cell's gradients read instead of applied: the loss and each
 * cell's parameter gradients, in the order of `models`; nothing changes.
 */
export async function chainGradients(models: readonly SeqModel[], backward: (step: ChainStep) => Promise<{ loss: number }>): Promise<{ loss: number; params: Record<string, Float32Array>[] }> {
  const params = new Map<SeqModel, Record<string, Float32Array>>();
  const { loss } = await backward(async (model, batch) => {
    const g = await model.gradients(batch);
    params.set(model, g.params);
    return g;
  });
  return { loss, params: models.map((m) => params.get(m)!) };
}
