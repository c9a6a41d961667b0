/**
 * Weight mappers: turn the weights of a standard ONNX or PyTorch recurrent layer into the
 * named params of the matching example cell (`examples/<cell>.seq`).
 *
 * ONNX and PyTorch both stack a layer's gates along the rows of one matrix, but in
 * different orders, and both keep an input bias and a recurrent bias. The example cells
 * name their params after their own equations. Each mapping is therefore a small table:
 * every target param takes the rows of some gates of one source tensor, in the order
 * listed. Gate blocks are contiguous in row-major order, so moving a gate means copying
 * one slice.
 *
 * All matrices are row-major `[rows, cols]`, one direction only (no leading
 * `num_directions` axis).
 *
 * @module
 */

/** The example cells that have an ONNX counterpart. */
export type OnnxCell = 'rnn' | 'rnn-relu' | 'gru' | 'gru-reset-after' | 'lstm' | 'lstm-peephole';

/** The example cells that have a PyTorch (`nn.RNN`, `nn.GRU`, `nn.LSTM`) counterpart. */
export type TorchCell = 'rnn' | 'rnn-relu' | 'gru-reset-after' | 'lstm';

/** A flat tensor: a `Float32Array`, a plain `number[]`, or any other array of numbers. */
export type WeightArray = ArrayLike<number>;

/**
 * The inputs of one direction of an ONNX `RNN`, `GRU` or `LSTM` node, without the leading
 * `num_directions = 1` axis. `G` is the number of gates: 1 for RNN, 3 for GRU, 4 for LSTM.
 */
export interface OnnxTensors {
  /** `[G*H, I]`, gates in ONNX order (LSTM i,o,f,c; GRU z,r,h) */
  readonly W: WeightArray;
  /** `[G*H, H]`, same gate order */
  readonly R: WeightArray;
  /** `[2*G*H]`: all of Wb, then all of Rb; zeros when left out */
  readonly B?: WeightArray;
  /** LSTM only: `[3*H]`, peepholes in order i, o, f; zeros when left out */
  readonly P?: WeightArray;
}

/** The state dict of a one-layer, one-direction PyTorch `nn.RNN`, `nn.GRU` or `nn.LSTM`. */
export interface TorchStateDict {
  /** `[G*H, I]`, gates in PyTorch order (LSTM i,f,g,o; GRU r,z,n) */
  readonly weight_ih_l0: WeightArray;
  /** `[G*H, H]` */
  readonly weight_hh_l0: WeightArray;
  /** `[G*H]`; zeros when left out (`bias=False`) */
  readonly bias_ih_l0?: WeightArray;
  /** `[G*H]`; zeros when left out */
  readonly bias_hh_l0?: WeightArray;
}

/** The cell's sizes: input width `I` and hidden width `H`. */
export interface CellSizes {
  readonly I: number;
  readonly H: number;
}

/** Params keyed by the example cell's `param` names, each a fresh `Float32Array`. */
export type CellParams = Record<string, Float32Array>;

type Family = 'rnn' | 'gru' | 'lstm';
/** Where a param's rows come from: a matrix, one of the two biases, their sum, or P. */
type Source = 'W' | 'R' | 'Wb' | 'Rb' | 'b' | 'P';
/** One target param: the named gates of `from`, concatenated in this order. */
type Target = readonly [param: string, from: Source, gates: readonly string[]];

/** Gate names in ONNX and PyTorch stacking order. ONNX's LSTM `c` and GRU `h` are `g`, `n` here. */
const ONNX_ORDER: Record<Family, readonly string[]> = {
  rnn: ['i'],
  gru: ['z', 'r', 'n'],
  lstm: ['i', 'o', 'f', 'g'],
};
const TORCH_ORDER: Record<Family, readonly string[]> = {
  rnn: ['i'],
  gru: ['r', 'z', 'n'],
  lstm: ['i', 'f', 'g', 'o'],
};
/** ONNX's peephole order; PyTorch has no peepholes. */
const PEEPHOLE_ORDER: readonly string[] = ['i', 'o', 'f'];

const RNN: readonly Target[] = [
  ['W', 'W', ['i']],
  ['U', 'R', ['i']],
  ['b', 'b', ['i']],
];
const LSTM: readonly Target[] = [
  ['W', 'W', ['i', 'f', 'g', 'o']],
  ['U', 'R', ['i', 'f', 'g', 'o']],
  ['b', 'b', ['i', 'f', 'g', 'o']],
];

/**
 * The layout of every example cell. The candidate's recurrent bias may be folded into `b`
 * for `gru` (linear_before_reset = 0) because there it sits outside the reset product;
 * `gru-reset-after` must keep `bW` and `bU` apart.
 */
const CELLS: Record<OnnxCell, { readonly family: Family; readonly targets: readonly Target[] }> = {
  rnn: { family: 'rnn', targets: RNN },
  'rnn-relu': { family: 'rnn', targets: RNN },
  gru: {
    family: 'gru',
    targets: (['z', 'r', 'n'] as const).flatMap((g): Target[] => [
      [`W${g}`, 'W', [g]],
      [`U${g}`, 'R', [g]],
      [`b${g}`, 'b', [g]],
    ]),
  },
  'gru-reset-after': {
    family: 'gru',
    targets: [
      ['W', 'W', ['z', 'r', 'n']],
      ['U', 'R', ['z', 'r', 'n']],
      ['bW', 'Wb', ['z', 'r', 'n']],
      ['bU', 'Rb', ['z', 'r', 'n']],
    ],
  },
  lstm: { family: 'lstm', targets: LSTM },
  'lstm-peephole': {
    family: 'lstm',
    targets: [...LSTM, ['Pi', 'P', ['i']], ['Pf', 'P', ['f']], ['Po', 'P', ['o']]],
  },
};

const TORCH_CELLS: readonly string[] = ['rnn', 'rnn-relu', 'gru-reset-after', 'lstm'];

/** The source tensors once validated, each with its gate order. */
interface Sources {
  readonly W: WeightArray;
  readonly R: WeightArray;
  readonly Wb: WeightArray | undefined;
  readonly Rb: WeightArray | undefined;
  readonly P: WeightArray | undefined;
  readonly order: readonly string[];
}

/**
 * Maps the weights of one direction of an ONNX `RNN`, `GRU` or `LSTM` node onto the params
 * of an example cell.
 *
 * - `rnn`, `rnn-relu`: `W = W`, `U = R`, `b = Wb + Rb` (ONNX `RNN` with activation Tanh or Relu).
 * - `gru` (ONNX `GRU`, linear_before_reset = 0): `Wz, Wr, Wn` from W's z, r, h blocks,
 *   `Uz, Ur, Un` from R's, and `bz, br, bn` = Wb + Rb per gate.
 * - `gru-reset-after` (linear_before_reset = 1): `W`, `U` unchanged (z, r, n order),
 *   `bW = Wb`, `bU = Rb`.
 * - `lstm`: `W`, `U`, `b = Wb + Rb` reordered from i,o,f,c to i,f,g,o. A non-zero `P` is
 *   refused: use `lstm-peephole`.
 * - `lstm-peephole`: as `lstm`, plus `Pi, Pf, Po` from P (stored i, o, f).
 *
 * Summed biases are rounded to float32 once.
 *
 * @param cell the example cell to map onto
 * @param tensors W, R and the optional B and P of one direction
 * @param sizes the input width `I` and hidden width `H`
 * @returns fresh `Float32Array`s keyed by the cell's param names
 * @throws Error when a tensor has the wrong length, the cell is unknown, or P does not apply
 */
export function fromOnnx(cell: OnnxCell, tensors: OnnxTensors, sizes: CellSizes): CellParams {
  const where = `fromOnnx('${cell}')`;
  if (!Object.hasOwn(CELLS, cell)) {
    throw new Error(`${where}: unknown cell; expected one of ${Object.keys(CELLS).join(', ')}`);
  }
  const spec = CELLS[cell];
  const { I, H } = checkSizes(where, sizes);
  const order = ONNX_ORDER[spec.family];
  const G = order.length;
  const W = check(where, 'W', tensors.W, G * H * I, `${G}*H*I`);
  const R = check(where, 'R', tensors.R, G * H * H, `${G}*H*H`);
  const B = tensors.B === undefined ? undefined : check(where, 'B', tensors.B, 2 * G * H, `2*${G}*H`);
  let P: WeightArray | undefined;
  if (tensors.P !== undefined) {
    if (spec.family !== 'lstm') throw new Error(`${where}: P (peepholes) only applies to LSTM cells`);
    P = check(where, 'P', tensors.P, 3 * H, '3*H');
    if (cell === 'lstm' && Array.from(P).some((v) => v !== 0)) {
      throw new Error(`${where}: P has non-zero peephole weights, which 'lstm' would drop; use 'lstm-peephole'`);
    }
  }
  const Wb = B === undefined ? undefined : slice(B, 0, G * H);
  const Rb = B === undefined ? undefined : slice(B, G * H, 2 * G * H);
  return assemble(spec.targets, { W, R, Wb, Rb, P, order }, sizes);
}

/**
 * Maps the state dict of a one-layer, one-direction PyTorch `nn.RNN`, `nn.GRU` or
 * `nn.LSTM` onto the params of an example cell.
 *
 * - `rnn` (`nn.RNN`, nonlinearity='tanh'), `rnn-relu` (nonlinearity='relu'):
 *   `W = weight_ih_l0`, `U = weight_hh_l0`, `b = bias_ih_l0 + bias_hh_l0`.
 * - `gru-reset-after` (`nn.GRU`): gates reordered from r,z,n to z,r,n; `bW = bias_ih_l0`,
 *   `bU = bias_hh_l0`.
 * - `lstm` (`nn.LSTM`): same gate order i,f,g,o; `b = bias_ih_l0 + bias_hh_l0`.
 *
 * Summed biases are rounded to float32 once.
 *
 * @param cell the example cell to map onto
 * @param stateDict `weight_ih_l0`, `weight_hh_l0` and the optional `bias_ih_l0`, `bias_hh_l0`
 * @param sizes the input width `I` and hidden width `H`
 * @returns fresh `Float32Array`s keyed by the cell's param names
 * @throws Error when a tensor is missing or has the wrong length, or the cell has no PyTorch form
 */
export function fromTorch(cell: TorchCell, stateDict: TorchStateDict, sizes: CellSizes): CellParams {
  const where = `fromTorch('${cell}')`;
  if (!TORCH_CELLS.includes(cell)) {
    throw new Error(`${where}: no PyTorch layer matches this cell; expected one of ${TORCH_CELLS.join(', ')}`);
  }
  const spec = CELLS[cell];
  const { I, H } = checkSizes(where, sizes);
  const order = TORCH_ORDER[spec.family];
  const G = order.length;
  const W = check(where, 'weight_ih_l0', stateDict.weight_ih_l0, G * H * I, `${G}*H*I`);
  const R = check(where, 'weight_hh_l0', stateDict.weight_hh_l0, G * H * H, `${G}*H*H`);
  const Wb = stateDict.bias_ih_l0 === undefined ? undefined : check(where, 'bias_ih_l0', stateDict.bias_ih_l0, G * H, `${G}*H`);
  const Rb = stateDict.bias_hh_l0 === undefined ? undefined : check(where, 'bias_hh_l0', stateDict.bias_hh_l0, G * H, `${G}*H`);
  return assemble(spec.targets, { W, R, Wb, Rb, P: undefined, order }, sizes);
}

/** Builds every target param by copying (or, for `b`, summing) the listed gate blocks. */
function assemble(targets: readonly Target[], src: Sources, { I, H }: CellSizes): CellParams {
  const out: CellParams = {};
  for (const [param, from, gates] of targets) {
    const block = from === 'W' ? H * I : from === 'R' ? H * H : H;
    const order = from === 'P' ? PEEPHOLE_ORDER : src.order;
    // a missing bias or P contributes zeros; a summed bias is rounded to float32 once
    const parts = (from === 'b' ? [src.Wb, src.Rb] : [src[from]]).filter((p) => p !== undefined);
    const dst = new Float32Array(gates.length * block);
    gates.forEach((gate, k) => {
      const s = order.indexOf(gate) * block;
      for (let j = 0; j < block; j++) {
        let v = 0;
        for (const part of parts) v += part[s + j]!;
        dst[k * block + j] = v;
      }
    });
    out[param] = dst;
  }
  return out;
}

function checkSizes(where: string, sizes: CellSizes): CellSizes {
  for (const key of ['I', 'H'] as const) {
    const v = sizes?.[key];
    if (!Number.isInteger(v) || v <= 0) {
      throw new Error(`${where}: size ${key} must be a positive integer, got ${String(v)}`);
    }
  }
  return sizes;
}

function check(where: string, name: string, t: WeightArray | undefined, expected: number, formula: string): WeightArray {
  if (t === undefined || t === null || typeof t.length !== 'number') {
    throw new Error(`${where}: tensor ${name} is missing; expected length ${expected} (${formula})`);
  }
  if (t.length !== expected) {
    throw new Error(`${where}: tensor ${name} has the wrong length: expected ${expected} (${formula}), got ${t.length}`);
  }
  return t;
}

function slice(t: WeightArray, start: number, end: number): WeightArray {
  return Array.prototype.slice.call(t, start, end) as number[];
}
