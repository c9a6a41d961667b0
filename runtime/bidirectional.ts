/**
 * A bidirectional layer of any cell: the cell run forward, and with its own parameters over
 * each sequence reversed within its length, the two outputs joined per step as [forward,
 * reverse] (PyTorch's layout: [T, B, 2N]). The reverse direction therefore starts at each
 * sequence's last valid step, as ONNX `LSTM` with direction = bidirectional and
 * sequence_lens defines it, and its outputs are put back in time order.
 */
import { type CreateOptions, type ForwardOptions, type SeqModel, createModel } from './model.js';
import { reverseWithin } from './lengths.js';
import type { InputData, LaunchPlan } from './plan.js';

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
    const reversedInput = x instanceof Float32Array || x instanceof Int32Array || x instanceof Uint32Array
      ? flip(x)
      : Object.fromEntries(Object.entries(x).map(([name, data]) => [name, flip(data)]));
    const reverse = await this.reverseModel.forward(reversedInput, undefined, options);
    const outputs: Record<string, Float32Array> = {};
    for (const [name, f] of Object.entries(forward.outputs)) {
      const r = flip(reverse.outputs[name]!);
      const n = f.length / (steps * batch);
      const joined = new Float32Array(2 * f.length);
      for (let row = 0; row < steps * batch; row++) {
        joined.set(f.subarray(row * n, (row + 1) * n), row * 2 * n);
        joined.set(r.subarray(row * n, (row + 1) * n), row * 2 * n + n);
      }
      outputs[name] = joined;
    }
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
