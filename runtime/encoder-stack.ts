/**
 * A transformer's encoder as compiled cells (examples/transformer.seq): a token embedding
 * plus sinusoidal positions, then encoder layers, each reading the layer below at every
 * position as a memory masked to the source's valid positions. Shared by the encoder-decoder
 * (runtime/transformer.ts) and the class-token classifier (runtime/encoder-classifier.ts).
 */
import { memoryGradient, memoryPerStep, validSteps } from './memory.js';
import type { SeqModel } from './model.js';
import { type InputData, evaluateDim } from './plan.js';

/** Sinusoidal position encodings [T, B, D]: sin(t / 10000^(2i/D)) at 2i, cos at 2i + 1. */
export function sinusoidalPositions(T: number, B: number, D: number): Float32Array {
  const out = new Float32Array(T * B * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      const angle = t / 10000 ** ((2 * Math.floor(i / 2)) / D);
      const value = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      for (let b = 0; b < B; b++) out[(t * B + b) * D + i] = value;
    }
  }
  return out;
}

/** A cell's user inputs by kind: onehot, dense vectors, matrices (memories) and masks, in declaration order. */
export function inputsOf(model: SeqModel) {
  const inputs = model.plan.inputs.filter((i) => !i.name.startsWith('__'));
  return {
    onehot: inputs.filter((i) => i.onehot).map((i) => i.name),
    vectors: inputs.filter((i) => !i.onehot && !i.binary && i.shape.length === 1).map((i) => i.name),
    memories: inputs.filter((i) => i.shape.length === 2).map((i) => i.name),
    masks: inputs.filter((i) => i.binary).map((i) => i.name),
  };
}

export const outputOf = (model: SeqModel): string => model.plan.outputs[0]!.name;

export async function runCell(model: SeqModel, inputs: Record<string, InputData>): Promise<Float32Array> {
  return (await model.forward(inputs)).outputs[outputOf(model)]!;
}

/** A cell's training step on the gradient its output receives; it returns its inputs' gradients. */
export type CotangentStep = (model: SeqModel, inputs: Record<string, InputData>, cotangent: Float32Array) => Promise<{ inputs: Record<string, Float32Array> }>;

/** What the encoder's forward keeps for its backward: each cell's inputs, and the top layer [S, B, D]. */
export interface EncoderRun {
  readonly embedding: Record<string, InputData>;
  readonly layers: Record<string, InputData>[];
  readonly top: Float32Array;
}

export class EncoderStack {
  /** positions S and width D, read off the first layer's memory input [S, D] */
  readonly positions: number;
  readonly width: number;

  constructor(readonly embedding: SeqModel, readonly layers: readonly SeqModel[], readonly batch: number) {
    const first = layers[0];
    if (!first) throw new Error('an encoder has at least one layer');
    for (const layer of layers) if (inputsOf(layer).memories.length !== 1 || inputsOf(layer).masks.length !== 1) throw new Error(`encoder layer ${layer.plan.cell} must read one memory ([S, D]) and one mask[S]`);
    const memory = first.plan.inputs.find((i) => i.shape.length === 2)!;
    this.positions = evaluateDim(memory.shape[0]!, first.sizes);
    this.width = evaluateDim(memory.shape[1]!, first.sizes);
  }

  /** The embedding's inputs for token ids [T, B] at positions 0..T-1. */
  embeddingInputs(model: SeqModel, ids: InputData, steps: number): Record<string, InputData> {
    const { onehot, vectors } = inputsOf(model);
    return { [onehot[0]!]: ids, [vectors[0]!]: sinusoidalPositions(steps, this.batch, this.width) };
  }

  async encode(source: InputData, lengths: ArrayLike<number> | undefined): Promise<EncoderRun> {
    const [B, S, D] = [this.batch, this.positions, this.width];
    if (source.length !== S * B) throw new Error(`the source has ${source.length / B} positions (of batch ${B}); the encoder reads ${S}: pad every source to that`);
    const embedding = this.embeddingInputs(this.embedding, source, S);
    let below = await runCell(this.embedding, embedding);
    const visible = validSteps(lengths, S, B, S);
    const layers: Record<string, InputData>[] = [];
    for (const layer of this.layers) {
      const { vectors, memories, masks } = inputsOf(layer);
      const inputs = { [vectors[0]!]: below, [memories[0]!]: memoryPerStep(below, S, B, D, S), [masks[0]!]: visible };
      layers.push(inputs);
      below = await runCell(layer, inputs);
    }
    return { embedding, layers, top: below };
  }

  /** Trains every cell from the top layer down on `gradient`, the loss's gradient of the top layer [S, B, D]. */
  async backward(run: Pick<EncoderRun, 'embedding' | 'layers'>, gradient: Float32Array, step: CotangentStep): Promise<void> {
    const [B, S, D] = [this.batch, this.positions, this.width];
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const { vectors, memories } = inputsOf(layer);
      const sent = (await step(layer, run.layers[l]!, gradient)).inputs;
      gradient = memoryGradient(sent[memories[0]!]!, S, B, D, S, Float32Array.from(sent[vectors[0]!]!));
    }
    await step(this.embedding, run.embedding, gradient);
  }
}
