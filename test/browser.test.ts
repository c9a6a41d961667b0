/**
 * The web demo in Debian's headless Chromium, WebGPU on SwiftShader (test/chromium.ts):
 * - the page compiles examples/lstm.seq itself and runs it; the module `seqc compile`
 *   writes (lstm.js) runs unchanged in the page and in Node on Dawn; all of them equal the
 *   float64 reference within 1e-5, also with inputs large enough that SwiftShader's tanh
 *   would return NaN without the clamp in the generated WGSL;
 * - a malformed cell shows an error at its line and column, and the page keeps working;
 * - the character model trains (the loss falls) and samples text.
 * Screenshots and the measured figures go to test/artifacts/. Without Chromium the file is
 * skipped with a message, except in CI (CI=true), where that is a failure.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeqError, locate } from '../dsl/diagnostics.js';
import { lowerSource } from '../compiler/frontend.js';
import type { CellProgram } from '../compiler/ir.js';
import { randomInputs, randomParams } from '../compiler/random-data.js';
import { compare } from '../runtime/compare.js';
import { Random } from '../runtime/init.js';
import { referenceForward } from '../runtime/reference.js';
import { buildWeb } from '../scripts/build-web.mjs';
import { startServer } from '../examples/web/serve.mjs';
import { closeBrowser, findChromium, launchChromium } from './chromium.js';
import { runSeqc } from './run-seqc.js';
import { f32ToF16Bits, halvesToFloat32 } from '../runtime/half-bits.js';

const chromiumPath = findChromium();
const inCI = !!process.env['CI'] && process.env['CI'] !== 'false';
const ARTIFACTS = 'test/artifacts';
// inside the package, so that lstm.js's `seqc/runtime` resolves (to the Node entry) in Node
const COMPILED = join('out', 'test-browser');
const LSTM_SOURCE = readFileSync('examples/lstm.seq', 'utf8');

if (!chromiumPath && !inCI) {
  console.warn('test/browser.test.ts: skipped: no Chromium (apt-get install -y chromium, or set CHROMIUM_PATH); in CI (CI=true) this is a failure');
}

describe.runIf(!chromiumPath && inCI)('the browser test in CI', () => {
  it('finds Chromium', () => {
    throw new Error(`CI=true but no Chromium at ${process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'}: .ci/run installs it with apt-get install -y chromium`);
  });
});

type Arrays = Record<string, number[]>;
interface PageForward {
  cell: string;
  device: string;
  limits: Record<string, number>;
  features: string[];
  ms: number;
  outputs: Arrays;
  states: Arrays;
}

/**
 * Fresh weights and inputs for lstm.seq, as plain arrays for the page and for Node. With
 * `saturate`, every third gate row gets a bias of ±(90..150): past where SwiftShader's tanh
 * gives NaN, and large through the bias rather than a long sum, so float32 rounding stays
 * far below the tolerance.
 */
function lstmCase(program: CellProgram, seed: number, saturate = false) {
  const sizes = { I: 24, H: 40 };
  const T = 12;
  const B = 3;
  const random = new Random(seed);
  const params = randomParams(program, sizes, random);
  const inputs = randomInputs(program, sizes, T, B, random);
  if (saturate) params['b']!.forEach((_, r, b) => r % 3 === 0 && (b[r] = (r % 2 ? 1 : -1) * (90 + 60 * random.uniform())));
  const plain = (r: Record<string, Float32Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Array.from(v)]));
  return { sizes, T, B, params, inputs, request: { sizes, batch: B, params: plain(params), inputs: plain(inputs) } };
}

/** Largest |gate pre-activation| of the first step, W @ x + b (what reaches tanh(g)). */
function largestPreactivation(c: ReturnType<typeof lstmCase>): number {
  const { I, H } = c.sizes;
  const W = c.params['W']!;
  const x = c.inputs['x']!;
  let largest = 0;
  for (let b = 0; b < c.B; b++) {
    for (let r = 0; r < 4 * H; r++) {
      let s = c.params['b']![r]!;
      for (let k = 0; k < I; k++) s += W[r * I + k]! * x[b * I + k]!;
      largest = Math.max(largest, Math.abs(s));
    }
  }
  return largest;
}

function maxAbsDifference(a: Arrays, b: Arrays): number {
  let largest = 0;
  for (const name of Object.keys(a)) {
    const x = a[name]!;
    const y = b[name]!;
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) largest = Math.max(largest, Math.abs(x[i]! - y[i]!));
  }
  return largest;
}

/** Every output and final state against the float64 reference (|d| <= 1e-5 + 1e-5 |e|). */
function checkAgainstReference(program: CellProgram, c: ReturnType<typeof lstmCase>, got: { outputs: Arrays; states: Arrays }): number {
  const ref = referenceForward(program, { params: c.params, inputs: c.inputs, sizes: c.sizes, T: c.T, B: c.B });
  const pairs = [
    ...Object.entries(ref.outputs).map(([name, expected]) => [`output ${name}`, expected, got.outputs[name]] as const),
    ...Object.entries(ref.finalStates).map(([name, expected]) => [`final state ${name}`, expected, got.states[name]] as const),
  ];
  let largest = 0;
  for (const [label, expected, values] of pairs) {
    expect(values, `${label} is missing`).toBeDefined();
    expect(values!.every(Number.isFinite), `${label} has non-finite values`).toBe(true);
    const result = compare(values!, expected);
    expect(result.ok, `${label}: max |got - f64| = ${result.maxAbs} at ${JSON.stringify(result.worst)}`).toBe(true);
    largest = Math.max(largest, result.maxAbs);
  }
  return largest;
}

/** Runs lstm.js in a plain Node process on Dawn (the Node entry of seqc/runtime). */
async function forwardInNode(request: ReturnType<typeof lstmCase>['request'] & { paramPrecision?: 'f16' }): Promise<{ outputs: Arrays; states: Arrays; device: string }> {
  await writeFile(join(COMPILED, 'request.json'), JSON.stringify(request));
  const { status, stdout, stderr } = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [join(COMPILED, 'node-forward.mjs')], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? 1 : 0, stdout, stderr })),
  );
  expect(status, stderr).toBe(0);
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

async function waitForCell(page: Page, cell: string): Promise<void> {
  await page.waitForFunction((name) => {
    const s = window.seqcDemo?.status();
    return s && s.cell === name && !s.error && !s.compiling;
  }, cell, { timeout: 60_000 });
}

describe.runIf(!!chromiumPath)('the web demo in Chromium (WebGPU on SwiftShader)', () => {
  let server: Server | undefined;
  let origin = '';
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const figures: Record<string, unknown> = {};
  const lstm = lowerSource(LSTM_SOURCE, 'examples/lstm.seq');

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    await rm(COMPILED, { recursive: true, force: true });
    await mkdir(COMPILED, { recursive: true });
    const started = performance.now();
    figures['bundles'] = await buildWeb();
    figures['buildMs'] = Math.round(performance.now() - started);
    const compiled = await runSeqc('compile', 'examples/lstm.seq', '-o', join(COMPILED, 'lstm.js'));
    expect(compiled.status, compiled.stderr).toBe(0);
    await writeFile(join(COMPILED, 'node-forward.mjs'), `import { readFileSync } from 'node:fs';
import { releaseDevice } from 'seqc/runtime';
import createLSTM from './lstm.js';
const request = JSON.parse(readFileSync(new URL('./request.json', import.meta.url), 'utf8'));
const model = await createLSTM({ sizes: request.sizes, batch: request.batch, paramPrecision: request.paramPrecision });
model.setParams(Object.fromEntries(Object.entries(request.params).map(([k, v]) => [k, Float32Array.from(v)])));
const result = await model.forward(Object.fromEntries(Object.entries(request.inputs).map(([k, v]) => [k, Float32Array.from(v)])));
const plain = (r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Array.from(v)]));
console.log(JSON.stringify({ device: model.deviceDescription, outputs: plain(result.outputs), states: plain(result.states) }));
model.dispose();
await releaseDevice();
`);
    ({ server, origin } = await startServer({ mounts: { '/compiled/': COMPILED } }));
    browser = await launchChromium(chromiumPath!);
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => !document.getElementById('device')?.textContent?.startsWith('Looking'), null, { timeout: 60_000 });
    figures['device'] = await page.textContent('#device');
  }, 180_000);

  afterAll(async () => {
    await closeBrowser(browser);
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
    await writeFile(join(ARTIFACTS, 'browser-figures.json'), JSON.stringify(figures, null, 2)).catch(() => undefined);
  });

  it('finds a WebGPU adapter in the page', async () => {
    const device = await page.textContent('#device');
    expect(device, 'navigator.gpu gave no adapter').toMatch(/^WebGPU: navigator\.gpu/);
    expect(device).toMatch(/swiftshader/);
  });

  it('compiles lstm.seq in the page, and lstm.js gives the numbers Node on Dawn and the float64 reference give', async () => {
    await page.fill('#source', LSTM_SOURCE);
    await waitForCell(page, 'LSTM');
    expect(await page.textContent('#wgsl')).toContain('@compute');
    expect(await page.locator('#kernel option').count()).toBeGreaterThan(1);

    const c = lstmCase(lstm, 11);
    const inPage = await page.evaluate((r) => window.seqcDemo.forward(r), c.request) as PageForward;
    const fromModule = await page.evaluate((r) => window.seqcDemo.forward({ ...r, module: '/compiled/lstm.js' }), c.request) as PageForward;
    const inNode = await forwardInNode(c.request);
    expect(inPage.cell).toBe('LSTM');
    expect(fromModule.cell).toBe('LSTM');
    // the device was asked for the adapter's limits: SwiftShader offers 10 storage buffers, the default is 8
    expect(fromModule.limits['maxStorageBuffersPerShaderStage']).toBeGreaterThan(8);
    expect(fromModule.limits['maxComputeWorkgroupStorageSize']).toBeGreaterThan(16384);

    figures['lstm'] = {
      sizes: c.sizes, T: c.T, B: c.B,
      node: inNode.device, chromium: fromModule.device, chromiumLimits: fromModule.limits,
      maxAbs: {
        chromiumModuleVsReference: checkAgainstReference(lstm, c, fromModule),
        chromiumPageCompiledVsReference: checkAgainstReference(lstm, c, inPage),
        nodeVsReference: checkAgainstReference(lstm, c, inNode),
        nodeVsChromium: Math.max(maxAbsDifference(inNode.outputs, fromModule.outputs), maxAbsDifference(inNode.states, fromModule.states)),
        pageCompiledVsModule: Math.max(maxAbsDifference(inPage.outputs, fromModule.outputs), maxAbsDifference(inPage.states, fromModule.states)),
      },
    };
    const maxAbs = (figures['lstm'] as { maxAbs: Record<string, number> }).maxAbs;
    expect(maxAbs['nodeVsChromium']).toBeLessThanOrEqual(1e-5);
    console.log(`lstm forward: max |node - chromium| = ${maxAbs['nodeVsChromium']!.toExponential(2)}, chromium vs f64 ${maxAbs['chromiumModuleVsReference']!.toExponential(2)}, node vs f64 ${maxAbs['nodeVsReference']!.toExponential(2)}`);

    // the module the page emits is the one seqc compile wrote, byte for byte
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('lstm.js');
    expect(readFileSync((await download.path())!, 'utf8')).toBe(readFileSync(join(COMPILED, 'lstm.js'), 'utf8'));
  });

  it('runs lstm.js with its parameters as halves, as Node on Dawn does, on the halves the reference is given', async () => {
    const c = lstmCase(lstm, 13);
    const request = { ...c.request, paramPrecision: 'f16' as const };
    const halves = await page.evaluate((r) => window.seqcDemo.forward({ ...r, module: '/compiled/lstm.js' }), request) as PageForward;
    const f32 = await page.evaluate((r) => window.seqcDemo.forward({ ...r, module: '/compiled/lstm.js' }), c.request) as PageForward;
    const inNode = await forwardInNode(request);
    // the f32 parameters rounded to the nearest half, ties to even: what both adapters store
    const rounded = Object.fromEntries(Object.entries(c.params).map(([k, v]) => [k, halvesToFloat32(Uint16Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length), f32ToF16Bits))]));
    const onHalves = { ...c, params: rounded };
    const maxAbs = {
      chromiumVsReferenceOnHalves: checkAgainstReference(lstm, onHalves, halves),
      nodeVsReferenceOnHalves: checkAgainstReference(lstm, onHalves, inNode),
      chromiumHalvesVsF32: Math.max(maxAbsDifference(halves.outputs, f32.outputs), maxAbsDifference(halves.states, f32.states)),
    };
    figures['halves'] = { chromiumFeatures: halves.features, maxAbs };
    // the halves are read: against the f32 parameters the outputs move by about a half's rounding
    expect(maxAbs.chromiumHalvesVsF32).toBeGreaterThan(1e-5);
    expect(maxAbs.chromiumHalvesVsF32).toBeLessThan(1e-2);
  });

  it('checks the cell against the float64 reference in the Forward check view', async () => {
    await page.click('[data-view="forward-check"]');
    await page.fill('#check-size-I', '32');
    await page.fill('#check-size-H', '48');
    await page.click('#check-run');
    await page.waitForFunction(() => /^(PASS|FAIL)|\b(error|failed)\b/i.test(document.querySelector('#check-result .status')?.textContent ?? ''), null, { timeout: 60_000 });
    expect(await page.textContent('#check-result .status')).toMatch(/^PASS/);
    expect(await page.locator('#check-result td:text-is("ok")').count()).toBe(3); // output h, final h, final c
    // and where its time went: the hoisted GEMM, then the step loop's kernel(s)
    const kernels = await page.locator('#check-profile td:first-child').allTextContents();
    expect(kernels[0]).toMatch(/^LSTM\/hoisted0#0 \(\d+x\d+/);
    expect(kernels.slice(1).join(' ')).toMatch(/LSTM\/(persistent|step0)#\d/);
    await page.click('[data-view="char-model"]');
  });

  it('stays finite where SwiftShader\'s tanh would not: pre-activations past 89 are clamped in the WGSL', async () => {
    const c = lstmCase(lstm, 12, true);
    expect(largestPreactivation(c)).toBeGreaterThan(89);
    const fromModule = await page.evaluate((r) => window.seqcDemo.forward({ ...r, module: '/compiled/lstm.js' }), c.request) as PageForward;
    figures['saturatedMaxAbs'] = checkAgainstReference(lstm, c, fromModule);
  });

  it('shows a malformed cell\'s error at its line and column, and keeps working', async () => {
    const broken = [
      // a syntax error: a parenthesis left open
      LSTM_SOURCE.replace('h[t] = sigmoid(o) * tanh(c[t])', 'h[t] = sigmoid(o) * tanh(c[t]'),
      // a shape error: U is [4*H, H], x[t] is [I]
      LSTM_SOURCE.replace('U @ h[t-1]', 'U @ x[t]'),
    ];
    for (const [index, source] of broken.entries()) {
      let expected: SeqError | undefined;
      try {
        lowerSource(source, 'cell.seq');
      } catch (error) {
        expected = error as SeqError;
      }
      expect(expected).toBeInstanceOf(SeqError);
      const at = locate(source, expected!.span.start);
      await page.fill('#source', source);
      await page.waitForFunction(() => !!window.seqcDemo.status().error && !window.seqcDemo.status().compiling, null, { timeout: 30_000 });
      const status = await page.evaluate(() => window.seqcDemo.status());
      expect(status.error).toMatchObject({ line: at.line, column: at.column });
      const inline = page.locator('#inline-error');
      await expect.poll(() => inline.isVisible()).toBe(true);
      expect(await inline.textContent()).toMatch(new RegExp(`^${at.line}:${at.column}: `));
      expect(await inline.getAttribute('data-line')).toBe(String(at.line));
      expect(await page.textContent('.gutter .error-line')).toBe(`${at.line}\n`);
      expect(await page.textContent('#diagnostics')).toContain(`cell.seq:${at.line}:${at.column}: error: ${expected!.detail}`);
      expect(await page.textContent('.backdrop mark.error-span')).not.toBe('');
      await page.screenshot({ path: join(ARTIFACTS, `demo-error-${index + 1}.png`) });
      // the page still runs the last cell that compiled
      const c = lstmCase(lstm, 20 + index);
      checkAgainstReference(lstm, c, await page.evaluate((r) => window.seqcDemo.forward(r), c.request) as PageForward);
      figures[`error${index + 1}`] = { line: at.line, column: at.column, message: expected!.detail };
    }
    await page.fill('#source', LSTM_SOURCE);
    await waitForCell(page, 'LSTM');
    expect(await page.locator('#inline-error').isVisible()).toBe(false);
  });

  it('trains the character model on the page\'s text, plots the loss and samples text', async () => {
    await page.selectOption('#example', 'charlm.seq');
    await waitForCell(page, 'CharLM');
    // batch 4 takes the small (one-row) tiles: SwiftShader compiles them fastest
    await page.fill('#lm-batch', '4');
    await page.fill('#lm-window', '16');
    await page.fill('#lm-steps', '8');
    const started = performance.now();
    await page.click('#train');
    await page.waitForFunction(() => {
      const status = document.getElementById('train-status')!;
      return / — (done|stopped)$/.test(status.textContent ?? '') || status.classList.contains('error');
    }, null, { timeout: 240_000 });
    figures['trainMs'] = Math.round(performance.now() - started);
    const status = await page.textContent('#train-status');
    expect(await page.locator('#train-status.error').count(), status ?? '').toBe(0);
    const losses = JSON.parse((await page.getAttribute('#loss-plot', 'data-losses'))!) as number[];
    figures['losses'] = losses;
    expect(losses).toHaveLength(8);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!, `losses ${losses.join(', ')}`).toBeLessThan(losses[0]! - 0.3);
    expect(await page.locator('#loss-plot polyline').count()).toBe(2);

    await page.fill('#lm-length', '60');
    await page.click('#sample');
    await page.waitForFunction(() => /^Sampled/.test(document.getElementById('train-status')!.textContent ?? '') || document.getElementById('train-status')!.classList.contains('error'), null, { timeout: 120_000 });
    const sample = (await page.textContent('#sample-output'))!;
    figures['sample'] = sample;
    expect(sample.startsWith('Alice ')).toBe(true);
    expect(sample.length).toBeGreaterThan('Alice '.length + 30);
    // the training kernels are listed with the forward ones
    expect(await page.locator('#kernel optgroup').count()).toBe(3);
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
