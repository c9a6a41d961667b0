/** The parameter average (runtime/parameter-average.ts): weights summing to one, recent ones heavier. */
import { describe, expect, it } from 'vitest';
import { ParameterAverage } from '../runtime/parameter-average.js';

describe('ParameterAverage', () => {
  it('is empty, then the first value, then a bias-corrected exponential average', () => {
    const average = new ParameterAverage(0.5);
    expect(average.value).toBeUndefined();
    average.add({ w: Float32Array.of(4, -2) });
    expect(Array.from(average.value!.w!)).toEqual([4, -2]);
    average.add({ w: Float32Array.of(1, 1) });
    // weights 0.5 * 0.5 and 0.5 over 1 - 0.25: a third and two thirds
    expect(Array.from(average.value!.w!)).toEqual([2, 0]);
    // a constant stays that constant however long it is averaged
    const constant = new ParameterAverage(0.99);
    for (let i = 0; i < 500; i++) constant.add({ w: Float32Array.of(0.3) });
    expect(constant.value!.w![0]).toBeCloseTo(0.3, 6);
  });
});
