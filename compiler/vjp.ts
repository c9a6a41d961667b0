/**
 * The gradient half of the op registry: for each op, its vector-Jacobian product written as
 * IR ops. Given the adjoint `g` of an op's result, a rule returns the adjoint contribution
 * for each operand (undefined where none flows: masks, leaves, constants).
 */
import type { GraphBuilder } from './graph.js';
import type { Eqn } from './ir.js';
import type { OpName } from './ops.js';
import { Dim } from './shape.js';

export interface VjpContext {
  readonly graph: GraphBuilder;
  /** the forward equation */
  readonly eqn: Eqn;
  /** its operands, recomputed (or loaded) in the gradient graph */
  readonly args: readonly number[];
  /** its result in the gradient graph */
  out(): number;
  /** the adjoint of its result */
  readonly g: number;
}

type VjpRule = (c: VjpContext) => readonly (number | undefined)[];

/** Sums a contribution down to a scalar operand that was broadcast over a vector or matrix. */
function unbroadcast(c: VjpContext, contribution: number, arg: number): number {
  const { graph } = c;
  const shape = graph.type(contribution).shape;
  if (graph.type(arg).shape.length !== 0 || shape.length === 0) return contribution;
  // a matrix's rows are summed first, as a product with a vector of ones
  const rows = shape.length === 2 ? graph.emit('matmul', [contribution, graph.emit('broadcast', [graph.constant(1)], { size: shape[1]! })]) : contribution;
  return graph.emit('reduce_sum', [rows]);
}

const elementwise = (rule: (c: VjpContext, a: number, b: number) => readonly (number | undefined)[]): VjpRule => (c) => {
  const [a, b] = c.args as [number, number];
  return rule(c, a, b).map((contribution, i) => (contribution === undefined ? undefined : unbroadcast(c, contribution, c.args[i]!)));
};

const none: VjpRule = (c) => c.args.map(() => undefined);

export const VJP: Readonly<Record<OpName, VjpRule>> = {
  input: none,
  state: none,
  param: none,
  const: none,
  dim: none,
  load: none,
  // a mask is a constant of the step: the gradient flows through the mul that applies it
  dropout_mask: none,
  step: none,
  sign: none,
  ge: none,
  eq: none,
  neg: ({ graph, g }) => [graph.emit('neg', [g])],
  exp: (c) => [c.graph.emit('mul', [c.g, c.out()])],
  log: ({ graph, g, args }) => [graph.emit('div', [g, args[0]!])],
  tanh: (c) => {
    const { graph } = c;
    const y = c.out();
    return [graph.emit('mul', [c.g, graph.emit('sub', [graph.constant(1), graph.emit('mul', [y, y])])])];
  },
  sigmoid: (c) => {
    const { graph } = c;
    const y = c.out();
    return [graph.emit('mul', [c.g, graph.emit('mul', [y, graph.emit('sub', [graph.constant(1), y])])])];
  },
  relu: ({ graph, g, args }) => [graph.emit('mul', [g, graph.emit('step', [args[0]!])])],
  sqrt: (c) => [c.graph.emit('div', [c.graph.emit('mul', [c.g, c.graph.constant(0.5)]), c.out()])],
  abs: ({ graph, g, args }) => [graph.emit('mul', [g, graph.emit('sign', [args[0]!])])],
  add: elementwise(({ g }) => [g, g]),
  sub: elementwise(({ graph, g }) => [g, graph.emit('neg', [g])]),
  mul: elementwise(({ graph, g }, a, b) => [graph.emit('mul', [g, b]), graph.emit('mul', [g, a])]),
  div: elementwise((c, _a, b) => {
    const { graph, g } = c;
    return [graph.emit('div', [g, b]), graph.emit('neg', [graph.emit('div', [graph.emit('mul', [g, c.out()]), b])])];
  }),
  max: elementwise(({ graph, g }, a, b) => {
    const first = graph.emit('ge', [a, b]);
    return [graph.emit('mul', [g, first]), graph.emit('mul', [g, graph.emit('sub', [graph.constant(1), first])])];
  }),
  min: elementwise(({ graph, g }, a, b) => {
    const first = graph.emit('ge', [b, a]);
    return [graph.emit('mul', [g, first]), graph.emit('mul', [g, graph.emit('sub', [graph.constant(1), first])])];
  }),
  pow: elementwise((c, a, b) => {
    const { graph, g } = c;
    const da = graph.emit('mul', [g, graph.emit('mul', [b, graph.emit('pow', [a, graph.emit('sub', [b, graph.constant(1)])])])]);
    const db = graph.emit('mul', [g, graph.emit('mul', [c.out(), graph.emit('log', [a])])]);
    return [da, db];
  }),
  reduce_sum: ({ graph, g, args }) => [graph.emit('broadcast', [g], { size: graph.type(args[0]!).shape[0]! })],
  reduce_max: (c) => {
    const { graph, g, args } = c;
    // all of the adjoint goes to the elements equal to the maximum
    return [graph.emit('mul', [graph.emit('eq', [args[0]!, c.out()]), g])];
  },
  matmul: ({ graph, g, args }) => {
    const [w, x] = args as [number, number];
    return [graph.emit('outer', [g, x]), graph.emit('matmul', [graph.emit('transpose', [w]), g])];
  },
  // W's adjoint is g in column id (summed over steps: a scatter-add); an id has no gradient
  gather: ({ graph, g, args }) => [graph.emit('scatter', [g, args[1]!]), undefined],
  concat: ({ graph, g, args }) => {
    let offset = Dim.of(0);
    return args.map((a) => {
      const size = graph.type(a).shape[0]!;
      const part = graph.emit('slice', [g], { start: offset, size });
      offset = offset.add(size);
      return part;
    });
  },
  slice: ({ graph, g, eqn, args }) => [graph.emit('pad', [g], { start: eqn.attrs.start!, size: graph.type(args[0]!).shape.at(-1)! })],
  pad: ({ graph, g, eqn, args }) => [graph.emit('slice', [g], { start: eqn.attrs.start!, size: graph.type(args[0]!).shape.at(-1)! })],
  broadcast: ({ graph, g }) => [graph.emit('reduce_sum', [g])],
  transpose: ({ graph, g }) => [graph.emit('transpose', [g])],
  // in a forward pass, outer(ones, v) repeats v as the rows of a matrix (lower.ts broadcastRows)
  outer: ({ graph, g, args }) => {
    const [a, b] = args as [number, number];
    return [graph.emit('matmul', [g, b]), graph.emit('matmul', [graph.emit('transpose', [g]), a])];
  },
  reshape: ({ graph, g, args }) => [graph.emit('reshape', [g], { shape: graph.type(args[0]!).shape })],
  // the kernel's adjoint correlates g with the input; the input's is the convolution of g with the flipped, channel-transposed kernel
  conv2d: ({ graph, g, eqn, args }) => {
    const [w, v] = args as [number, number];
    const { height, width, kernel } = eqn.attrs;
    return [
      graph.emit('conv2d_filter', [g, v], { height, width, kernel }),
      graph.emit('conv2d', [graph.emit('flip_kernel', [w], { kernel }), g], { height, width, kernel }),
    ];
  },
  // a permutation that is its own inverse
  flip_kernel: ({ graph, g, eqn }) => [graph.emit('flip_kernel', [g], { kernel: eqn.attrs.kernel })],
  // linear in each operand: g's adjoint convolves the kernel-shaped adjoint with v, v's convolves its flip with g
  conv2d_filter: ({ graph, g, eqn, args }) => {
    const [dy, v] = args as [number, number];
    const { height, width, kernel } = eqn.attrs;
    return [
      graph.emit('conv2d', [g, v], { height, width, kernel }),
      graph.emit('conv2d', [graph.emit('flip_kernel', [g], { kernel }), dy], { height, width, kernel }),
    ];
  },
  scatter: () => {
    throw new Error('second derivatives (the gradient of a parameter gradient) are not supported');
  },
};
