/**
 * The seqc web demo. The compiler runs in this page: every edit of the cell is parsed,
 * checked, lowered and compiled to WGSL here, errors are shown where they are, and the views
 * run the result on `navigator.gpu`. `window.seqcDemo` lets a script (the browser test)
 * drive the page.
 */
import charlm from '../charlm.seq';
import gruResetAfter from '../gru-reset-after.seq';
import gru from '../gru.seq';
import lstmPeephole from '../lstm-peephole.seq';
import lstm from '../lstm.seq';
import mingru from '../mingru.seq';
import rnn from '../rnn.seq';
import { emitModule } from '../../compiler/emit.js';
import { lowerSource } from '../../compiler/frontend.js';
import { buildLaunchPlan } from '../../compiler/launch-plan.js';
import { SeqError, locate } from '../../dsl/diagnostics.js';
import { getDevice } from '../../runtime/device.js';
import { createModel } from '../../runtime/model.js';
import type { LaunchPlan } from '../../runtime/plan.js';
import { Editor } from './editor.js';
import { type Compiled, type Demo, type View, errorText, h } from './view.js';
import { CharModelView } from './views/char-model.js';
import { ForwardCheckView } from './views/forward-check.js';

const EXAMPLES: Readonly<Record<string, string>> = {
  'charlm.seq': charlm,
  'lstm.seq': lstm,
  'gru.seq': gru,
  'gru-reset-after.seq': gruResetAfter,
  'rnn.seq': rnn,
  'mingru.seq': mingru,
  'lstm-peephole.seq': lstmPeephole,
};

/** The tabs, in order; a new view (seq2seq with attention, say) is one more entry. */
const VIEWS: readonly View[] = [new CharModelView(), new ForwardCheckView()];

const FILE = 'cell.seq';
const COMPILE_DELAY_MS = 250;

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

let compiled: Compiled | undefined;
let lastError: { line: number; column: number; message: string } | undefined;
let pending = 0;
let extraPlans: readonly { label: string; plan: LaunchPlan }[] = [];

const device = getDevice();
device.then(
  (info) => ($('device').textContent = `WebGPU: ${info.description}`),
  (error: unknown) => {
    $('device').textContent = `WebGPU unavailable: ${errorText(error)} The compiler still works here; running a cell needs WebGPU.`;
    $('device').classList.add('error');
  },
);

const demo: Demo = {
  device,
  current: () => compiled,
  showPlans(plans) {
    extraPlans = plans;
    listKernels();
  },
};

const editor = new Editor(EXAMPLES['charlm.seq']!, (source) => {
  const examples = $<HTMLSelectElement>('example');
  if (examples.value && source !== EXAMPLES[examples.value]) examples.value = ''; // now "edited"
  clearTimeout(pending);
  $('compile-status').textContent = 'editing...';
  pending = window.setTimeout(compileNow, COMPILE_DELAY_MS);
});

function compileNow(): void {
  pending = 0;
  const source = editor.value;
  const diagnostics = $('diagnostics');
  const status = $('compile-status');
  try {
    const started = performance.now();
    const program = lowerSource(source, FILE);
    const plan = buildLaunchPlan(program);
    compiled = { source, program, plan, ms: performance.now() - started };
    lastError = undefined;
    editor.setError(undefined);
    diagnostics.hidden = true;
    const phases = (phase: string) => plan.kernels.filter((k) => k.phase === phase && !k.persistent).length;
    const wgslBytes = plan.kernels.reduce((n, k) => n + k.variants.reduce((m, v) => m + v.wgsl.length, 0), 0);
    const loop = phases('scan') ? `${phases('scan')} parallel scan` : `${phases('step')} per step${plan.kernels.some((k) => k.persistent) ? ' or one persistent' : ''}`;
    status.textContent = `compiled cell ${program.name} in ${compiled.ms.toFixed(0)} ms: ${plan.kernels.length} kernels ` +
      `(${phases('hoisted')} hoisted, ${loop}), ${(wgslBytes / 1024).toFixed(1)} KiB of WGSL`;
    status.className = 'status ok';
    extraPlans = [];
    listKernels();
    for (const view of VIEWS) view.update(compiled);
  } catch (error) {
    status.className = 'status error';
    diagnostics.hidden = false;
    if (error instanceof SeqError) {
      const { line, column } = locate(source, error.span.start);
      lastError = { line, column, message: error.detail };
      editor.setError({ span: error.span, message: `${line}:${column}: ${error.detail}${error.hint ? ` (${error.hint})` : ''}` });
      diagnostics.textContent = error.format(source);
      status.textContent = `error at line ${line}, column ${column}${compiled ? ` — the views keep cell ${compiled.program.name}` : ''}`;
    } else {
      // not the user's mistake: say so plainly rather than pointing at a line
      lastError = { line: 0, column: 0, message: errorText(error) };
      editor.setError(undefined);
      diagnostics.textContent = `internal compiler error: ${errorText(error)}`;
      status.textContent = 'the compiler failed on this cell';
      console.error(error);
    }
  }
}

/** The WGSL panel: every kernel of the inference plan (and the training plans once built). */
function listKernels(): void {
  const select = $<HTMLSelectElement>('kernel');
  const previous = select.value;
  const plans = compiled ? [{ label: 'forward', plan: compiled.plan }, ...extraPlans] : [];
  select.replaceChildren(
    ...plans.map(({ label, plan }, p) =>
      h('optgroup', { label: `${label} (${plan.kernels.length} kernels)` },
        ...plan.kernels.flatMap((k, i) =>
          k.variants.map((v, j) => h('option', { value: `${p}:${i}:${j}` }, `${k.label} · ${k.phase} · tile ${v.rows} row${v.rows > 1 ? 's' : ''} × ${v.cols} col${v.cols > 1 ? 's' : ''}`)),
        ),
      ),
    ),
  );
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  showKernel();
}

function showKernel(): void {
  const select = $<HTMLSelectElement>('kernel');
  const [p, i, j] = select.value.split(':').map(Number) as [number, number, number];
  const plans = compiled ? [compiled.plan, ...extraPlans.map((e) => e.plan)] : [];
  const kernel = plans[p]?.kernels[i];
  const variant = kernel?.variants[j];
  $('wgsl').textContent = variant?.wgsl ?? '';
  $('kernel-info').textContent = kernel && variant
    ? `${variant.wgsl.split('\n').length} lines; binds ${kernel.buffers.length + (kernel.usesParams ? 1 : 0) + (kernel.usesGrads ? 1 : 0)} storage buffers`
    : '';
}

function download(): void {
  if (!compiled) return;
  const name = compiled.program.name.toLowerCase();
  const { js } = emitModule(compiled.plan, { runtime: 'seqc/runtime', sourceName: `${name}.seq` });
  const link = h('a', { href: URL.createObjectURL(new Blob([js], { type: 'text/javascript' })), download: `${name}.js` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

function buildPage(): void {
  const examples = $<HTMLSelectElement>('example');
  examples.replaceChildren(
    h('option', { value: '', disabled: true }, 'edited cell'),
    ...Object.keys(EXAMPLES).map((name) => h('option', { value: name }, `examples/${name}`)),
  );
  examples.value = 'charlm.seq';
  examples.addEventListener('change', () => {
    editor.value = EXAMPLES[examples.value]!;
    compileNow();
  });
  $('editor-slot').replaceWith(editor.element);
  $('diagnostics').addEventListener('click', () => editor.revealError());
  $('kernel').addEventListener('change', showKernel);
  $('download').addEventListener('click', download);
  const tabs = $('tabs');
  const panes = $('views');
  for (const view of VIEWS) {
    const pane = h('section', { id: `view-${view.id}`, class: 'view', hidden: view !== VIEWS[0] });
    const tab = h('button', { class: 'tab', role: 'tab', 'data-view': view.id, onclick: () => select(view.id) }, view.title);
    tabs.append(tab);
    panes.append(pane);
    view.mount(pane, demo);
  }
  const select = (id: string) => {
    for (const view of VIEWS) {
      $(`view-${view.id}`).hidden = view.id !== id;
      tabs.querySelector(`[data-view="${view.id}"]`)!.classList.toggle('active', view.id === id);
    }
  };
  select(VIEWS[0]!.id);
  compileNow();
}

/** What the browser test calls: run the editor's cell, or a compiled module, on given data. */
export interface ForwardRequest {
  /** URL of a module written by `seqc compile`; without it, the cell compiled in the page */
  readonly module?: string;
  readonly sizes: Record<string, number>;
  readonly batch: number;
  /** row-major, by parameter name */
  readonly params: Record<string, number[]>;
  /** [T, B, ...], by input name */
  readonly inputs: Record<string, number[]>;
  /** how the kernels store the parameters they read (CreateOptions.paramPrecision) */
  readonly paramPrecision?: 'f32' | 'f16';
}

async function forward(request: ForwardRequest) {
  const options = { sizes: request.sizes, batch: request.batch, paramPrecision: request.paramPrecision };
  let model;
  if (request.module) {
    const loaded = (await import(/* @vite-ignore */ request.module)) as { default: (o: typeof options) => ReturnType<typeof createModel> };
    model = await loaded.default(options);
  } else {
    if (!compiled) throw new Error('no cell has compiled yet');
    model = await createModel(compiled.plan, options);
  }
  try {
    model.setParams(Object.fromEntries(Object.entries(request.params).map(([k, v]) => [k, Float32Array.from(v)])));
    const inputs = Object.fromEntries(Object.entries(request.inputs).map(([k, v]) => [k, Float32Array.from(v)]));
    const started = performance.now();
    const result = await model.forward(inputs);
    const ms = performance.now() - started;
    const plain = (record: Record<string, Float32Array>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, Array.from(v)]));
    const limits = { maxStorageBuffersPerShaderStage: model.device.limits.maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize: model.device.limits.maxComputeWorkgroupStorageSize };
    const features = [...model.device.features].sort();
    return { cell: model.plan.cell, device: model.deviceDescription, limits, features, ms, outputs: plain(result.outputs), states: plain(result.states) };
  } finally {
    model.dispose();
  }
}

declare global {
  interface Window {
    seqcDemo: {
      status(): { cell?: string; error?: { line: number; column: number; message: string }; compiling: boolean };
      forward(request: ForwardRequest): ReturnType<typeof forward>;
    };
  }
}

window.seqcDemo = {
  status: () => ({ cell: compiled?.program.name, error: lastError, compiling: pending !== 0 }),
  forward,
};

buildPage();
