#!/usr/bin/env node
// The GPU kit: one xz archive with everything bench/gpu-session.sh needs to measure seqc
// against its peers on a lent GPU machine. That machine has no network and no Node.js, and
// the working tree that travels to it is capped at 64 MiB, so node_modules (665 MB here)
// cannot go as it is. The archive holds this machine's node binary; the built dist/, bin/,
// bench/ and examples/; of node_modules only the files the bench and the CLI load (esbuild's
// metafile of their import graphs) with the package.json files above them, plus what they load by
// path at run time (Dawn's Linux binary, ONNX Runtime's wasm); and the Vulkan loader
// (Debian's libvulkan1), which Dawn opens to find the GPU.
//
// Usage: npm run build && node bench/gpu-kit.mjs [--out .gpu-kit/seqc-gpu-kit.tar.xz]
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** What travels to the device is capped at 64 MiB, the repository's own files included. */
const TRAVEL_LIMIT = 64 * 1024 * 1024;
/** Entries whose import graphs the kit must hold: the bench (with every peer) and the CLI. */
const ENTRIES = ['bench/run.mjs', 'bench/lstm-fwd-bwd.mjs', 'dist/cli/seqc.cjs'];
/** Files loaded by path at run time, not imported: no import graph names them. */
const LOADED_BY_PATH = ['node_modules/webgpu/dist/linux-x64/dawn.node', 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs', 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm'];
/** The repository's own folders the session runs from (dist/ is built, so not in git). */
const OWN = ['bin', 'bench', 'dist', 'examples', 'package.json'];

function filesUnder(path) {
  const full = join(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)))
    .filter((p) => !p.startsWith('bench/results/') && !p.endsWith('.map'));
}

/** Every node_modules file that the entries' import graphs reach, and the package.json of each package they come from. */
async function importedModules() {
  if (!existsSync(join(root, 'dist/cli/seqc.cjs'))) throw new Error('dist/ is missing: run npm run build first');
  const { metafile } = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    outdir: join(tmpdir(), 'seqc-gpu-kit-unused'),
    external: ['*.node'],
    logLevel: 'error',
  });
  const files = Object.keys(metafile.inputs).filter((p) => p.startsWith('node_modules/'));
  // a folder's package.json decides how Node loads its files (pure-rand's lib/esm says "type": "module")
  const manifests = new Set();
  for (const file of files) {
    const pkg = file.match(/^node_modules\/(?:@[^/]+\/)?[^/]+/)[0];
    for (let dir = dirname(file); dir.length >= pkg.length; dir = dirname(dir)) if (existsSync(join(root, dir, 'package.json'))) manifests.add(join(dir, 'package.json'));
  }
  return [...files, ...manifests];
}

/** libvulkan.so.1 from Debian's package, unpacked into lib/ of the kit; undefined where apt cannot fetch it. */
function vulkanLoader(kit) {
  const work = mkdtempSync(join(tmpdir(), 'seqc-vulkan-'));
  try {
    execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: work, stdio: 'pipe' });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    execFileSync('dpkg', ['-x', join(work, deb), join(work, 'x')]);
    const dir = join(work, 'x/usr/lib/x86_64-linux-gnu');
    mkdirSync(join(kit, 'lib'), { recursive: true });
    for (const f of readdirSync(dir).filter((f) => f.startsWith('libvulkan.so'))) copyFileSync(join(dir, f), join(kit, 'lib', f));
    return deb;
  } catch (error) {
    console.warn(`gpu-kit: no Vulkan loader packed (${error.message.split('\n')[0]}); the session uses the machine's own, if it has one`);
    return undefined;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Copies into `kit` what the session runs from: the repository's own folders and the
 * node_modules files they load. Returns the files copied and their bytes.
 */
export async function stageKit(kit) {
  const files = [...new Set([...OWN.flatMap(filesUnder), ...(await importedModules()), ...LOADED_BY_PATH])];
  let bytes = 0;
  for (const f of files) {
    const target = join(kit, f);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, f), target);
    bytes += statSync(target).size;
  }
  return { files: files.length, bytes };
}

async function packKit(out) {
  const staging = mkdtempSync(join(tmpdir(), 'seqc-gpu-kit-'));
  try {
    const kit = join(staging, 'kit');
    const { files, bytes } = await stageKit(kit);
    mkdirSync(join(kit, 'node/bin'), { recursive: true });
    copyFileSync(process.execPath, join(kit, 'node/bin/node'));
    const deb = vulkanLoader(kit);
    mkdirSync(dirname(out), { recursive: true });
    const partial = `${out}.partial`;
    execFileSync('tar', ['-C', staging, '-cJf', partial, 'kit'], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
    renameSync(partial, out); // never a half-written archive under the name the session reads
    const size = statSync(out).size;
    console.log(`${relative(root, out)}: ${(size / 2 ** 20).toFixed(1)} MiB (${files} files, ${(bytes / 2 ** 20).toFixed(1)} MiB of them, node ${process.version}${deb ? `, ${deb}` : ''})`);
    if (size > TRAVEL_LIMIT * 0.95) {
      console.error(`gpu-kit: ${(size / 2 ** 20).toFixed(1)} MiB is too close to the device's 64 MiB limit on what travels`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: '.gpu-kit/seqc-gpu-kit.tar.xz' } } });
  await packKit(resolve(root, values.out));
}
