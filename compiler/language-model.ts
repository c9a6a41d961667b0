/**
 * `seqc train`, `seqc sample`, `seqc score`: a character language model on the Brown
 * corpus. The cell (default examples/charlm.seq) reads characters (ids `x: onehot[V]`, or
 * one-hot vectors `x: [V]`) and returns next-character logits; V is bound from the vocabulary. Training is stateful
 * (truncated BPTT over consecutive windows of B parallel streams) with Adam and clipping.
 * A run directory holds the checkpoint (parameters as safetensors, and checkpoint.json with
 * the cell source, sizes and vocabulary) and the loss curve as SVG.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SeqModel, createModel } from '../runtime/index.js';
import { beamSearch } from '../runtime/decode.js';
import { brownText, splitHeldOut } from '../runtime/text/brown.js';
import { createTrainingProgress } from '../runtime/text/progress.js';
import { lossCurveSvg } from '../runtime/text/svg-plot.js';
import { PAD_ID, UNK_ID, Vocabulary, batchCount, batchify } from '../runtime/text/vocab.js';
import type { CellProgram } from './ir.js';
import { lowerSource } from './frontend.js';
import { buildLaunchPlan } from './launch-plan.js';
import { characterInput, charModelSizes, createCharModel, crossEntropy, languageCell, oneHot, sampleText } from './char-model.js';

export interface TrainOptions {
  readonly file: string;
  readonly out: string;
  readonly sizes: Readonly<Record<string, number>>;
  readonly batch: number;
  readonly steps: number;
  readonly minutes: number;
  readonly maxSteps: number;
  readonly learningRate: number;
  readonly clip: number;
  readonly seed: number;
  /** writes a file atomically */
  readonly write: (path: string, text: string) => void;
}

interface Checkpoint {
  readonly format: 'seqc-lm-1';
  readonly source: string;
  readonly file: string;
  readonly sizes: Record<string, number>;
  readonly vocabulary: ReturnType<Vocabulary['toJSON']>;
  readonly step: number;
  readonly heldOutBitsPerChar: number;
}

/** Characters of held-out text scored at each checkpoint, and at the end of a run. */
const HELD_OUT_CHARS = 65_536;
const FINAL_HELD_OUT_CHARS = 262_144;
/** Characters of training between checkpoints, whatever the batch and window. */
const CHECKPOINT_CHARS = 819_200;

/**
 * The weights scored and saved are an exponential moving average of the trained ones (Polyak
 * averaging), kept on the device and updated every step with decay 0.995: about the last two
 * hundred steps, which averages out the noise of the last updates (held-out 2.295 bits/char
 * with snapshots every 10 steps, decay 0.95, against 2.303 and 2.315 every 50, in 10-minute
 * runs on llvmpipe; reading the weights back for each snapshot cost throughput).
 */
const AVERAGE_DECAY = 0.995;

/** Held-out bits per character, carrying state across windows like training does. */
async function heldOutBitsPerChar(model: SeqModel, ids: Int32Array, size: number, batch: number, steps: number, characters: number): Promise<number> {
  const maxWindows = Math.ceil(characters / (batch * steps));
  let state: Record<string, Float32Array> | undefined;
  let nats = 0;
  let count = 0;
  let windows = 0;
  for (const w of batchify(ids, batch, steps, { dropLast: true })) {
    if (windows++ >= maxWindows) break;
    const result = await model.forward(characterInput(model, w.x), state);
    state = result.states as Record<string, Float32Array>;
    const logits = Object.values(result.outputs)[0] as Float32Array;
    nats += crossEntropy(logits, w.y, size) * w.y.length;
    count += w.y.length;
  }
  return nats / count / Math.LN2;
}

export async function train(options: TrainOptions): Promise<string> {
  const source = readFileSync(options.file, 'utf8');
  const program = lowerSource(source, options.file);
  languageCell(program);
  mkdirSync(options.out, { recursive: true });
  const { train: trainText, heldOut } = splitHeldOut(brownText(), 0.05);
  const vocabulary = Vocabulary.fromText(trainText, { unit: 'char' });
  const V = vocabulary.size;
  const sizes = charModelSizes(program, V, options.sizes);
  const trainIds = vocabulary.encode(trainText);
  const heldOutIds = vocabulary.encode(heldOut);
  const { batch: B, steps: T } = options;
  const model = await createCharModel(program, V, { sizes, batch: B, seed: options.seed, learningRate: options.learningRate, clip: options.clip, averageDecay: AVERAGE_DECAY });
  const windowsPerEpoch = batchCount(trainIds.length, B, T, { dropLast: true });
  // a time-limited run starts from one epoch and re-estimates the steps that fit in the budget
  // as it goes; without a terminal, a line every 10 steps
  const progress = createTrainingProgress(Math.min(options.maxSteps, windowsPerEpoch), { every: 10 });
  const budget = options.minutes * 60_000;
  const curve: { train: { x: number; y: number }[]; heldOut: { x: number; y: number }[] } = { train: [], heldOut: [] };
  let stop = false;
  const interrupt = () => (stop = true);
  process.once('SIGINT', interrupt);
  // compile the training and scoring kernels before the clock starts: on a cold shader cache
  // llvmpipe takes minutes over them, which would come out of the training budget
  const [warmUp] = batchify(trainIds, B, T, { dropLast: true });
  await model.gradients({ x: characterInput(model, warmUp!.x), target: oneHot(warmUp!.y, V) });
  await model.forward(characterInput(model, warmUp!.x));
  const started = performance.now();
  let step = 0;
  let smoothed = Number.NaN;
  let lastBpc = Number.NaN;
  const checkpointEvery = Math.max(1, Math.round(CHECKPOINT_CHARS / (B * T)));
  const checkpoint = async (final = false) => {
    // score and save the averaged weights, then train on from the last ones
    const current = await model.getParams();
    model.setParams(step > 0 ? await model.averagedParams() : current);
    lastBpc = await heldOutBitsPerChar(model, heldOutIds, V, B, T, final ? FINAL_HELD_OUT_CHARS : HELD_OUT_CHARS);
    curve.heldOut.push({ x: step, y: lastBpc });
    await model.save(join(options.out, 'charlm.safetensors'));
    if (!final) model.setParams(current);
    const meta: Checkpoint = { format: 'seqc-lm-1', source, file: options.file, sizes, vocabulary: vocabulary.toJSON(), step, heldOutBitsPerChar: lastBpc };
    options.write(join(options.out, 'checkpoint.json'), JSON.stringify(meta));
    options.write(join(options.out, 'loss.svg'), lossCurveSvg(
      [{ name: 'train (bits/char, smoothed)', points: curve.train }, { name: 'held-out (bits/char)', points: curve.heldOut }],
      { title: `${program.name} on the Brown corpus`, xLabel: 'step', yLabel: 'bits per character' },
    ));
  };
  try {
    outer: while (true) {
      model.resetState();
      for (const w of batchify(trainIds, B, T, { dropLast: true })) {
        const elapsed = performance.now() - started;
        if (stop || step >= options.maxSteps || elapsed > budget) break outer;
        // decay linearly to a tenth over the budget (time or steps, whichever ends first)
        const spent = Math.min(1, Math.max(elapsed / budget, step / options.maxSteps));
        const learningRate = options.learningRate * (1 - 0.9 * spent);
        const loss = await model.trainStep({ x: characterInput(model, w.x), target: oneHot(w.y, V), learningRate });
        step++;
        const bpc = loss / Math.LN2;
        smoothed = Number.isNaN(smoothed) ? bpc : 0.95 * smoothed + 0.05 * bpc;
        if (step % 10 === 0) curve.train.push({ x: step, y: smoothed });
        const seconds = (performance.now() - started) / 1000;
        const timeBound = seconds * 1000 * options.maxSteps > step * budget;
        const total = timeBound ? Math.min(options.maxSteps, Math.max(step, Math.round((step * budget) / (seconds * 1000)))) : options.maxSteps;
        progress.update(step, { loss, bitsPerChar: bpc, tokensPerSecond: (step * B * T) / seconds }, step >= 50 ? total : undefined);
        if (step % checkpointEvery === 0) await checkpoint();
      }
    }
    await checkpoint(true);
  } finally {
    progress.stop();
    process.off('SIGINT', interrupt);
    model.dispose();
  }
  const minutes = (performance.now() - started) / 60_000;
  return [
    `${stop ? 'interrupted' : 'finished'} after ${step} steps (${(step / windowsPerEpoch).toFixed(2)} epochs of ${trainIds.length} characters) in ${minutes.toFixed(1)} min`,
    `held-out: ${lastBpc.toFixed(3)} bits/char (${Math.min(FINAL_HELD_OUT_CHARS, heldOutIds.length).toLocaleString('en')} characters of held-out documents); train (smoothed): ${smoothed.toFixed(3)} bits/char`,
    `checkpoint: ${join(options.out, 'checkpoint.json')} and charlm.safetensors; curve: ${join(options.out, 'loss.svg')}`,
  ].join('\n');
}

/** A checkpoint that cannot be used: a user mistake, reported without a stack. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

async function restore(directory: string, batch: number): Promise<{ model: SeqModel; vocabulary: Vocabulary; checkpoint: Checkpoint }> {
  let checkpoint: Checkpoint;
  try {
    checkpoint = JSON.parse(readFileSync(join(directory, 'checkpoint.json'), 'utf8')) as Checkpoint;
  } catch (error) {
    throw new CheckpointError(`${directory}: no readable checkpoint.json (${(error as Error).message}); train one with seqc train --out ${directory}`);
  }
  if (checkpoint.format !== 'seqc-lm-1') throw new CheckpointError(`${directory}/checkpoint.json is not a seqc language-model checkpoint`);
  const program = lowerSource(checkpoint.source, checkpoint.file);
  const model = await createModel(buildLaunchPlan(program), { sizes: checkpoint.sizes, batch });
  await model.load(join(directory, 'charlm.safetensors'));
  return { model, vocabulary: Vocabulary.fromJSON(checkpoint.vocabulary), checkpoint };
}

export async function sample(directory: string, options: { temperature: number; length: number; seed: number; prime: string }): Promise<string> {
  const { model, vocabulary } = await restore(directory, 1);
  try {
    return await sampleText(model, vocabulary, options);
  } finally {
    model.dispose();
  }
}

/**
 * The most probable continuations of `prime` by beam search, up to the end of a sentence
 * ('.') or `length` characters: one line per beam, best first, with its log-probability.
 */
export async function beam(directory: string, options: { width: number; length: number; prime: string }): Promise<string> {
  const { model, vocabulary } = await restore(directory, options.width);
  try {
    const end = vocabulary.encode('.')[0];
    const results = await beamSearch(model, {
      prime: vocabulary.encode(options.prime || ' '),
      maxLength: options.length,
      width: options.width,
      banned: [PAD_ID, UNK_ID],
      ...(end !== undefined && end !== UNK_ID ? { end } : {}),
    });
    return results.map((r) => `${(r.logProb / Math.LN2).toFixed(2).padStart(8)} bits  ${JSON.stringify(options.prime + vocabulary.decode(Int32Array.from(r.ids), { skipSpecial: true }))}`).join('\n');
  } finally {
    model.dispose();
  }
}

export async function score(directory: string, sentence: string): Promise<string> {
  const { model, vocabulary } = await restore(directory, 1);
  try {
    const ids = vocabulary.encode(sentence);
    if (ids.length < 2) throw new Error('give a sentence of at least two characters');
    const r = await model.forward(characterInput(model, ids.subarray(0, ids.length - 1)));
    const logits = Object.values(r.outputs)[0] as Float32Array;
    const nats = crossEntropy(logits, ids.subarray(1), vocabulary.size) * (ids.length - 1);
    return `log p = ${(-nats).toFixed(3)} nats (${(-nats / Math.LN2).toFixed(2)} bits) for the ${ids.length - 1} characters after the first; ${(nats / (ids.length - 1) / Math.LN2).toFixed(3)} bits/char`;
  } finally {
    model.dispose();
  }
}
