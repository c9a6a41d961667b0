/**
 * A BERT-style classifier of compiled cells (examples/transformer.seq): a transformer
 * encoder over the source, whose position 0 holds a class token, and a readout of class
 * logits from the top layer at that position, trained with softmax cross-entropy. The class
 * token attends to every valid position, so what the readout sees sums up the sequence.
 *
 * Training chains the cells as Transformer does: the readout's step on the class label sends
 * back the gradient of the top layer at position 0 (zero at the other positions), and the
 * encoder trains on it from the top layer down.
 */
import { type ChainOptions, type ChainStep, type ChainedCell, chainCreator, chainGradients } from './chain.js';
import { type CotangentStep, EncoderStack, inputsOf, runCell } from './encoder-stack.js';
import type { SeqModel } from './model.js';
import type { InputData } from './plan.js';

export interface EncoderClassifierParts {
  /** (token: onehot[V], pos: [D]) -> [D] */
  readonly embedding: ChainedCell;
  /** (x: [D], X: [S, D], visible: mask[S]) -> [D], each */
  readonly encoder: readonly ChainedCell[];
  /** (x: [D]) -> class logits, with the softmax-ce loss */
  readonly readout: ChainedCell;
}

export interface ClassificationBatch {
  /** [S, B] token ids, the class token at position 0, padded to the encoder's S positions */
  readonly source: InputData;
  /** [B] valid positions of each example, the class token included (default all S) */
  readonly sourceLengths?: ArrayLike<number>;
  /** [B, K] one-hot class of each example */
  readonly target: Float32Array;
  readonly learningRate?: number;
}

export class EncoderClassifier {
  readonly #encoder: EncoderStack;

  private constructor(readonly embedding: SeqModel, readonly encoder: readonly SeqModel[], readonly readout: SeqModel, readonly batch: number) {
    this.#encoder = new EncoderStack(embedding, encoder, batch);
  }

  static async create(parts: EncoderClassifierParts, options: ChainOptions): Promise<EncoderClassifier> {
    const create = chainCreator(options);
    const embedding = await create(parts.embedding);
    const encoder: SeqModel[] = [];
    for (const part of parts.encoder) encoder.push(await create(part));
    return new EncoderClassifier(embedding, encoder, await create(parts.readout), options.batch);
  }

  /** The readout's input: the top layer at position 0, a one-step sequence [1, B, D]. */
  #classRows(top: Float32Array): Record<string, InputData> {
    return { [inputsOf(this.readout).vectors[0]!]: top.slice(0, this.batch * this.#encoder.width) };
  }

  /** Class logits [B, K]. */
  async forward(batch: Pick<ClassificationBatch, 'source' | 'sourceLengths'>): Promise<Float32Array> {
    const { top } = await this.#encoder.encode(batch.source, batch.sourceLengths);
    return runCell(this.readout, this.#classRows(top));
  }

  /** One training step of every cell; returns the readout's loss (mean cross-entropy over the batch). */
  async trainStep(batch: ClassificationBatch): Promise<number> {
    return (await this.#backward(batch, (model, b) => model.trainStepWithInputGradients(b))).loss;
  }

  /** The loss and every cell's parameter gradients ([embedding, ...encoder, readout]), for inspection; nothing changes. */
  gradients(batch: ClassificationBatch): Promise<{ loss: number; params: Record<string, Float32Array>[] }> {
    return chainGradients(this.#models(), (step) => this.#backward(batch, step));
  }

  async #backward(batch: ClassificationBatch, run: ChainStep): Promise<{ loss: number }> {
    const rate = batch.learningRate === undefined ? {} : { learningRate: batch.learningRate };
    const encoded = await this.#encoder.encode(batch.source, batch.sourceLengths);
    const top = await run(this.readout, { inputs: this.#classRows(encoded.top), target: batch.target, ...rate });
    // only position 0 reaches the loss
    const gradient = new Float32Array(encoded.top.length);
    gradient.set(top.inputs[inputsOf(this.readout).vectors[0]!]!);
    const step: CotangentStep = (model, inputs, cotangent) => run(model, { inputs, target: cotangent, reduction: 'sum', ...rate });
    await this.#encoder.backward(encoded, gradient, step);
    return { loss: top.loss };
  }

  #models(): SeqModel[] {
    return [this.embedding, ...this.encoder, this.readout];
  }

  get bufferCount(): number {
    return this.#models().reduce((n, m) => n + m.bufferCount, 0);
  }

  dispose(): void {
    for (const model of this.#models()) model.dispose();
  }
}
