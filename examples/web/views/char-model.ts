/**
 * The character-model view: trains the editor's cell (one that reads characters, as ids
 * `x: onehot[V]` or one-hot `x: [V]`, and returns logits, like examples/charlm.seq) on the text in the page with the
 * same trainer as `seqc train` (softmax cross-entropy, Adam, truncated BPTT over B streams),
 * plots the loss as it goes, and samples text from the model.
 */
import { characterInput, charTrainingPlans, createCharModel, languageCell, oneHot, sampleText } from '../../../compiler/char-model.js';
import type { SeqModel } from '../../../runtime/model.js';
import { lossCurveSvg } from '../../../runtime/text/svg-plot.js';
import { Vocabulary, batchify } from '../../../runtime/text/vocab.js';
import { ALICE } from '../text.js';
import { type Compiled, type Demo, type View, errorText, h, numberField, readNumber } from '../view.js';

interface Session {
  /** what the model was built from: a change to any of it starts a fresh model */
  readonly key: string;
  readonly model: SeqModel;
  readonly vocabulary: Vocabulary;
  readonly ids: Int32Array;
  readonly batch: number;
  windows: Iterator<{ x: Int32Array; y: Int32Array }>;
  /** the window length the iterator cuts */
  windowT: number;
  step: number;
  readonly losses: { x: number; y: number }[];
  readonly smoothed: { x: number; y: number }[];
}

export class CharModelView implements View {
  readonly id = 'char-model';
  readonly title = 'Character model';
  #demo!: Demo;
  #compiled: Compiled | undefined;
  #session: Session | undefined;
  #busy = false;
  #stop = false;
  #sampleSeed = 1;
  #redraw = 0;
  #el!: {
    text: HTMLTextAreaElement; batch: HTMLInputElement; window: HTMLInputElement; rate: HTMLInputElement; steps: HTMLInputElement;
    train: HTMLButtonElement; stop: HTMLButtonElement; reset: HTMLButtonElement; status: HTMLParagraphElement; plot: HTMLDivElement;
    prime: HTMLInputElement; temperature: HTMLInputElement; length: HTMLInputElement; sample: HTMLButtonElement; output: HTMLPreElement;
  };

  mount(root: HTMLElement, demo: Demo): void {
    this.#demo = demo;
    const batch = numberField('batch B', 8, { min: 1, step: 1, id: 'lm-batch' });
    const window = numberField('window T', 24, { min: 1, step: 1, id: 'lm-window' });
    const rate = numberField('learning rate', 0.01, { min: 0, step: 0.001, id: 'lm-rate' });
    const steps = numberField('steps', 300, { min: 1, step: 50, id: 'lm-steps' });
    const prime = h('input', { type: 'text', value: 'Alice ', id: 'lm-prime' });
    const temperature = numberField('temperature', 0.7, { min: 0.05, step: 0.05, id: 'lm-temperature' });
    const length = numberField('characters', 160, { min: 1, step: 10, id: 'lm-length' });
    this.#el = {
      text: h('textarea', { id: 'lm-text', spellcheck: false, value: ALICE, rows: 7 }),
      batch: batch.input, window: window.input, rate: rate.input, steps: steps.input,
      train: h('button', { id: 'train', class: 'primary', onclick: () => void this.#train() }, 'Train'),
      stop: h('button', { id: 'stop', disabled: true, onclick: () => (this.#stop = true) }, 'Stop'),
      reset: h('button', { id: 'reset', onclick: () => this.#reset() }, 'New model'),
      status: h('p', { id: 'train-status', class: 'status' }, 'Compile a character model (examples/charlm.seq) and press Train.'),
      plot: h('div', { id: 'loss-plot', class: 'plot' }),
      prime, temperature: temperature.input, length: length.input,
      sample: h('button', { id: 'sample', onclick: () => void this.#sample() }, 'Sample'),
      output: h('pre', { id: 'sample-output', class: 'sample' }),
    };
    const e = this.#el;
    root.append(
      h('p', { class: 'note' }, 'Trains the cell on the text below, in this page, with the trainer of ', h('code', {}, 'seqc train'),
        ': softmax cross-entropy on the next character, Adam, gradients clipped at norm 5, state carried across windows. A new cell, text, batch or learning rate starts a fresh model.'),
      h('label', { class: 'stacked' }, h('span', {}, 'Training text'), e.text),
      h('div', { class: 'controls' }, batch.row, window.row, rate.row, steps.row, e.train, e.stop, e.reset),
      e.status,
      e.plot,
      h('div', { class: 'controls' }, h('label', { class: 'field' }, h('span', {}, 'prime'), e.prime), temperature.row, length.row, e.sample),
      e.output,
    );
    this.#drawPlot();
  }

  update(compiled: Compiled): void {
    this.#compiled = compiled;
    if (this.#busy) return;
    try {
      languageCell(compiled.program);
      this.#setStatus(this.#session ? this.#el.status.textContent ?? '' : `Cell ${compiled.program.name} reads characters: press Train.`);
      this.#enable(true);
    } catch (error) {
      this.#setStatus(`${errorText(error)} — examples/charlm.seq is one.`, true);
      this.#enable(false);
    }
  }

  #enable(ready: boolean): void {
    this.#el.train.disabled = !ready || this.#busy;
    this.#el.sample.disabled = !ready || this.#busy;
    this.#el.stop.disabled = !this.#busy;
  }

  #setStatus(text: string, error = false): void {
    this.#el.status.textContent = text;
    this.#el.status.classList.toggle('error', error);
  }

  #reset(): void {
    if (this.#busy) return;
    this.#session?.model.dispose();
    this.#session = undefined;
    this.#el.output.textContent = '';
    this.#drawPlot();
    this.#setStatus('A fresh model will be built at the next Train or Sample.');
  }

  /** The model for the current cell and settings: the one kept, or a new one. */
  async #sessionFor(compiled: Compiled): Promise<Session> {
    const text = this.#el.text.value;
    const batch = readNumber(this.#el.batch, 'batch B', { integer: true, min: 1 });
    const learningRate = readNumber(this.#el.rate, 'learning rate', { min: 0 });
    const key = JSON.stringify([compiled.source, text, batch, learningRate]);
    if (this.#session?.key === key) return this.#session;
    this.#session?.model.dispose();
    this.#session = undefined;
    const vocabulary = Vocabulary.fromText(text, { unit: 'char' });
    this.#setStatus(`Building the training passes of ${compiled.program.name} (autodiff, WGSL) and compiling its kernels...`);
    const started = performance.now();
    const plans = charTrainingPlans(compiled.program);
    this.#demo.showPlans([{ label: 'training forward', plan: plans.forward }, { label: 'training backward', plan: plans.backward }]);
    const model = await createCharModel(compiled.program, vocabulary.size, { batch, learningRate, clip: 5, seed: 0 }, plans);
    const ids = vocabulary.encode(text);
    this.#session = { key, model, vocabulary, ids, batch, windows: [][Symbol.iterator](), windowT: 0, step: 0, losses: [], smoothed: [] };
    this.#setStatus(`Model ready in ${((performance.now() - started) / 1000).toFixed(1)} s: V = ${vocabulary.size} characters (3 special), ${model.paramCount.toLocaleString()} parameters on ${model.deviceDescription}.`);
    this.#drawPlot();
    return this.#session;
  }

  async #run(work: () => Promise<void>): Promise<void> {
    const compiled = this.#compiled;
    if (this.#busy || !compiled) return;
    this.#busy = true;
    this.#stop = false;
    this.#enable(true);
    try {
      await work();
    } catch (error) {
      this.#setStatus(errorText(error), true);
    } finally {
      this.#busy = false;
      if (this.#compiled) this.update(this.#compiled);
    }
  }

  #train(): Promise<void> {
    return this.#run(async () => {
      const session = await this.#sessionFor(this.#compiled!);
      const T = readNumber(this.#el.window, 'window T', { integer: true, min: 1 });
      const steps = readNumber(this.#el.steps, 'steps', { integer: true, min: 1 });
      const { model, vocabulary, ids, batch } = session;
      const V = vocabulary.size;
      if (ids.length < batch * T + 1) throw new Error(`the text has ${ids.length} characters; batch ${batch} x window ${T} needs at least ${batch * T + 1}`);
      let done = 0;
      let timed = 0;
      let started = performance.now();
      if (session.step === 0) this.#setStatus('Step 1 compiles the training kernels: under a second on a GPU, tens of seconds on a CPU adapter such as SwiftShader...');
      while (done < steps && !this.#stop) {
        let next = session.windowT === T ? session.windows.next() : { done: true as const, value: undefined };
        if (next.done) {
          // a new pass over the text: the streams start over, so does the carried state
          model.resetState();
          session.windows = batchify(ids, batch, T, { dropLast: true });
          session.windowT = T;
          next = session.windows.next();
        }
        const loss = await model.trainStep({ x: characterInput(model, next.value.x), target: oneHot(next.value.y, V) });
        if (!Number.isFinite(loss)) throw new Error(`the loss is ${loss} at step ${session.step + 1}: lower the learning rate`);
        done++;
        session.step++;
        const bits = loss / Math.LN2;
        const last = session.smoothed.at(-1)?.y ?? bits;
        session.losses.push({ x: session.step, y: bits });
        session.smoothed.push({ x: session.step, y: session.smoothed.length ? 0.9 * last + 0.1 * bits : bits });
        // the speed leaves out a session's first step, which compiles the kernels
        if (session.step === 1) started = performance.now();
        else timed++;
        const seconds = (performance.now() - started) / 1000;
        const speed = timed > 0 ? `, ${((timed * batch * T) / seconds).toFixed(0)} chars/s (${((seconds * 1000) / timed).toFixed(0)} ms a step)` : '';
        this.#setStatus(`step ${session.step}: loss ${bits.toFixed(3)} bits/char (smoothed ${session.smoothed.at(-1)!.y.toFixed(3)})${speed}`);
        this.#schedulePlot();
      }
      this.#el.status.textContent += this.#stop ? ' — stopped' : ' — done';
    });
  }

  #sample(): Promise<void> {
    return this.#run(async () => {
      const session = await this.#sessionFor(this.#compiled!);
      const temperature = readNumber(this.#el.temperature, 'temperature', { min: 0.01 });
      const length = readNumber(this.#el.length, 'characters', { integer: true, min: 1 });
      const seed = this.#sampleSeed++;
      this.#el.output.textContent = this.#el.prime.value;
      const text = await sampleText(session.model, session.vocabulary, {
        temperature, length, seed, prime: this.#el.prime.value,
        onText: (t) => (this.#el.output.textContent = t),
      });
      this.#el.output.textContent = text;
      this.#setStatus(`Sampled ${length} characters after ${session.step} training steps (temperature ${temperature}, seed ${seed}).`);
    });
  }

  #schedulePlot(): void {
    if (this.#redraw) return;
    this.#redraw = requestAnimationFrame(() => {
      this.#redraw = 0;
      this.#drawPlot();
    });
  }

  #drawPlot(): void {
    const s = this.#session;
    // the numbers behind the curve, for scripts (the browser test reads them)
    this.#el.plot.dataset['losses'] = JSON.stringify(s?.losses.map((p) => p.y) ?? []);
    this.#el.plot.innerHTML = lossCurveSvg(
      [
        { name: 'loss', points: s?.losses ?? [], color: '#9ab7d3' },
        { name: 'smoothed', points: s?.smoothed ?? [], color: '#0072B2' },
      ],
      { title: 'Training loss', xLabel: 'step', yLabel: 'bits per character', width: 560, height: 260 },
    );
  }
}
