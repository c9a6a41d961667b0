/**
 * Per-sequence lengths, for any cell: a batch of sequences of different lengths, padded to
 * T steps. The program gains a 0/1 input `__valid` ([1] per step and example: 1 while t <
 * length), and every state update becomes
 *
 *     s[t] = valid * s_new + (1 - valid) * s[t-1]
 *
 * so past its length a sequence's states hold their last valid value, and its final state is
 * the state at its last valid step (ONNX `sequence_lens`). The runtime fills `__valid` from
 * the lengths it is given and zeroes the outputs at padded steps. A reverse direction runs
 * the same program on each sequence reversed within its length. The mask is data, not a
 * parameter: it has no gradient, and autodiff sees only the `mul` and `add` above.
 */
import { VALID_INPUT } from '../runtime/lengths.js';
import { GraphBuilder } from './graph.js';
import type { CellProgram } from './ir.js';
import { Dim } from './shape.js';
import { simplify } from './simplify.js';
import { typecheck } from './typecheck.js';

/** The mask input: the runtime knows it by this name (no user name starts with `__`). */
export const VALID = VALID_INPUT;

export function withLengths(program: CellProgram): CellProgram {
  if (program.inputs.some((i) => i.name === VALID)) return program;
  if (program.direction === 'reverse') throw new Error('internal: withLengths takes a forward cell');
  const deep = program.states.find((s) => s.maxLag > 1);
  if (deep) {
    // holding a ring of past states would shift it at padded steps; say so rather than differ from the definition
    throw new Error(`per-sequence lengths need every state of ${program.name} read only at t-1, but ${deep.name} is read ${deep.maxLag} steps back; pad the sequences to one length instead`);
  }
  const graph = new GraphBuilder();
  program.eqns.forEach((e) => graph.emitTyped(e.op, e.args, e.attrs, e.type, e.span));
  const valid = graph.emitTyped('input', [], { name: VALID }, { shape: [Dim.of(1)], batched: true });
  const scalarValid = graph.emit('reduce_sum', [valid]);
  const invalid = graph.emit('sub', [graph.constant(1), scalarValid]);
  const updates = program.updates.map((u) => {
    const state = program.states.find((s) => s.name === u.name)!;
    const previous = graph.emitTyped('state', [], { name: u.name, lag: 1 }, { shape: state.shape, batched: true });
    const kept = graph.emit('mul', [u.value, scalarValid]);
    const held = graph.emit('mul', [previous, invalid]);
    return { name: u.name, value: graph.emit('add', [kept, held]) };
  });
  const result = simplify({
    ...program,
    inputs: [...program.inputs, { name: VALID, shape: [Dim.of(1)], mask: true }],
    eqns: graph.eqns,
    updates,
  });
  typecheck(result, 'lengths');
  return result;
}
