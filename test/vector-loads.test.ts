/**
 * Vector weight loads (Tile.vectorParams): the scalar tile derived from a twin's text
 * (scalarTwin) reads parameters one element at a time and counts the storage accesses that
 * generating the scalar tile counts, for every kernel of every example that has vector loads.
 * That both compute the same values is checked on the device by the forward and gradient
 * tests (test/gpu-forward.test.ts, test/gpu-gradients.test.ts), which run the scalar tiles
 * at sizes that are not multiples of 4.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lowerFile } from '../compiler/frontend.js';
import { schedule } from '../compiler/schedule.js';
import type { Tile } from '../compiler/wgsl.js';
import { generateKernel, scalarTwin } from '../compiler/wgsl.js';

const TILES: readonly Tile[] = [{ rows: 8, cols: 8 }, { rows: 1, cols: 16 }, { rows: 16, cols: 4, lanes: 'rows' }];

describe('the scalar tile of a vector twin', () => {
  it('has no vector loads, and counts the accesses of the scalar tile as generated', () => {
    let twins = 0;
    let unrolled = 0;
    for (const file of readdirSync('examples').filter((f) => f.endsWith('.seq'))) {
      for (const cell of lowerFile(readFileSync(`examples/${file}`, 'utf8'), file).cells) {
        const scheduled = schedule(cell, {});
        const sizes = Object.fromEntries(cell.sizes.map((s, i) => [s.name, 5 + 3 * i]));
        for (const kernel of scheduled.kernels) {
          if (kernel.accumulation || kernel.phase === 'scan') continue;
          for (const tile of TILES) {
            if (tile.lanes && kernel.phase === 'step') continue;
            const twin = generateKernel(scheduled, kernel, { ...tile, vectorParams: true });
            if (!twin.vectorLoads) continue;
            // a twin whose loops step by four (operands or weights read along k) has its scalar tile generated
            if (twin.unrolled) {
              unrolled++;
              expect(twin.wgsl).toMatch(/ = k\d+ \+ 4u\)/);
              continue;
            }
            twins++;
            const plain = generateKernel(scheduled, kernel, tile);
            const derived = scalarTwin(twin);
            const where = `${file} ${cell.name} ${kernel.phase}${kernel.level} ${tile.rows}x${tile.cols}${tile.lanes ? ' rows' : ''}`;
            expect(derived.wgsl, where).not.toMatch(/\bw\d+\[|>> 2u|vec4/);
            expect(derived.wgsl.match(/\bparams\[/g)?.length, where).toBe(plain.wgsl.match(/\bparams\[/g)?.length);
            expect(derived.accesses.evaluate(sizes), where).toBe(plain.accesses.evaluate(sizes));
            expect(derived.sharedAccesses.evaluate(sizes), where).toBe(plain.sharedAccesses.evaluate(sizes));
            expect(derived.tile, where).toEqual(plain.tile);
          }
        }
      }
    }
    expect(twins).toBeGreaterThan(8);
    expect(unrolled).toBeGreaterThan(20);
  });
});
