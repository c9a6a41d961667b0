#!/usr/bin/env node
// Browser builds with esbuild:
//   dist/web/seqc-runtime.js   the runtime's browser entry as one ES module (what a page's
//                              import map points `seqc/runtime` at to run compiled modules)
//   examples/web/build/        the demo page: runtime.js (the same entry) and demo.js (the
//                              compiler and the page) sharing chunks, so that a compiled
//                              module the page imports and the page itself use one runtime
//                              and one device
// A build fails if anything it bundles reaches a native module, the Dawn `webgpu` package
// or a Node built-in. `node scripts/build-web.mjs` prints the sizes (raw and gzip).
import * as esbuild from 'esbuild';
import { builtinModules } from 'node:module';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const RUNTIME_BUNDLE = join(root, 'dist/web/seqc-runtime.js');
export const DEMO_BUILD = join(root, 'examples/web/build');

const NODE_ONLY = new Set(['webgpu', ...builtinModules]);

/** Fails the build, naming the importer, when browser code reaches Node-only code. */
const browserOnly = {
  name: 'browser-only',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '').split('/')[0];
      if (args.path.startsWith('node:') || NODE_ONLY.has(bare)) {
        return { errors: [{ text: `${relative(root, args.importer)} imports ${args.path}, which is Node-only; browser code must not reach it` }] };
      }
      if (args.path.endsWith('.node')) return { errors: [{ text: `${relative(root, args.importer)} imports the native module ${args.path}` }] };
      return undefined;
    });
  },
};

/** esbuild options shared by both builds (exported for the test that checks the guard). */
export const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['browser'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  metafile: true,
  logLevel: 'silent',
  plugins: [browserOnly],
  loader: { '.seq': 'text' },
};

async function sizes(dir, names) {
  const out = [];
  for (const name of names) {
    const bytes = await readFile(join(dir, name));
    out.push({ file: relative(root, join(dir, name)), bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
  return out;
}

/** Builds both; returns every JavaScript file written with its size. */
export async function buildWeb() {
  await import('./embed-grammar.mjs'); // the compiler's grammar, as a module
  await mkdir(dirname(RUNTIME_BUNDLE), { recursive: true });
  await esbuild.build({ ...common, entryPoints: [join(root, 'runtime/browser.ts')], outfile: RUNTIME_BUNDLE });
  await rm(DEMO_BUILD, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: { runtime: join(root, 'runtime/browser.ts'), demo: join(root, 'examples/web/main.ts') },
    outdir: DEMO_BUILD,
    splitting: true,
    chunkNames: 'chunk-[hash]',
  });
  const demoFiles = (await readdir(DEMO_BUILD)).filter((f) => f.endsWith('.js')).sort();
  return [...(await sizes(dirname(RUNTIME_BUNDLE), ['seqc-runtime.js'])), ...(await sizes(DEMO_BUILD, demoFiles))];
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const files = await buildWeb();
    for (const f of files) console.log(`${f.file.padEnd(44)} ${kib(f.bytes).padStart(10)}  gzip ${kib(f.gzip).padStart(9)}`);
    const page = files.filter((f) => f.file.startsWith('examples/'));
    const total = (key) => page.reduce((a, f) => a + f[key], 0);
    console.log(`${'the demo page (all of examples/web/build)'.padEnd(44)} ${kib(total('bytes')).padStart(10)}  gzip ${kib(total('gzip')).padStart(9)}`);
    await stat(RUNTIME_BUNDLE);
  } catch (error) {
    for (const e of error.errors ?? []) console.error(`build-web: ${e.text}${e.location ? ` (${e.location.file}:${e.location.line})` : ''}`);
    if (!error.errors) console.error(error);
    process.exitCode = 1;
  }
}
