// The synthetic task of bench/seq2seq.mjs and bench/transformer.mjs: reverse a string of 3 to
// 9 random digits. Tokens: 0 padding, 1 start, 2 end, 3 + d the digit d. Sources are padded
// to S = 10 positions, targets (the reversed digits, then end) to T = 10. 1024 strings are
// held out, and training never draws them.
import { Random } from '../dist/runtime/init.js';

export const [PAD, START, END] = [0, 1, 2];
export const V = 13;
export const S = 10;
export const T = 10;
const MIN_DIGITS = 3;
const MAX_DIGITS = 9;

const digitsOf = (random) => Array.from({ length: MIN_DIGITS + Math.floor(random.uniform() * (MAX_DIGITS - MIN_DIGITS + 1)) }, () => Math.floor(random.uniform() * 10));

export const heldOut = [];
const heldOutKeys = new Set();
const heldOutRandom = new Random(99);
while (heldOut.length < 1024) {
  const digits = digitsOf(heldOutRandom);
  if (heldOutKeys.has(digits.join(''))) continue;
  heldOutKeys.add(digits.join(''));
  heldOut.push(digits);
}

/** B training strings, none of them held out. */
export function trainingStrings(random, B) {
  const strings = [];
  while (strings.length < B) {
    const digits = digitsOf(random);
    if (!heldOutKeys.has(digits.join(''))) strings.push(digits);
  }
  return strings;
}

/** The token ids a model should produce for a string (without end). */
export const reversed = (digits) => [...digits].reverse().map((d) => 3 + d);

/** Strings as the models take them: [S, B] source and its lengths, [T, B] previous tokens, one-hot targets [T, B, V] and their mask [T, B]. */
export function batchOf(strings) {
  const B = strings.length;
  const source = new Int32Array(S * B).fill(PAD);
  const previous = new Int32Array(T * B).fill(PAD);
  const target = new Float32Array(T * B * V);
  const mask = new Float32Array(T * B);
  const sourceLengths = Int32Array.from(strings, (d) => d.length);
  strings.forEach((digits, b) => {
    digits.forEach((d, s) => (source[s * B + b] = 3 + d));
    const out = reversed(digits).concat(END);
    out.forEach((token, t) => {
      target[(t * B + b) * V + token] = 1;
      previous[t * B + b] = t === 0 ? START : out[t - 1];
      mask[t * B + b] = 1;
    });
  });
  return { source, sourceLengths, previous, target, mask };
}

/** The share of held-out strings that decode exactly, `decode(batch)` giving one token list per string. */
export async function exactMatch(B, decode) {
  let right = 0;
  let total = 0;
  for (let i = 0; i + B <= heldOut.length; i += B) {
    const group = heldOut.slice(i, i + B);
    const tokens = await decode(batchOf(group));
    group.forEach((digits, k) => (right += tokens[k].join(',') === reversed(digits).join(',') ? 1 : 0));
    total += B;
  }
  return right / total;
}

/**
 * Trains `model` on fresh batches of B training strings until the held-out exact match
 * reaches `target` (checked every `evalEvery` steps) or `minutes` pass. The first step
 * compiles every kernel (minutes on llvmpipe the first time, then cached by Mesa): it runs
 * before the clock starts, with learning rate 0, and its time is returned apart.
 * `learningRate(step, spent)`: the rate of a step, `spent` the share of the budget used.
 */
export async function trainUntil({ model, B, minutes, target, evalEvery, decode, learningRate }) {
  const random = new Random(7);
  const compileStarted = performance.now();
  await model.trainStep({ ...batchOf(trainingStrings(random, B)), learningRate: 0 });
  await exactMatch(B, decode);
  const compileSeconds = (performance.now() - compileStarted) / 1000;
  console.log(`first step and decode (compiling the kernels): ${compileSeconds.toFixed(0)} s`);
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const curve = [];
  let reached = null;
  let step = 0;
  let last = Number.NaN;
  while (seconds() < minutes * 60) {
    const spent = Math.min(1, seconds() / (minutes * 60));
    const loss = await model.trainStep({ ...batchOf(trainingStrings(random, B)), learningRate: learningRate(step, spent) });
    step++;
    if (step % evalEvery === 0) {
      last = await exactMatch(B, decode);
      curve.push({ step, seconds: seconds(), loss, exactMatch: last });
      console.log(`step ${step} (${seconds().toFixed(0)} s): loss ${loss.toFixed(4)}, held-out exact match ${(100 * last).toFixed(2)}%`);
      if (last >= target) {
        reached = { step, seconds: seconds() };
        break;
      }
    }
  }
  if (!reached) last = await exactMatch(B, decode);
  console.log(`held-out exact match ${(100 * last).toFixed(2)}% after ${step} steps, ${seconds().toFixed(0)} s${reached ? `; reached ${100 * target}% at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : `; did not reach ${100 * target}%`}`);
  return { compileSeconds, steps: step, seconds: seconds(), reached, finalExactMatch: last, curve };
}
