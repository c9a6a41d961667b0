/**
 * A model written in a .seq file to what runtime/layered.ts runs: per layer, its cell's
 * forward plan, its training plans (a cotangent loss on its output for a layer, the model's
 * loss for the head) and its sizes, bound from the model's. Cells are compiled with
 * per-sequence lengths (compiler/lengths.ts); a cell that reads a state further back than
 * t-1 cannot hold its states past a length and is compiled without them, which changes
 * nothing at the steps within the lengths (the runtime masks the rest).
 */
import { SeqError } from '../dsl/diagnostics.js';
import type { LayerSpec } from '../runtime/layered.js';
import type { ModelLayerSpec, ModelSpec } from '../runtime/model-spec.js';
import { type LoweredFile, lowerFile } from './frontend.js';
import type { CellProgram } from './ir.js';
import { buildLaunchPlan, dimTerms } from './launch-plan.js';
import { withLengths } from './lengths.js';
import type { LossSpec } from './loss.js';
import type { ModelLayer, ModelProgram } from './model.js';
import { buildTrainingPlans } from './training.js';

export interface CompiledLayer extends LayerSpec {
  readonly name: string;
  /** the program the plans are built from: the CPU reference (compiler/model-reference.ts) runs it */
  readonly program: CellProgram;
}

export interface CompiledModel {
  readonly name: string;
  readonly model: ModelProgram;
  /** every size of the model, bound */
  readonly sizes: Readonly<Record<string, number>>;
  readonly layers: readonly CompiledLayer[];
  readonly head: CompiledLayer;
  readonly loss: LossSpec;
}

export interface CompileModelOptions {
  /** values of the model's sizes; the others take their defaults */
  readonly sizes?: Readonly<Record<string, number>>;
  /** the model to compile (default: the file's last) */
  readonly model?: string;
}

/** The model named, or else the file's last. */
export function selectModel(lowered: LoweredFile, file: string, name?: string): ModelProgram {
  const { models } = lowered;
  if (!models.length) throw new SeqError({ file, start: 0, end: 1 }, 'no model in this file', 'write one, e.g. `model Tagger(x: onehot[V]) -> y { ... }` (docs/language.md, "Models")');
  if (name === undefined) return models[models.length - 1]!;
  const model = models.find((m) => m.name === name);
  if (!model) throw new SeqError({ file, start: 0, end: 1 }, `no model named ${name}`, `models in this file: ${models.map((m) => m.name).join(', ')}`);
  return model;
}

/** Every size of the model from `given` or its default; a size with neither is reported where it first appears. */
export function bindModelSizes(model: ModelProgram, given: Readonly<Record<string, number>>, file: string): Record<string, number> {
  for (const name of Object.keys(given)) {
    if (!model.sizes.some((s) => s.name === name)) throw new Error(`model ${model.name} has no size ${name}; its sizes are ${model.sizes.map((s) => s.name).join(', ')}`);
  }
  const sizes: Record<string, number> = {};
  for (const s of model.sizes) {
    const value = given[s.name] ?? s.default;
    if (value === undefined) {
      throw new SeqError(s.span ?? { file, start: 0, end: 1 }, `size ${s.name} is never given a value`, `pass sizes: { ${s.name}: <n> } (seqc: --size ${s.name}=<n>), or declare a default in the model: size ${s.name} = <n>`);
    }
    if (!Number.isInteger(value) || value < 1) throw new Error(`size ${s.name} must be a whole number >= 1, got ${value}`);
    sizes[s.name] = value;
  }
  return sizes;
}

/** A cell as a layer runs it: with lengths, unless it reads a state further back than t-1. */
export function layerProgram(cell: CellProgram): CellProgram {
  return cell.states.some((s) => s.maxLag > 1) ? cell : withLengths(cell);
}

type CompiledCell = Pick<CompiledLayer, 'plan' | 'training' | 'program'>;

/** Each layer with its cell compiled for its role (a layer's cotangent loss, or the model's loss on the head); a cell that several layers run in one role is compiled once. */
function compileLayers(model: ModelProgram): (ModelLayer & CompiledCell)[] {
  const plans = new Map<CellProgram, Map<string, CompiledCell>>();
  return model.layers.map((layer, l) => {
    const loss: LossSpec = l === model.layers.length - 1 ? model.loss : { kind: 'cotangent', output: layer.cell.outputs[0]! };
    const byLoss = plans.get(layer.cell) ?? new Map<string, CompiledCell>();
    plans.set(layer.cell, byLoss);
    if (!byLoss.has(loss.kind)) {
      const program = layerProgram(layer.cell);
      byLoss.set(loss.kind, { program, plan: buildLaunchPlan(program), training: buildTrainingPlans(program, loss) });
    }
    return { ...layer, ...byLoss.get(loss.kind)! };
  });
}

export function compileModel(source: string, file: string, options: CompileModelOptions = {}): CompiledModel {
  const model = selectModel(lowerFile(source, file), file, options.model);
  const sizes = bindModelSizes(model, options.sizes ?? {}, file);
  const bind = (layer: ModelLayer & CompiledCell): CompiledLayer => {
    const layerSizes = Object.fromEntries(layer.cell.sizes.map((s) => [s.name, layer.sizes.get(s.name)!.evaluate(sizes)]));
    for (const [name, value] of Object.entries(layerSizes)) {
      if (!(value >= 1)) throw new SeqError(layer.span, `size ${name} of ${layer.cell.name} is ${layer.sizes.get(name)} = ${value} with these sizes; a size is at least 1`, 'give the model larger sizes');
    }
    const { name, plan, training, program, bidirectional } = layer;
    return { name, plan, training, program, sizes: layerSizes, ...(bidirectional ? { bidirectional: true } : {}) };
  };
  const layers = compileLayers(model).map(bind);
  return { name: model.name, model, sizes, layers: layers.slice(0, -1), head: layers[layers.length - 1]!, loss: model.loss };
}

/** The model for every size, as a compiled module holds it: each cell's sizes written in the model's. */
export function modelSpec(model: ModelProgram): ModelSpec {
  const spec = (layer: ModelLayer & CompiledCell): ModelLayerSpec => ({
    name: layer.name,
    plan: layer.plan,
    training: layer.training,
    sizes: Object.fromEntries(layer.cell.sizes.map((s) => [s.name, dimTerms(layer.sizes.get(s.name)!)])),
    ...(layer.bidirectional ? { bidirectional: true } : {}),
  });
  const layers = compileLayers(model).map(spec);
  const sizes = model.sizes.map((s) => ({ name: s.name, ...(s.default === undefined ? {} : { default: s.default }) }));
  return { model: model.name, sizes, layers: layers.slice(0, -1), head: layers[layers.length - 1]! };
}
