/**
 * A model in float64 on the CPU, one sequence at a time: each sequence is cut to its length
 * and run through every layer's cell by the reference (runtime/reference.ts), a reverse
 * direction on the sequence read backwards. Neither the lengths mask nor the reversal within
 * lengths that the device runs (compiler/lengths.ts, runtime/lengths.ts) is involved, so it
 * checks them. The oracle of layered models: test/model-form.test.ts, `seqc gradcheck`.
 * Dropout is not modelled (the reference draws no masks here).
 */
import { referenceForward } from '../runtime/reference.js';
import type { CellProgram } from './ir.js';
import { LOSS, TARGET, WEIGHT, withLoss } from './loss.js';
import type { ModelProgram } from './model.js';

export interface ModelData {
  /** [T, B] ids for a onehot input, else [T, B, N] */
  readonly x: ArrayLike<number>;
  readonly T: number;
  readonly B: number;
  /** [B] steps of each sequence (default all T) */
  readonly lengths?: ArrayLike<number>;
  /** [T, B, K]: the head's target; the loss is computed when it is given */
  readonly target?: ArrayLike<number>;
  /** [T, B]: the steps within the lengths that the loss counts (default all) */
  readonly mask?: ArrayLike<number>;
}

export interface ModelReferenceResult {
  /** the head's output [T, B, K], zero past each length */
  readonly output: Float64Array;
  /** the mean loss over the counted steps, as LayeredModel.trainStep returns it (NaN without a target) */
  readonly loss: number;
}

type Params = Readonly<Record<string, Float32Array | Float64Array>>;

/** Rows [t0, t0 + n) of example b of a [T, B, width] sequence, as [n, 1, width]; backwards if asked. */
function rowsOf(data: ArrayLike<number>, T: number, B: number, b: number, n: number, backwards = false): Float64Array {
  const width = data.length / (T * B);
  const out = new Float64Array(n * width);
  for (let t = 0; t < n; t++) {
    const from = ((backwards ? n - 1 - t : t) * B + b) * width;
    for (let i = 0; i < width; i++) out[t * width + i] = data[from + i]!;
  }
  return out;
}

/** [n, a] and [n, b] backwards in time when asked, side by side: [n, a + b]. */
function join(forward: Float64Array, reverse: Float64Array, n: number): Float64Array {
  const [a, b] = [forward.length / n, reverse.length / n];
  const out = new Float64Array(forward.length + reverse.length);
  for (let t = 0; t < n; t++) {
    out.set(forward.subarray(t * a, (t + 1) * a), t * (a + b));
    out.set(reverse.subarray((n - 1 - t) * b, (n - t) * b), t * (a + b) + a);
  }
  return out;
}

/** The model's reference, bound to its sizes; call it with parameters named as LayeredModel.getParams names them. */
export function modelReference(model: ModelProgram, sizes: Readonly<Record<string, number>>): (params: Params, data: ModelData) => ModelReferenceResult {
  const layers = model.layers.map((layer) => ({
    ...layer,
    bound: Object.fromEntries(layer.cell.sizes.map((s) => [s.name, layer.sizes.get(s.name)!.evaluate(sizes)])),
  }));
  const head = layers[layers.length - 1]!;
  const training = withLoss(head.cell, model.loss);
  const prefixed = (params: Params, prefix: string) => Object.fromEntries(Object.entries(params).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const run = (cell: CellProgram, bound: Record<string, number>, params: Params, x: Float64Array, n: number, extra: Record<string, Float64Array> = {}) =>
    referenceForward(cell, { params, inputs: { [cell.inputs[0]!.name]: x, ...extra }, sizes: bound, T: n, B: 1 });

  return (params, data) => {
    const { T, B } = data;
    const width = head.output.evaluate(sizes);
    const output = new Float64Array(T * B * width);
    let total = 0;
    let counted = 0;
    for (let b = 0; b < B; b++) {
      const n = data.lengths ? data.lengths[b]! : T;
      if (n === 0) continue;
      let x = rowsOf(data.x, T, B, b, n);
      layers.slice(0, -1).forEach((layer, l) => {
        const forward = run(layer.cell, layer.bound, prefixed(params, `${l}.forward.`), x, n).outputs[layer.cell.outputs[0]!]!;
        if (!layer.bidirectional) {
          x = forward;
          return;
        }
        const reverse = run(layer.cell, layer.bound, prefixed(params, `${l}.reverse.`), rowsOf(x, n, 1, 0, n, true), n).outputs[layer.cell.outputs[0]!]!;
        x = join(forward, reverse, n);
      });
      const target = data.target ? { [TARGET]: rowsOf(data.target, T, B, b, n), [WEIGHT]: new Float64Array(n).fill(1) } : undefined;
      const r = target ? run(training, head.bound, prefixed(params, 'head.'), x, n, target) : run(head.cell, head.bound, prefixed(params, 'head.'), x, n);
      const y = r.outputs[head.cell.outputs[0]!]!;
      for (let t = 0; t < n; t++) output.set(y.subarray(t * width, (t + 1) * width), (t * B + b) * width);
      if (!target) continue;
      const losses = r.results[LOSS]!;
      for (let t = 0; t < n; t++) {
        const weight = data.mask ? data.mask[t * B + b]! : 1;
        total += weight * losses[t]!;
        counted += weight;
      }
    }
    return { output, loss: data.target ? total / Math.max(counted, 1) : Number.NaN };
  };
}
