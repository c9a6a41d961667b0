// The grammar lives alone in dsl/seq.ohm; this writes it into a module so that the
// compiler runs unchanged in Node and in a browser bundle (no file reads at run time). It
// embeds ohm's recipe of the grammar, not its text: building a grammar from text parses it
// with ohm's own grammar, 60-150 ms of every `seqc` process, where a recipe loads in 2 ms.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import * as ohm from 'ohm-js';
const root = new URL('..', import.meta.url);
const text = readFileSync(new URL('dsl/seq.ohm', root), 'utf8');
const recipe = ohm.grammar(text).toRecipe();
const target = new URL('dsl/grammar-source.generated.ts', root);
const body = `// Generated from dsl/seq.ohm by scripts/embed-grammar.mjs; do not edit.\nexport const GRAMMAR_RECIPE = ${JSON.stringify(recipe)};\n`;
let current = '';
try { current = readFileSync(target, 'utf8'); } catch {}
if (current !== body) {
  writeFileSync(new URL('dsl/grammar-source.generated.ts.tmp', root), body);
  renameSync(new URL('dsl/grammar-source.generated.ts.tmp', root), target);
}
