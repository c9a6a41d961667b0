/**
 * A bidirectional layer of any cell: the cell run forward, and with its own parameters over
 * each sequence reversed within its length, the two outputs joined per step as [forward,
 * reverse] (PyTorch's layout: [T, B, 2N]). The reverse direction therefore starts at each
 * sequence's last valid step, as ONNX `LSTM` with direction = bidirectional and
 * sequence_lens defines it, and its outputs are put back in time order.
 */
import { type CreateOptions, type ForwardOptions, type SeqModel, createModel } from './model.js';
import { reverseWithin } from './lengths.js';
import { type InputData, type LaunchPlan, isInputData } from './plan.js';

/** [rows, a] and [rows, b] side by side: [rows, a + b]. */
export function joinRows(left: Float32Array, right: Float32Array, rows: number): Float32Array {
  const a = left.length / rows;
  const b = right.length / rows;
  const out = new Float32Array(left.length + right.length);
  for (let r = 0; r < rows; r++) {
    out.set(left.subarray(r * a, (r + 1) * a), r * (a + b));
    out.set(right.subarray(r * b, (r + 1) * b), r * (a + b) + a);
  }
  return out;
}

/** The first `a` and the last values of every row of [rows, n]. */
export function splitRows(data: Float32Array, rows: number, a: number): [Float32Array, Float32Array] {
  const n = data.length / rows;
  const left = new Float32Array(rows * a);
  const right = new Float32Array(rows * (n - a));
  for (let r = 0; r < rows; r++) {
    left.set(data.subarray(r * n, r * n + a), r * a);
    right.set(data.subarray(r * n + a, (r + 1) * n), r * (n - a));
  }
  return [left, right];
}

export interface BidirectionalResult {
  /** every output, [T, B, 2N]: the forward direction's N values, then the reverse's */
  readonly outputs: Record<string, Float32Array>;
  /** final states of each direction, [B, N]: after t = length-1 forward, after t = 0 in reverse */
  readonly states: { readonly forward: Record<string, Float32Array>; readonly reverse: Record<string, Float32Array> };
}

export class Bidirectional {
  private constructor(readonly forwardModel: SeqModel, readonly reverseModel: SeqModel) {}

  /** The reverse direction's parameters are drawn from seed + 1, so the directions differ. */
  static async create(plan: LaunchPlan, options: CreateOptions = {}): Promise<Bidirectional> {
    const forward = await createModel(plan, options);
    const reverse = await createModel(plan, { ...options, seed: (options.seed ?? 0) + 1, device: forward.device });
    return new Bidirectional(forward, reverse);
  }

  async forward(x: InputData | Record<string, InputData>, options: ForwardOptions = {}): Promise<BidirectionalResult> {
    const batch = options.batch ?? this.forwardModel.batch;
    const forward = await this.forwardModel.forward(x, undefined, options);
    const { steps } = forward;
    const flip = <T extends InputData>(data: T): T => reverseWithin(data, options.lengths, steps, batch);
    const reversedInput = isInputData(x)
      ? flip(x)
      : Object.fromEntries(Object.entries(x).map(([name, data]) => [name, flip(data)]));
    const reverse = await this.reverseModel.forward(reversedInput, undefined, options);
    const outputs: Record<string, Float32Array> = {};
    for (const [name, f] of Object.entries(forward.outputs)) outputs[name] = joinRows(f, flip(reverse.outputs[name]!), steps * batch);
    return { outputs, states: { forward: forward.states, reverse: reverse.states } };
  }

  get bufferCount(): number {
    return this.forwardModel.bufferCount + this.reverseModel.bufferCount;
  }

  dispose(): void {
    this.forwardModel.dispose();
    this.reverseModel.dispose();
  }
}
