/**
 * The size cap on tile variants (MAX_KERNEL_CHARS): a plan skips generating the twins whose
 * length, extrapolated from its one- and two-row twins, passes the cap. That is a saving of
 * compile time only: every plan must hold exactly the variants it holds when every candidate
 * tile is generated and measured.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lowerFile } from '../compiler/frontend.js';
import { MAX_KERNEL_CHARS, buildLaunchPlan } from '../compiler/launch-plan.js';
import { buildTrainingPlans } from '../compiler/training.js';
import type { LaunchPlan } from '../runtime/plan.js';

const sources = [...readdirSync('examples').filter((f) => f.endsWith('.seq')).map((f) => `examples/${f}`), 'bench/cells/lstm-readout.seq'];

function cellsOf(file: string) {
  return lowerFile(readFileSync(file, 'utf8'), file).cells;
}

describe('tile variants under the size cap', () => {
  it.each(sources)('%s: the same variants whether sizes are extrapolated or every tile is generated', (file) => {
    for (const cell of cellsOf(file)) {
      expect(buildLaunchPlan(cell)).toEqual(buildLaunchPlan(cell, { extrapolateTileSizes: false }));
    }
  });

  it('the same training plans for an LSTM with a readout', () => {
    const [cell] = cellsOf('bench/cells/lstm-readout.seq');
    const loss = { kind: 'softmax-ce' as const, output: 'y' };
    expect(buildTrainingPlans(cell!, loss)).toEqual(buildTrainingPlans(cell!, loss, { extrapolateTileSizes: false }));
  });

  it('an LSTM step keeps no tile past the cap, and its 8-row tile is the widest that fits', () => {
    const [cell] = cellsOf('examples/lstm.seq');
    const plan: LaunchPlan = buildLaunchPlan(cell!);
    const step = plan.kernels.find((k) => k.phase === 'step' && !k.persistent)!;
    const shapes = step.variants.map((v) => `${v.rows}x${v.cols}${v.vectorParams ? 'v' : ''}`);
    for (const v of step.variants) if (v.rows > 1) expect(v.wgsl.length).toBeLessThanOrEqual(MAX_KERNEL_CHARS);
    // 8x16 would be 241k characters: the plan keeps 8x8, and nothing wider at 8 rows
    expect(shapes).toContain('8x8v');
    expect(shapes.filter((s) => s.startsWith('8x'))).toEqual(['8x8v', '8x8']);
  });
});
