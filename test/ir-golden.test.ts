/** The printed IR of every example is held by a golden file; UPDATE_GOLDEN=1 rewrites them. */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lowerCells } from '../compiler/frontend.js';
import { printProgram } from '../compiler/ir.js';

const examples = readdirSync('examples').filter((f) => f.endsWith('.seq'));

describe('seqc ir golden files', () => {
  it.each(examples)('%s', (file) => {
    const text = lowerCells(readFileSync(`examples/${file}`, 'utf8'), file).map(printProgram).join('\n');
    const golden = `test/golden/${file.replace(/\.seq$/, '.ir')}`;
    if (process.env['UPDATE_GOLDEN'] || !existsSync(golden)) writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });
});
