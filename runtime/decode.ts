/**
 * Decoding a sequence model one step at a time on its device: greedy, sampling (temperature,
 * top-k) and beam search (width k, length normalization, stop at an end id). Any model whose
 * first input is a onehot id and whose first output is logits over the same ids: each step
 * runs the compiled cell for one step (a batch of one row per live hypothesis), carrying its
 * states, and the choice of the next id is made on the host from the logits read back.
 */
import { Random } from './init.js';
import type { SeqModel } from './model.js';
import { tensorElements } from './plan.js';

export interface DecodeOptions {
  /** ids the model reads first (at least one, e.g. a start id); decoding continues them */
  readonly prime: ArrayLike<number>;
  /** ids generated at most, the end id included */
  readonly maxLength: number;
  /** an id that ends a sequence when generated (it is kept in the result) */
  readonly end?: number;
  /** ids never generated (padding, unknown) */
  readonly banned?: readonly number[];
  /**
   * the states before the prime, [N] or [lags, 1, N] per state (default the declared
   * initial values): generation from a start vector (one-to-many), such as an encoding
   */
  readonly initialState?: Readonly<Record<string, ArrayLike<number>>>;
}

export interface Decoded {
  /** the generated ids, after the prime */
  readonly ids: number[];
  /** natural-log probability of those ids given the prime */
  readonly logProb: number;
  /** whether generation stopped at the end id */
  readonly ended: boolean;
}

export interface BeamResult extends Decoded {
  /** logProb / length^alpha, what beams are ranked by */
  readonly score: number;
}

type States = Record<string, Float32Array>;

/** log softmax of row r of [rows, V] logits, banned ids at -Infinity. */
function logSoftmax(logits: Float32Array, r: number, V: number, banned: ReadonlySet<number>): Float64Array {
  const out = new Float64Array(V);
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (!banned.has(v)) max = Math.max(max, logits[r * V + v]!);
  let sum = 0;
  for (let v = 0; v < V; v++) if (!banned.has(v)) sum += Math.exp(logits[r * V + v]! - max);
  const lse = max + Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = banned.has(v) ? -Infinity : logits[r * V + v]! - lse;
  return out;
}

class Stepper {
  readonly input: string;
  readonly output: string;
  readonly V: number;

  constructor(readonly model: SeqModel) {
    const input = model.plan.inputs.find((i) => i.onehot);
    if (!input || model.plan.inputs.filter((i) => !i.name.startsWith('__')).length !== 1) {
      throw new Error(`decoding needs a cell with one onehot input (the previous id); ${model.plan.cell} has ${model.plan.inputs.map((i) => i.name).join(', ')}`);
    }
    this.input = input.name;
    this.output = model.plan.outputs[0]!.name;
    this.V = tensorElements(model.plan.outputs[0]!, model.sizes);
  }

  /** Reads `ids` (one per row) for `steps` steps each; returns the last step's logits [rows, V] and the states. */
  async run(ids: Int32Array, rows: number, states: States | undefined): Promise<{ logits: Float32Array; states: States }> {
    const r = await this.model.forward({ [this.input]: ids }, states, { batch: rows });
    const all = r.outputs[this.output]!;
    return { logits: all.subarray((r.steps - 1) * rows * this.V), states: r.states as States };
  }

  async prime(ids: ArrayLike<number>, initialState?: Readonly<Record<string, ArrayLike<number>>>): Promise<{ logits: Float32Array; states: States }> {
    if (ids.length < 1) throw new Error('decoding needs a prime of at least one id (e.g. a start id)');
    const states = initialState && Object.fromEntries(Object.entries(initialState).map(([name, v]) => [name, Float32Array.from(v)]));
    return this.run(Int32Array.from(ids), 1, states);
  }
}

/** Rows `picks` of every [rows, N] state, in that order. */
function gatherRows(states: States, rows: number, picks: readonly number[]): States {
  const out: States = {};
  for (const [name, data] of Object.entries(states)) {
    const n = data.length / rows;
    const gathered = new Float32Array(picks.length * n);
    picks.forEach((row, i) => gathered.set(data.subarray(row * n, (row + 1) * n), i * n));
    out[name] = gathered;
  }
  return out;
}

/** Draws from one row of log-probabilities at a temperature, among the top k (0: all). */
function draw(logProbs: Float64Array, temperature: number, topK: number, random: Random): number {
  const order = Array.from(logProbs.keys()).filter((v) => logProbs[v]! > -Infinity).sort((a, b) => logProbs[b]! - logProbs[a]!);
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const weights = kept.map((v) => Math.exp((logProbs[v]! - logProbs[kept[0]!]!) / temperature));
  let u = random.uniform() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kept.length; i++) {
    u -= weights[i]!;
    if (u <= 0) return kept[i]!;
  }
  return kept[kept.length - 1]!;
}

function checkOptions(options: DecodeOptions): void {
  if (!Number.isInteger(options.maxLength) || options.maxLength < 1) throw new Error(`maxLength must be a whole number of at least 1, got ${options.maxLength}`);
}

/** One id after another, each chosen by `choose` from the step's log-probabilities. */
async function decodeOne(model: SeqModel, options: DecodeOptions, choose: (logProbs: Float64Array) => number): Promise<Decoded> {
  checkOptions(options);
  const stepper = new Stepper(model);
  const banned = new Set(options.banned ?? []);
  let { logits, states } = await stepper.prime(options.prime, options.initialState);
  const ids: number[] = [];
  let logProb = 0;
  for (let i = 0; i < options.maxLength; i++) {
    const row = logSoftmax(logits, 0, logits.length, banned);
    const next = choose(row);
    ids.push(next);
    logProb += row[next]!;
    if (next === options.end) return { ids, logProb, ended: true };
    if (i + 1 < options.maxLength) ({ logits, states } = await stepper.run(Int32Array.of(next), 1, states));
  }
  return { ids, logProb, ended: false };
}

/** The most probable id at every step (ties: the lowest id). */
export async function greedyDecode(model: SeqModel, options: DecodeOptions): Promise<Decoded> {
  return decodeOne(model, options, (row) => row.reduce((best, p, v) => (p > row[best]! ? v : best), 0));
}

export interface SampleOptions extends DecodeOptions {
  /** divides the logits: below 1 sharper, above 1 flatter (default 1) */
  readonly temperature?: number;
  /** draw only among the k most probable ids (default 0: all) */
  readonly topK?: number;
  readonly seed?: number;
}

/** Draws each id from softmax(logits / temperature), among the top k; reproducible from the seed. */
export async function sampleDecode(model: SeqModel, options: SampleOptions): Promise<Decoded> {
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`temperature must be positive, got ${temperature}`);
  const topK = options.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`topK must be a whole number (0 for all ids), got ${topK}`);
  const random = new Random(options.seed ?? 0);
  return decodeOne(model, options, (row) => draw(row, temperature, topK, random));
}

export interface BeamOptions extends DecodeOptions {
  readonly width: number;
  /** scores are logProb / length^alpha (default 1; 0 ranks by probability alone) */
  readonly alpha?: number;
}

/**
 * Beam search: keeps the `width` most probable partial sequences, all run as one batch of
 * `width` rows per step. A sequence that generates the end id is finished; the search stops
 * when `width` sequences are finished or at maxLength, and returns every finished sequence
 * and the unfinished ones left, best score first. Width 1 is greedy decoding.
 */
export async function beamSearch(model: SeqModel, options: BeamOptions): Promise<BeamResult[]> {
  checkOptions(options);
  const { width } = options;
  if (!Number.isInteger(width) || width < 1) throw new Error(`beam width must be a whole number of at least 1, got ${width}`);
  const alpha = options.alpha ?? 1;
  const score = (logProb: number, length: number) => logProb / length ** alpha;
  const stepper = new Stepper(model);
  const banned = new Set(options.banned ?? []);
  let { logits, states } = await stepper.prime(options.prime, options.initialState);
  let beams: { ids: number[]; logProb: number }[] = [{ ids: [], logProb: 0 }];
  const finished: BeamResult[] = [];
  for (let length = 1; length <= options.maxLength && beams.length > 0 && finished.length < width; length++) {
    const candidates: { beam: number; id: number; logProb: number }[] = [];
    beams.forEach((beam, b) => {
      const row = logSoftmax(logits, b, stepper.V, banned);
      row.forEach((p, id) => p > -Infinity && candidates.push({ beam: b, id, logProb: beam.logProb + p }));
    });
    // the best `width` extensions; ties keep the earlier beam and the lower id, as greedy does
    candidates.sort((a, b) => b.logProb - a.logProb || a.beam - b.beam || a.id - b.id);
    const next: { ids: number[]; logProb: number; beam: number }[] = [];
    for (const c of candidates.slice(0, width - finished.length)) {
      const ids = [...beams[c.beam]!.ids, c.id];
      if (c.id === options.end) finished.push({ ids, logProb: c.logProb, ended: true, score: score(c.logProb, length) });
      else next.push({ ids, logProb: c.logProb, beam: c.beam });
    }
    beams = next;
    if (beams.length === 0 || length === options.maxLength || finished.length >= width) break;
    // each live beam continues from the state of the row it extends
    const carried = gatherRows(states, logits.length / stepper.V, next.map((n) => n.beam));
    ({ logits, states } = await stepper.run(Int32Array.from(next.map((n) => n.ids[n.ids.length - 1]!)), next.length, carried));
  }
  const unfinished = beams.map((b) => ({ ids: b.ids, logProb: b.logProb, ended: false, score: score(b.logProb, b.ids.length) }));
  return [...finished, ...unfinished].sort((a, b) => b.score - a.score);
}
