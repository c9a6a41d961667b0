/**
 * A character language model from any cell that reads characters, as ids `x: onehot[V]`
 * (examples/charlm.seq) or as dense one-hot vectors `x: [V]`, and returns next-character
 * logits: building it for training (softmax cross-entropy), scoring and sampling.
 * Browser-safe: `seqc train` / `sample` / `score` (language-model.ts) and the web demo share it.
 */
import { Random } from '../runtime/init.js';
import { type SeqModel, createModel } from '../runtime/model.js';
import type { InputData } from '../runtime/plan.js';
import { PAD_ID, UNK_ID, type Vocabulary } from '../runtime/text/vocab.js';
import type { TrainingPlans } from '../runtime/trainer.js';
import type { CellProgram } from './ir.js';
import { buildLaunchPlan } from './launch-plan.js';
import { buildTrainingPlans } from './training.js';

/** The cell's one input must be characters, x: onehot[V] or x: [V], and its first output the logits. */
export function languageCell(program: CellProgram): { input: string; output: string } {
  const input = program.inputs[0];
  if (!input || program.inputs.length !== 1 || input.shape.length !== 1 || input.shape[0]!.toString() !== 'V') {
    throw new Error(`cell ${program.name} must take one input x: onehot[V] (character ids) or x: [V] (one-hot characters) to be a language model`);
  }
  const output = program.outputs[0]!;
  return { input: input.name, output };
}

/** Characters as the model's input takes them: the ids themselves for onehot[V], else one-hot rows. */
export function characterInput(model: SeqModel, ids: Int32Array): InputData {
  return model.plan.inputs[0]!.onehot ? ids : oneHot(ids, model.sizes['V']!);
}

export interface CharModelOptions {
  /** sizes other than V (which comes from the vocabulary); declared defaults fill the rest */
  readonly sizes?: Readonly<Record<string, number>>;
  readonly batch: number;
  readonly seed?: number;
  readonly learningRate: number;
  /** global gradient-norm clip (0: off) */
  readonly clip: number;
  /** keep a moving average of the weights with this decay per step (TrainerOptions.averageDecay) */
  readonly averageDecay?: number;
}

/** The sizes a language model binds: the cell's defaults, then `given`, then V. */
export function charModelSizes(program: CellProgram, vocabularySize: number, given: Readonly<Record<string, number>> = {}): Record<string, number> {
  const defaults = Object.fromEntries(program.sizes.filter((s) => s.default !== undefined).map((s) => [s.name, s.default!]));
  return { ...defaults, ...given, V: vocabularySize };
}

/** The training passes of a language model: softmax cross-entropy on its logits. */
export function charTrainingPlans(program: CellProgram): TrainingPlans {
  return buildTrainingPlans(program, { kind: 'softmax-ce', output: languageCell(program).output });
}

/** A model that trains with Adam on softmax cross-entropy, statefully (truncated BPTT). */
export function createCharModel(program: CellProgram, vocabularySize: number, options: CharModelOptions, training = charTrainingPlans(program)): Promise<SeqModel> {
  return createModel(
    buildLaunchPlan(program),
    {
      sizes: charModelSizes(program, vocabularySize, options.sizes),
      batch: options.batch,
      seed: options.seed ?? 0,
      // the same seed fixes the initial weights and the dropout masks of every step
      training: { optimizer: { kind: 'adam', learningRate: options.learningRate }, clipNorm: options.clip, stateful: true, seed: options.seed ?? 0, averageDecay: options.averageDecay },
    },
    training,
  );
}

export function oneHot(ids: Int32Array, size: number): Float32Array {
  const out = new Float32Array(ids.length * size);
  ids.forEach((id, r) => (out[r * size + id] = 1));
  return out;
}

/** Mean negative log-likelihood in nats of targets under logits [rows, V]. */
export function crossEntropy(logits: Float32Array, targets: Int32Array, size: number): number {
  let total = 0;
  for (let r = 0; r < targets.length; r++) {
    let max = -Infinity;
    for (let v = 0; v < size; v++) max = Math.max(max, logits[r * size + v]!);
    let sum = 0;
    for (let v = 0; v < size; v++) sum += Math.exp(logits[r * size + v]! - max);
    total += max + Math.log(sum) - logits[r * size + targets[r]!]!;
  }
  return total / targets.length;
}

/** A character id drawn from softmax(logits / temperature), never <PAD> or <UNK>. */
export function drawCharacter(logits: Float32Array, temperature: number, random: Random): number {
  const weights = Array.from(logits, (z) => z / temperature);
  const max = Math.max(...weights);
  const p = weights.map((w) => Math.exp(w - max));
  p[PAD_ID] = 0;
  p[UNK_ID] = 0;
  const total = p.reduce((a, b) => a + b, 0);
  let u = random.uniform() * total;
  let next = 0;
  while (next < p.length - 1 && u > p[next]!) u -= p[next++]!;
  return next;
}

export interface SampleOptions {
  readonly temperature: number;
  readonly length: number;
  readonly seed: number;
  /** text the model reads first; the sample continues it */
  readonly prime: string;
  /** called with each new character, e.g. to show the text as it grows */
  readonly onText?: (text: string) => void;
}

/** Continues `prime` one character at a time on a model of batch 1. */
export async function sampleText(model: SeqModel, vocabulary: Vocabulary, options: SampleOptions): Promise<string> {
  const V = vocabulary.size;
  const random = new Random(options.seed);
  let state: Record<string, Float32Array> | undefined;
  let logits: Float32Array | undefined;
  const step = async (id: number) => {
    const r = await model.forward(characterInput(model, Int32Array.of(id)), state, { batch: 1 });
    state = r.states as Record<string, Float32Array>;
    logits = Object.values(r.outputs)[0] as Float32Array;
  };
  let text = options.prime;
  for (const id of vocabulary.encode(options.prime || ' ')) await step(id);
  for (let i = 0; i < options.length; i++) {
    const next = drawCharacter(logits!, options.temperature, random);
    text += vocabulary.decode(Int32Array.of(next), { skipSpecial: true });
    options.onText?.(text);
    await step(next);
  }
  return text;
}
