/**
 * The CPU reference: runs a cell's IR over a whole sequence in float64, one batch element
 * at a time, using the registry's float64 meaning of each op. It is the oracle every GPU
 * result is compared with.
 */
import type { CellProgram } from '../compiler/ir.js';
import { evaluateOp } from '../compiler/ops.js';
import { evaluateShape, shapeSize } from '../compiler/shape.js';

type Tensor = Float32Array | Float64Array | readonly number[];

export interface ReferenceRun {
  readonly params: Readonly<Record<string, Tensor>>;
  /** each input as [T, B, ...shape] */
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly sizes: Readonly<Record<string, number>>;
  readonly T: number;
  readonly B: number;
  /** each state as [B, ...shape] (the same value for every past slot) or [lags, B, ...shape], oldest first */
  readonly initialState?: Readonly<Record<string, Tensor>>;
}

export interface ReferenceResult {
  /** every output of the cell at every step, [T, B, N] */
  readonly outputs: Record<string, Float64Array>;
  /** each state after the last step, [B, N] */
  readonly finalStates: Record<string, Float64Array>;
}

function expectLength(what: string, tensor: Tensor | undefined, length: number): Tensor {
  if (!tensor) throw new Error(`${what} is missing`);
  if (tensor.length !== length) throw new Error(`${what} has ${tensor.length} elements, expected ${length}`);
  return tensor;
}

export function referenceForward(program: CellProgram, run: ReferenceRun): ReferenceResult {
  const { sizes, T, B } = run;
  const elements = (shape: Parameters<typeof shapeSize>[0]) => shapeSize(shape).evaluate(sizes);
  const params = new Map(program.params.map((p) => [p.name, Float64Array.from(expectLength(`param ${p.name}`, run.params[p.name], elements(p.shape)))]));
  const paramSizes = new Map(program.params.map((p) => [p.name, evaluateShape(p.shape, sizes)]));

  // history[name][lag - 1][b] is the state `lag` steps back
  const history = new Map<string, Float64Array[][]>();
  for (const s of program.states) {
    const n = elements(s.shape);
    const given = run.initialState?.[s.name];
    const slots: Float64Array[][] = [];
    for (let lag = 1; lag <= s.maxLag; lag++) {
      const perBatch: Float64Array[] = [];
      for (let b = 0; b < B; b++) {
        if (!given) perBatch.push(new Float64Array(n).fill(s.initial));
        else if (given.length === B * n) perBatch.push(Float64Array.from(given.slice(b * n, (b + 1) * n)));
        else {
          expectLength(`initial state ${s.name}`, given, s.maxLag * B * n);
          const slot = s.maxLag - lag; // oldest first
          perBatch.push(Float64Array.from(given.slice((slot * B + b) * n, (slot * B + b + 1) * n)));
        }
      }
      slots.push(perBatch);
    }
    history.set(s.name, slots);
  }

  const inputSizes = new Map(program.inputs.map((i) => [i.name, elements(i.shape)]));
  for (const i of program.inputs) expectLength(`input ${i.name}`, run.inputs[i.name], T * B * inputSizes.get(i.name)!);

  const resultNames = [...program.updates, ...program.readouts];
  const outputs: Record<string, Float64Array> = {};
  const outputSizes = new Map<string, number>();
  for (const r of resultNames) {
    const n = elements(program.eqns[r.value]!.type.shape);
    outputSizes.set(r.name, n);
    if (program.outputs.includes(r.name)) outputs[r.name] = new Float64Array(T * B * n);
  }

  const values: Float64Array[] = new Array(program.eqns.length);
  const argSizes = program.eqns.map((e) => e.args.map((a) => evaluateShape(program.eqns[a]!.type.shape, sizes)));
  for (let t = 0; t < T; t++) {
    const next = new Map<string, Float64Array[]>();
    for (let b = 0; b < B; b++) {
      for (const e of program.eqns) {
        switch (e.op) {
          case 'param':
            values[e.id] = params.get(e.attrs.name!)!;
            break;
          case 'input': {
            const n = inputSizes.get(e.attrs.name!)!;
            const x = run.inputs[e.attrs.name!]!;
            values[e.id] = Float64Array.from(x.slice((t * B + b) * n, (t * B + b + 1) * n));
            break;
          }
          case 'state':
            values[e.id] = history.get(e.attrs.name!)![e.attrs.lag! - 1]![b]!;
            break;
          default: {
            const sizesOfArgs = e.op === 'matmul' ? [paramSizes.get(program.eqns[e.args[0]!]!.attrs.name!) ?? argSizes[e.id]![0]!] : argSizes[e.id]!;
            values[e.id] = evaluateOp(e.op, e.attrs, e.args.map((a) => values[a]!), sizesOfArgs, sizes);
          }
        }
      }
      for (const r of resultNames) {
        const n = outputSizes.get(r.name)!;
        const v = values[r.value]!;
        const full = v.length === n ? v : new Float64Array(n).fill(v[0]!);
        outputs[r.name]?.set(full, (t * B + b) * n);
        if (program.updates.includes(r as never)) {
          if (!next.has(r.name)) next.set(r.name, []);
          next.get(r.name)!.push(Float64Array.from(full));
        }
      }
    }
    for (const [name, perBatch] of next) {
      const slots = history.get(name)!;
      slots.unshift(perBatch);
      slots.pop();
    }
  }
  const finalStates: Record<string, Float64Array> = {};
  for (const s of program.states) {
    const n = elements(s.shape);
    const out = new Float64Array(B * n);
    history.get(s.name)![0]!.forEach((v, b) => out.set(v, b * n));
    finalStates[s.name] = out;
  }
  return { outputs, finalStates };
}
