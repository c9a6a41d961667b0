/**
 * The browser side without a browser: the bundles build and hold no Node-only code (the
 * build's guard fails on it, checked here on the Node entry), the package maps seqc/runtime
 * to the browser entry under the `browser` condition, and the browser host explains what
 * it cannot do in Node.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { browserHost } from '../runtime/browser.js';
import { NoAdapterError } from '../runtime/host.js';
import { RUNTIME_BUNDLE, buildWeb, common } from '../scripts/build-web.mjs';

function exportsOf(conditions: string[]): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('seqc/runtime'))))"], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr || String(error))) : resolve(JSON.parse(stdout.trim().split('\n').pop()!))),
  );
}

describe('browser bundles', () => {
  it('build, and hold no Node-only code', async () => {
    const files = await buildWeb();
    expect(files.map((f) => f.file)).toEqual(expect.arrayContaining(['dist/web/seqc-runtime.js', 'examples/web/build/demo.js', 'examples/web/build/runtime.js']));
    for (const { file } of files) {
      const text = await readFile(file, 'utf8');
      expect(text, file).not.toMatch(/["']node:|["']webgpu["']|\brequire\(|\.node["']/);
    }
    const runtime = await readFile(RUNTIME_BUNDLE, 'utf8');
    expect(runtime).toContain('navigator.gpu is missing');
    expect(runtime).not.toContain('Dawn (Node)');
  }, 60_000);

  it('refuse Node-only code: the Node entry does not bundle for the browser', async () => {
    const attempt = esbuild.build({ ...common, entryPoints: ['runtime/index.ts'], write: false, sourcemap: false });
    await expect(attempt).rejects.toThrow(/runtime\/(node-gpu|safetensors-file)\.ts imports (webgpu|node:[a-z/]+), which is Node-only/);
  }, 60_000);
});

describe('package entries', () => {
  it('seqc/runtime is the browser entry under the browser condition, and the Node entry in Node', async () => {
    const [node, browser] = await Promise.all([exportsOf([]), exportsOf(['browser'])]);
    expect(node).toEqual(expect.arrayContaining(['createModel', 'nodeHost', 'saveSafetensors', 'loadSafetensors']));
    expect(browser).toEqual(expect.arrayContaining(['createModel', 'getDevice', 'setHost', 'encodeSafetensors']));
    expect(browser).not.toContain('nodeHost');
    expect(browser).not.toContain('saveSafetensors');
  }, 60_000);

  it('the browser host says what is missing outside a browser', async () => {
    await expect(browserHost.findAdapter()).rejects.toBeInstanceOf(NoAdapterError);
    await expect(browserHost.findAdapter()).rejects.toThrow(/navigator\.gpu is missing.*In Node, import 'seqc\/runtime'/s);
    await expect(browserHost.saveSafetensors('m.safetensors', {})).rejects.toThrow(/save\('m\.safetensors'\) needs a file system.*toSafetensors\(\)/);
    await expect(browserHost.loadSafetensors('m.safetensors')).rejects.toThrow(/load\('m\.safetensors'\) needs a file system/);
  });
});
