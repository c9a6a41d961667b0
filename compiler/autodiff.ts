/**
 * Reverse-mode autodiff of a step graph: the backward of a scan is a reverse scan of the
 * step's vector-Jacobian product. A generic walk over the forward equations, newest first,
 * applies each op's rule from the registry (compiler/vjp.ts).
 *
 * The backward step reads the forward through `load` leaves: forward states at their lags,
 * and the forward's contractions (matmuls, reductions), which the forward therefore keeps
 * per step as readouts `__saved<id>`. Everything elementwise is recomputed from those, so
 * the forward stores only what is costly to redo.
 *
 * Its carried states are the adjoint contributions `__d_<s>_<k>`: what step t sends back to
 * state s at t-k. The adjoint of s at step t is the sum of those sent by steps t+k, read in
 * the reverse scan as state leaves at lag k. Parameter gradients are accumulations summed
 * over every step and example after the loop; input gradients are per-step readouts (none
 * for one-hot inputs, whose ids have no gradient).
 */
import { GraphBuilder } from './graph.js';
import type { Binding, CellProgram, LoadDecl, StateDecl } from './ir.js';
import { LOSS, WEIGHT } from './loss.js';
import { isContraction } from './ops.js';
import { Dim, shapeSize } from './shape.js';
import { simplify } from './simplify.js';
import { typecheck } from './typecheck.js';
import { VJP } from './vjp.js';

export interface Differentiated {
  /** the training forward: the cell with its loss and the values the backward loads */
  readonly forward: CellProgram;
  readonly backward: CellProgram;
}

export const SAVED = '__saved';
export const adjointState = (state: string, lag: number): string => `__d_${state}_${lag}`;
export const gradientName = (name: string): string => `__d_${name}`;
export const LOSS_TOTAL = '__loss_total';

/**
 * Replaces uses of some equations by others and reorders so that every equation follows
 * its operands (replacements may have been appended after their users).
 */
function substitute(program: CellProgram, replacements: ReadonlyMap<number, number>): CellProgram {
  const resolve = (id: number): number => replacements.get(id) ?? id;
  const byId = new Map(program.eqns.map((e) => [e.id, { ...e, args: e.args.map(resolve) }]));
  const order: number[] = [];
  const placed = new Set<number>();
  const place = (id: number): void => {
    if (placed.has(id)) return;
    placed.add(id);
    byId.get(id)!.args.forEach(place);
    order.push(id);
  };
  const results = [...program.updates, ...program.readouts, ...(program.accumulations ?? [])];
  results.forEach((r) => place(resolve(r.value)));
  const renumber = new Map(order.map((id, i) => [id, i]));
  const eqns = order.map((id, i) => {
    const e = byId.get(id)!;
    return { ...e, id: i, args: e.args.map((a) => renumber.get(a)!) };
  });
  const remap = (b: Binding) => ({ name: b.name, value: renumber.get(resolve(b.value))! });
  return {
    ...program,
    eqns,
    updates: program.updates.map(remap),
    readouts: program.readouts.map(remap),
    accumulations: (program.accumulations ?? []).map(remap),
  };
}

/** `program` must come from withLoss (it has the `__loss` readout and `__weight` input). */
export function differentiate(program: CellProgram): Differentiated {
  const lossReadout = program.readouts.find((r) => r.name === LOSS);
  if (!lossReadout) throw new Error('internal: differentiate needs a program with a loss (see withLoss)');
  const forwardEqns = program.eqns;
  const graph = new GraphBuilder();
  const saved = new Set<number>();
  // saved values are slices of one packed load; offsets are fixed once the walk is done
  const savedSlices = new Map<number, number>();
  const primals = new Map<number, number>();

  /** A forward value inside the backward step: a leaf, a load, or recomputed. */
  const primal = (id: number): number => {
    const known = primals.get(id);
    if (known !== undefined) return known;
    const e = forwardEqns[id]!;
    let value: number;
    // a dropout mask is redrawn from its counter: the same seed, step, row and element give the forward's mask
    if (e.op === 'input' || e.op === 'param' || e.op === 'const' || e.op === 'dim' || e.op === 'dropout_mask') value = graph.emitTyped(e.op, [], e.attrs, e.type);
    else if (e.op === 'state') value = graph.emitTyped('load', [], { name: e.attrs.name!, lag: e.attrs.lag! }, e.type);
    else if (isContraction(e.op)) {
      saved.add(id);
      // a placeholder leaf, replaced by a slice of the packed load below
      value = graph.emitTyped('load', [], { name: `${SAVED}${id}`, lag: 0 }, e.type);
      savedSlices.set(id, value);
    } else value = graph.emit(e.op, e.args.map(primal), e.attrs);
    primals.set(id, value);
    return value;
  };

  const contributions = new Map<number, number[]>();
  const contribute = (id: number, value: number) => contributions.set(id, [...(contributions.get(id) ?? []), value]);
  contribute(lossReadout.value, graph.emitTyped('input', [], { name: WEIGHT }, { shape: [], batched: true }));

  const lagsRead = new Map<string, Set<number>>();
  for (const e of forwardEqns) {
    if (e.op === 'state') lagsRead.set(e.attrs.name!, new Set([...(lagsRead.get(e.attrs.name!) ?? []), e.attrs.lag!]));
  }
  const adjointStates: StateDecl[] = [];
  for (const u of program.updates) {
    const decl = program.states.find((s) => s.name === u.name)!;
    for (const lag of [...(lagsRead.get(u.name) ?? [])].sort()) {
      const name = adjointState(u.name, lag);
      adjointStates.push({ name, shape: decl.shape, initial: 0, maxLag: lag });
      contribute(u.value, graph.emitTyped('state', [], { name, lag }, { shape: decl.shape, batched: true }));
    }
  }

  const stateAdjoints = new Map<string, number>();
  const inputAdjoints = new Map<string, number>();
  const paramAdjoints = new Map<string, number>();
  for (let id = forwardEqns.length - 1; id >= 0; id--) {
    const parts = contributions.get(id);
    if (!parts) continue;
    const g = parts.reduce((sum, part) => graph.emit('add', [sum, part]));
    const e = forwardEqns[id]!;
    switch (e.op) {
      case 'state':
        stateAdjoints.set(adjointState(e.attrs.name!, e.attrs.lag!), g);
        continue;
      case 'input':
        inputAdjoints.set(e.attrs.name!, g);
        continue;
      case 'param':
        paramAdjoints.set(e.attrs.name!, g);
        continue;
      default: {
        const args = e.args.map(primal);
        const parts = VJP[e.op]({ graph, eqn: e, args, out: () => primal(id), g });
        parts.forEach((part, i) => {
          if (part !== undefined) contribute(e.args[i]!, part);
        });
      }
    }
  }

  const zeros = (decl: { shape: StateDecl['shape'] }) => graph.emit('broadcast', [graph.constant(0)], { size: decl.shape[0]! });
  const updates: Binding[] = adjointStates.map((s) => ({ name: s.name, value: stateAdjoints.get(s.name) ?? zeros(s) }));
  // an id input has no gradient: its one-hot vector cannot move off the ids; nor has a mask
  const readouts: Binding[] = program.inputs
    .filter((i) => inputAdjoints.has(i.name) && !i.onehot && !i.mask && !i.binary)
    .map((i) => ({ name: gradientName(i.name), value: inputAdjoints.get(i.name)! }));
  const lossValue = graph.emit('mul', [
    graph.emitTyped('load', [], { name: LOSS, lag: 0 }, { shape: [], batched: true }),
    graph.emitTyped('input', [], { name: WEIGHT }, { shape: [], batched: true }),
  ]);
  const accumulations: Binding[] = [
    ...program.params.filter((p) => paramAdjoints.has(p.name)).map((p) => ({ name: gradientName(p.name), value: paramAdjoints.get(p.name)! })),
    { name: LOSS_TOTAL, value: lossValue },
  ];
  // Pack the saved values: offsets in id order; scalars (reductions) take one element.
  const savedIds = [...saved].sort((a, b) => a - b);
  let packedSize = Dim.of(0);
  const packedValues = savedIds.map((id) => {
    const offset = packedSize;
    packedSize = packedSize.add(shapeSize(forwardEqns[id]!.type.shape));
    return { value: id, offset };
  });
  const packedLoad = savedIds.length ? graph.emitTyped('load', [], { name: SAVED, lag: 0 }, { shape: [packedSize], batched: true }) : -1;
  const replacements = new Map<number, number>();
  packedValues.forEach(({ value: id, offset }) => {
    const shape = forwardEqns[id]!.type.shape;
    const slice = graph.emitTyped('slice', [packedLoad], { start: offset, size: shapeSize(shape) }, { shape: [shapeSize(shape)], batched: true });
    // a scalar saved value is the one-element slice's only element
    replacements.set(savedSlices.get(id)!, shape.length === 0 ? graph.emit('reduce_sum', [slice]) : slice);
  });
  const loads: LoadDecl[] = [
    ...program.states.map((s) => ({ name: s.name, shape: s.shape, lags: s.maxLag })),
    ...(savedIds.length ? [{ name: SAVED, shape: [packedSize], lags: 0 }] : []),
    { name: LOSS, shape: [], lags: 0 },
  ];
  const forward: CellProgram = {
    ...program,
    ...(savedIds.length ? { packed: { name: SAVED, size: packedSize, values: packedValues } } : {}),
  };
  typecheck(forward, 'autodiff (forward)');
  const backward = simplify(substitute({
    name: `${program.name}_grad`,
    sizes: program.sizes,
    inputs: program.inputs,
    params: program.params,
    states: adjointStates,
    eqns: graph.eqns,
    updates,
    readouts,
    outputs: readouts.map((r) => r.name),
    direction: 'reverse',
    loads,
    accumulations,
  }, replacements));
  typecheck(backward, 'autodiff (backward)');
  return { forward, backward };
}
