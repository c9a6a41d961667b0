/**
 * A cell called inside another cell (`let h1 = LSTM(x[t])`, `stack(2, LSTM)(x[t])`) is
 * inlined into the caller's step graph: its equations are copied with its inputs replaced by
 * the arguments, and its params and states renamed under the instance's prefix (`h1.W`,
 * `h1.c`), so the caller is again one cell and every later pass (autodiff, hoisting, fusion,
 * codegen) sees one step graph. Layer l of a stack reads layer l-1's output at the same step.
 */
import { SeqError } from '../dsl/diagnostics.js';
import type { Span } from '../dsl/span.js';
import type { GraphBuilder } from './graph.js';
import type { Binding, CellProgram, ParamDecl, SizeDecl, StateDecl } from './ir.js';
import type { Attrs } from './ops.js';
import { Dim, type Shape, formatShape, shapeEquals } from './shape.js';

export interface Instance {
  /** the callee's outputs at this step, in the order it lists them */
  readonly outputs: readonly number[];
  readonly params: readonly ParamDecl[];
  readonly states: readonly StateDecl[];
  readonly updates: readonly Binding[];
  /** the callee's sizes that remain free in the caller (named as in the callee) */
  readonly sizes: readonly SizeDecl[];
  /** dropout streams the instance took */
  readonly streams: number;
}

/** Renames of an instance's params and states: the prefix, a dot, the callee's name. */
export const instanceName = (prefix: string, name: string): string => `${prefix}.${name}`;

const substituteShape = (shape: Shape, sizes: ReadonlyMap<string, Dim>): Shape => shape.map((d) => d.substitute(sizes));

function substituteAttrs(attrs: Attrs, sizes: ReadonlyMap<string, Dim>): Attrs {
  return {
    ...attrs,
    ...(attrs.start ? { start: attrs.start.substitute(sizes) } : {}),
    ...(attrs.size ? { size: attrs.size.substitute(sizes) } : {}),
    ...(attrs.height ? { height: attrs.height.substitute(sizes) } : {}),
    ...(attrs.width ? { width: attrs.width.substitute(sizes) } : {}),
    ...(attrs.shape ? { shape: substituteShape(attrs.shape, sizes) } : {}),
  };
}

/**
 * Binds the callee's input sizes from the arguments' shapes: an input dimension that is a
 * lone size (`[I]`) takes the argument's dimension; any other must equal it once bound.
 */
function bindSizes(callee: CellProgram, argShapes: readonly Shape[], describe: string, span: Span): Map<string, Dim> {
  const sizes = new Map<string, Dim>();
  callee.inputs.forEach((input, i) => {
    const got = argShapes[i]!;
    const mismatch = () => new SeqError(span, `shape mismatch: ${describe}'s input ${input.name} is ${formatShape(input.shape)} but the argument is ${formatShape(got)}`, `pass a vector of ${formatShape(input.shape)} as argument ${i + 1}`);
    if (got.length !== input.shape.length) throw mismatch();
    input.shape.forEach((dim, k) => {
      const [only] = dim.variables();
      const lone = dim.variables().length === 1 && dim.equals(Dim.of(only!));
      if (lone && !sizes.has(only!)) sizes.set(only!, got[k]!);
      else if (!dim.substitute(sizes).equals(got[k]!)) throw mismatch();
    });
  });
  return sizes;
}

/** Copies `callee`'s step into `graph` under `prefix`, reading `args` as its inputs. */
export function inlineCell(graph: GraphBuilder, callee: CellProgram, args: readonly number[], prefix: string, firstStream: number, span: Span): Instance {
  const sizes = bindSizes(callee, args.map((a) => graph.type(a).shape), callee.name, span);
  const inputIndex = new Map(callee.inputs.map((input, i) => [input.name, i]));
  const ids = new Map<number, number>();
  let streams = 0;
  for (const e of callee.eqns) {
    const type = { shape: substituteShape(e.type.shape, sizes), batched: e.type.batched };
    const attrs = substituteAttrs(e.attrs, sizes);
    let id: number;
    switch (e.op) {
      case 'input':
        id = args[inputIndex.get(e.attrs.name!)!]!;
        if (!shapeEquals(graph.type(id).shape, type.shape)) throw new Error(`internal: ${callee.name}'s input ${e.attrs.name} was bound to another shape`);
        break;
      case 'param':
      case 'state':
        id = graph.emitTyped(e.op, [], { ...attrs, name: instanceName(prefix, e.attrs.name!) }, type, span);
        break;
      case 'dropout_mask':
        streams = Math.max(streams, e.attrs.stream! + 1);
        id = graph.emitTyped(e.op, [], { ...attrs, stream: firstStream + e.attrs.stream! }, type, span);
        break;
      default:
        id = graph.emitTyped(e.op, e.args.map((a) => ids.get(a)!), attrs, type, e.span ?? span);
    }
    ids.set(e.id, id);
  }
  const valueOf = (name: string): number => {
    const binding = callee.updates.find((u) => u.name === name) ?? callee.readouts.find((r) => r.name === name)!;
    return ids.get(binding.value)!;
  };
  const bound = new Set(sizes.keys());
  return {
    outputs: callee.outputs.map(valueOf),
    params: callee.params.map((p) => ({ ...p, name: instanceName(prefix, p.name), shape: substituteShape(p.shape, sizes) })),
    states: callee.states.map((s) => ({ ...s, name: instanceName(prefix, s.name), shape: substituteShape(s.shape, sizes) })),
    updates: callee.updates.map((u) => ({ name: instanceName(prefix, u.name), value: ids.get(u.value)! })),
    sizes: callee.sizes.filter((s) => !bound.has(s.name)),
    streams,
  };
}
