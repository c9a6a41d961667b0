// The grammar lives alone in dsl/seq.ohm; this writes it into a module so that the
// compiler runs unchanged in Node and in a browser bundle (no file reads at run time).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
const root = new URL('..', import.meta.url);
const text = readFileSync(new URL('dsl/seq.ohm', root), 'utf8');
const target = new URL('dsl/grammar-source.generated.ts', root);
const body = `// Generated from dsl/seq.ohm by scripts/embed-grammar.mjs; do not edit.\nexport const GRAMMAR_SOURCE = ${JSON.stringify(text)};\n`;
let current = '';
try { current = readFileSync(target, 'utf8'); } catch {}
if (current !== body) {
  writeFileSync(new URL('dsl/grammar-source.generated.ts.tmp', root), body);
  renameSync(new URL('dsl/grammar-source.generated.ts.tmp', root), target);
}
