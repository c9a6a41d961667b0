/**
 * The printed IR of every example, and of its training passes (forward with the default loss,
 * and the backward scan, as `seqc ir --grad` prints them), is held by a golden file;
 * UPDATE_GOLDEN=1 rewrites them.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.js';
import { lowerCells } from '../compiler/frontend.js';
import { printProgram } from '../compiler/ir.js';
import { defaultLoss, withLoss } from '../compiler/loss.js';

const examples = readdirSync('examples').filter((f) => f.endsWith('.seq'));

function expectGolden(text: string, golden: string): void {
  if (process.env['UPDATE_GOLDEN'] || !existsSync(golden)) writeFileSync(golden, text);
  expect(text).toBe(readFileSync(golden, 'utf8'));
}

describe('seqc ir golden files', () => {
  it.each(examples)('%s', (file) => {
    const text = lowerCells(readFileSync(`examples/${file}`, 'utf8'), file).map(printProgram).join('\n');
    expectGolden(text, `test/golden/${file.replace(/\.seq$/, '.ir')}`);
  });

  it.each(examples)('%s, training passes', (file) => {
    const text = lowerCells(readFileSync(`examples/${file}`, 'utf8'), file).map((cell) => {
      const { forward, backward } = differentiate(withLoss(cell, defaultLoss(cell)));
      return `${printProgram(forward)}\n${printProgram(backward)}`;
    }).join('\n');
    expectGolden(text, `test/golden/${file.replace(/\.seq$/, '.grad.ir')}`);
  });
});
