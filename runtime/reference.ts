/**
 * The CPU reference: runs any IR program over a whole sequence in float64, one batch
 * element at a time, using the registry's float64 meaning of each op. It is the oracle
 * every GPU result is compared with. Reverse programs (backward passes) run t = T-1 down to
 * 0, their state leaves reading t + lag; `load` leaves read another program's sequences.
 */
import type { CellProgram } from '../compiler/ir.js';
import { DROPOUT_MASK, evaluateOp } from '../compiler/ops.js';
import { type Shape, evaluateShape, shapeSize } from '../compiler/shape.js';

type Tensor = Float32Array | Float64Array | readonly number[];

export interface ReferenceRun {
  readonly params: Readonly<Record<string, Tensor>>;
  /** each input as [T, B, ...shape]; a one-hot input as its ids, [T, B] */
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly sizes: Readonly<Record<string, number>>;
  readonly T: number;
  readonly B: number;
  /** each state as [B, ...shape] (the same value for every past slot) or [lags, B, ...shape], oldest first */
  readonly initialState?: Readonly<Record<string, Tensor>>;
  /** sequences another program produced, [lags + T, B, ...shape] (see `stateSequences`) */
  readonly loads?: Readonly<Record<string, Tensor>>;
  /** the seed dropout masks are drawn from, as the launch uniform gives it to the device (default 0) */
  readonly seed?: number;
}

export interface ReferenceResult {
  /** every output of the cell at every step, [T, B, N] */
  readonly outputs: Record<string, Float64Array>;
  /** every state update and readout at every step, [T, B, N] */
  readonly results: Record<string, Float64Array>;
  /** each state after the last step, [B, N] */
  readonly finalStates: Record<string, Float64Array>;
  /** each state with its initial slots in front, [lags + T, B, N]: what a backward pass loads */
  readonly stateSequences: Record<string, Float64Array>;
  /** accumulations summed over all steps and batch rows */
  readonly accumulations: Record<string, Float64Array>;
}

function expectLength(what: string, tensor: Tensor | undefined, length: number): Tensor {
  if (!tensor) throw new Error(`${what} is missing`);
  if (tensor.length !== length) throw new Error(`${what} has ${tensor.length} elements, expected ${length}`);
  return tensor;
}

export function referenceForward(program: CellProgram, run: ReferenceRun): ReferenceResult {
  const { sizes, T, B } = run;
  const elements = (shape: Shape) => shapeSize(shape).evaluate(sizes);
  const reverse = program.direction === 'reverse';
  const params = new Map(program.params.map((p) => [p.name, Float64Array.from(expectLength(`param ${p.name}`, run.params[p.name], elements(p.shape)))]));
  const paramSizes = new Map(program.params.map((p) => [p.name, evaluateShape(p.shape, sizes)]));

  // history[name][lag - 1][b] is the state `lag` steps back in the program's direction
  const history = new Map<string, Float64Array[][]>();
  const sequences: Record<string, Float64Array> = {};
  for (const s of program.states) {
    const n = elements(s.shape);
    const given = run.initialState?.[s.name];
    const slots: Float64Array[][] = [];
    sequences[s.name] = new Float64Array((s.maxLag + T) * B * n);
    for (let lag = 1; lag <= s.maxLag; lag++) {
      const perBatch: Float64Array[] = [];
      for (let b = 0; b < B; b++) {
        let value: Float64Array;
        if (!given) value = new Float64Array(n).fill(s.initial);
        else if (given.length === B * n) value = Float64Array.from(given.slice(b * n, (b + 1) * n));
        else {
          expectLength(`initial state ${s.name}`, given, s.maxLag * B * n);
          const slot = s.maxLag - lag; // oldest first
          value = Float64Array.from(given.slice((slot * B + b) * n, (slot * B + b + 1) * n));
        }
        perBatch.push(value);
        sequences[s.name]!.set(value, ((s.maxLag - lag) * B + b) * n);
      }
      slots.push(perBatch);
    }
    history.set(s.name, slots);
  }

  const inputSizes = new Map(program.inputs.map((i) => [i.name, elements(i.shape)]));
  // a one-hot input is given as one id per step and example; its value is the one-hot vector
  const onehot = new Set(program.inputs.filter((i) => i.onehot).map((i) => i.name));
  for (const i of program.inputs) {
    const data = expectLength(`input ${i.name}`, run.inputs[i.name], T * B * (onehot.has(i.name) ? 1 : inputSizes.get(i.name)!));
    if (onehot.has(i.name)) {
      const V = inputSizes.get(i.name)!;
      const bad = Array.prototype.findIndex.call(data, (id: number) => !Number.isInteger(id) || id < 0 || id >= V);
      if (bad >= 0) throw new Error(`input ${i.name}: id ${data[bad]} at ${bad} is not a whole number in [0, ${V})`);
    }
  }
  const loads = new Map((program.loads ?? []).map((l) => {
    const n = elements(l.shape);
    return [l.name, { n, lags: l.lags, data: expectLength(`load ${l.name}`, run.loads?.[l.name], (l.lags + T) * B * n) }];
  }));

  const stepResults = [...program.updates, ...program.readouts];
  const results: Record<string, Float64Array> = {};
  const resultSizes = new Map<string, number>();
  for (const r of stepResults) {
    const n = elements(program.eqns[r.value]!.type.shape);
    resultSizes.set(r.name, n);
    results[r.name] = new Float64Array(T * B * n);
  }
  const packed = program.packed;
  const packedSize = packed ? packed.size.evaluate(sizes) : 0;
  if (packed) results[packed.name] = new Float64Array(T * B * packedSize);
  const accumulations: Record<string, Float64Array> = {};
  for (const a of program.accumulations ?? []) accumulations[a.name] = new Float64Array(elements(program.eqns[a.value]!.type.shape));
  const updated = new Set(program.updates.map((u) => u.name));

  const values: Float64Array[] = new Array(program.eqns.length);
  const argSizes = program.eqns.map((e) => e.args.map((a) => evaluateShape(program.eqns[a]!.type.shape, sizes)));
  for (let step = 0; step < T; step++) {
    const t = reverse ? T - 1 - step : step;
    const next = new Map<string, Float64Array[]>();
    for (let b = 0; b < B; b++) {
      for (const e of program.eqns) {
        switch (e.op) {
          case 'param':
            values[e.id] = params.get(e.attrs.name!)!;
            break;
          case 'input': {
            const n = inputSizes.get(e.attrs.name!)!;
            const data = run.inputs[e.attrs.name!]!;
            if (onehot.has(e.attrs.name!)) {
              values[e.id] = new Float64Array(n);
              values[e.id]![data[t * B + b]!] = 1;
            } else values[e.id] = Float64Array.from(data.slice((t * B + b) * n, (t * B + b + 1) * n));
            break;
          }
          case 'load': {
            const { n, lags, data } = loads.get(e.attrs.name!)!;
            const slot = t - (e.attrs.lag ?? 0) + lags;
            values[e.id] = Float64Array.from(data.slice((slot * B + b) * n, (slot * B + b + 1) * n));
            break;
          }
          case 'state':
            values[e.id] = history.get(e.attrs.name!)![e.attrs.lag! - 1]![b]!;
            break;
          case 'dropout_mask':
            values[e.id] = DROPOUT_MASK.cpu(e.attrs, e.attrs.size!.evaluate(sizes), (run.seed ?? 0) >>> 0, t, b);
            break;
          default: {
            const sizesOfArgs = e.op === 'matmul' && program.eqns[e.args[0]!]!.op === 'param' ? [paramSizes.get(program.eqns[e.args[0]!]!.attrs.name!)!] : argSizes[e.id]!;
            values[e.id] = evaluateOp(e.op, e.attrs, e.args.map((a) => values[a]!), sizesOfArgs, sizes);
          }
        }
      }
      for (const r of stepResults) {
        const n = resultSizes.get(r.name)!;
        const v = values[r.value]!;
        const full = v.length === n ? v : new Float64Array(n).fill(v[0]!);
        results[r.name]!.set(full, (t * B + b) * n);
        if (updated.has(r.name)) {
          if (!next.has(r.name)) next.set(r.name, []);
          next.get(r.name)!.push(Float64Array.from(full));
        }
      }
      for (const v of packed?.values ?? []) {
        results[packed!.name]!.set(values[v.value]!, (t * B + b) * packedSize + v.offset.evaluate(sizes));
      }
      for (const a of program.accumulations ?? []) {
        const acc = accumulations[a.name]!;
        const v = values[a.value]!;
        for (let i = 0; i < acc.length; i++) acc[i]! += v.length === 1 ? v[0]! : v[i]!;
      }
    }
    for (const [name, perBatch] of next) {
      const slots = history.get(name)!;
      slots.unshift(perBatch);
      slots.pop();
      const s = program.states.find((x) => x.name === name)!;
      const n = elements(s.shape);
      perBatch.forEach((v, b) => sequences[name]!.set(v, ((s.maxLag + t) * B + b) * n));
    }
  }
  const finalStates: Record<string, Float64Array> = {};
  for (const s of program.states) {
    const n = elements(s.shape);
    const out = new Float64Array(B * n);
    history.get(s.name)![0]!.forEach((v, b) => out.set(v, b * n));
    finalStates[s.name] = out;
  }
  const outputs: Record<string, Float64Array> = {};
  for (const name of program.outputs) outputs[name] = results[name]!;
  return { outputs, results, finalStates, stateSequences: sequences, accumulations };
}
