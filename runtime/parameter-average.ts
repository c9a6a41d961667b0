/**
 * An exponential moving average of a model's parameters (Polyak averaging), in float64 on
 * the host: the weights to score and keep when the last updates are noisy.
 */
export class ParameterAverage {
  #sum: Record<string, Float64Array> | undefined;
  #count = 0;

  constructor(readonly decay: number) {}

  add(params: Record<string, Float32Array>): void {
    this.#sum ??= Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float64Array(v.length)]));
    for (const [name, v] of Object.entries(params)) {
      const sum = this.#sum[name]!;
      for (let i = 0; i < v.length; i++) sum[i] = this.decay * sum[i]! + (1 - this.decay) * v[i]!;
    }
    this.#count++;
  }

  /** The average so far, its weights summing to one (bias-corrected, as Adam's moments). */
  get value(): Record<string, Float32Array> | undefined {
    if (!this.#sum) return undefined;
    const scale = 1 / (1 - this.decay ** this.#count);
    return Object.fromEntries(Object.entries(this.#sum).map(([k, v]) => [k, Float32Array.from(v, (x) => x * scale)]));
  }
}
