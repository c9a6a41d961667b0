/**
 * The forward-check view: runs the editor's cell on WebGPU with random weights and inputs
 * and compares every output with the float64 reference interpreter, both in this page —
 * what `seqc run` does in Node.
 */
import { withoutDropout } from '../../../compiler/inference.js';
import { randomInputs, randomParams } from '../../../compiler/random-data.js';
import { compare } from '../../../runtime/compare.js';
import { Random } from '../../../runtime/init.js';
import { createModel } from '../../../runtime/model.js';
import { referenceForward } from '../../../runtime/reference.js';
import { type Compiled, type Demo, type View, errorText, h, numberField, readNumber } from '../view.js';

/** Sizes without a declared default start here. */
const UNDECLARED_SIZE = 16;

export class ForwardCheckView implements View {
  readonly id = 'forward-check';
  readonly title = 'Forward check';
  #compiled: Compiled | undefined;
  #busy = false;
  #el!: { sizes: HTMLDivElement; steps: HTMLInputElement; batch: HTMLInputElement; seed: HTMLInputElement; run: HTMLButtonElement; result: HTMLDivElement };
  #sizeInputs = new Map<string, HTMLInputElement>();

  mount(root: HTMLElement, _demo: Demo): void {
    const steps = numberField('steps T', 16, { min: 1, step: 1, id: 'check-steps' });
    const batch = numberField('batch B', 4, { min: 1, step: 1, id: 'check-batch' });
    const seed = numberField('seed', 1, { min: 0, step: 1, id: 'check-seed' });
    this.#el = {
      sizes: h('div', { class: 'controls' }),
      steps: steps.input, batch: batch.input, seed: seed.input,
      run: h('button', { id: 'check-run', class: 'primary', disabled: true, onclick: () => void this.#check() }, 'Run forward'),
      result: h('div', { id: 'check-result' }),
    };
    root.append(
      h('p', { class: 'note' }, 'Runs the cell over a whole sequence on WebGPU (one submit) with random weights, inputs and sizes below, and compares every output with the float64 reference interpreter; both run in this page.'),
      h('div', { class: 'controls' }, h('strong', {}, 'sizes'), this.#el.sizes),
      h('div', { class: 'controls' }, steps.row, batch.row, seed.row, this.#el.run),
      this.#el.result,
    );
  }

  update(compiled: Compiled): void {
    this.#compiled = compiled;
    const previous = new Map([...this.#sizeInputs].map(([name, input]) => [name, input.value]));
    this.#sizeInputs.clear();
    this.#el.sizes.replaceChildren(
      ...compiled.program.sizes.map((s) => {
        const field = numberField(s.name, Number(previous.get(s.name) ?? s.default ?? UNDECLARED_SIZE), { min: 1, step: 1, id: `check-size-${s.name}` });
        this.#sizeInputs.set(s.name, field.input);
        return field.row;
      }),
    );
    this.#el.run.disabled = this.#busy;
  }

  async #check(): Promise<void> {
    const compiled = this.#compiled;
    if (!compiled || this.#busy) return;
    this.#busy = true;
    this.#el.run.disabled = true;
    this.#el.result.replaceChildren(h('p', { class: 'status' }, `Compiling the kernels of ${compiled.program.name} and running...`));
    try {
      const sizes = Object.fromEntries([...this.#sizeInputs].map(([name, input]) => [name, readNumber(input, `size ${name}`, { integer: true, min: 1 })]));
      const T = readNumber(this.#el.steps, 'steps T', { integer: true, min: 1 });
      const B = readNumber(this.#el.batch, 'batch B', { integer: true, min: 1 });
      const random = new Random(readNumber(this.#el.seed, 'seed', { integer: true, min: 0 }));
      const { program, plan } = compiled;
      const model = await createModel(plan, { sizes, batch: B });
      try {
        const params = randomParams(program, sizes, random);
        model.setParams(params);
        const inputs = randomInputs(program, sizes, T, B, random);
        await model.forward(inputs); // the first run compiles pipelines and allocates buffers
        const started = performance.now();
        const gpu = await model.forward(inputs);
        const gpuMs = performance.now() - started;
        const refStarted = performance.now();
        // the plan is the inference forward, where dropout is the identity
        const reference = referenceForward(withoutDropout(program), { params, inputs, sizes, T, B });
        const refMs = performance.now() - refStarted;
        const rows = [
          ...Object.entries(reference.outputs).map(([name, expected]) => [`output ${name} [T, B, N]`, compare(gpu.outputs[name]!, expected)] as const),
          ...Object.entries(reference.finalStates).map(([name, expected]) => [`final state ${name}`, compare(gpu.states[name]!, expected)] as const),
        ];
        const ok = rows.every(([, c]) => c.ok);
        // where the forward's time goes: each kernel alone over all steps (SeqModel.profile)
        const [whole, ...kernels] = await model.profile(inputs, undefined, { repeats: 3 });
        const sum = kernels.reduce((total, k) => total + k.ms, 0);
        this.#el.result.replaceChildren(
          h('p', { class: ok ? 'status ok' : 'status error' }, ok ? 'PASS: WebGPU equals the float64 reference within 1e-5 (absolute + relative).' : 'FAIL: WebGPU differs from the float64 reference beyond 1e-5.'),
          h('table', {},
            h('tr', {}, h('th', {}, 'result'), h('th', {}, 'max |gpu − f64|'), h('th', {}, '')),
            ...rows.map(([label, c]) => h('tr', {}, h('td', {}, label), h('td', {}, c.maxAbs.toExponential(2)), h('td', {}, c.ok ? 'ok' : 'FAIL')))),
          h('p', { class: 'note' }, `${model.deviceDescription}; ${plan.kernels.length} kernels; forward ${gpuMs.toFixed(1)} ms on WebGPU (after a first run), reference ${refMs.toFixed(1)} ms in float64 JavaScript.`),
          h('p', { class: 'note' }, `Where the time goes: each kernel this forward runs, submitted alone over all ${T} steps (median of 3; the whole forward, one submit and the readback, took ${whole!.ms.toFixed(2)} ms).`),
          h('table', { id: 'check-profile' },
            h('tr', {}, h('th', {}, 'kernel (tile)'), h('th', {}, 'ms'), h('th', {}, 'share')),
            ...kernels.map((k) => h('tr', {}, h('td', {}, k.kernel), h('td', {}, k.ms.toFixed(2)), h('td', {}, `${Math.round((100 * k.ms) / sum)}%`)))),
        );
      } finally {
        model.dispose();
      }
    } catch (error) {
      this.#el.result.replaceChildren(h('p', { class: 'status error' }, errorText(error)));
    } finally {
      this.#busy = false;
      this.#el.run.disabled = false;
    }
  }
}
