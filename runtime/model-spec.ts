/**
 * A model of a .seq file as `seqc compile` emits it: every layer's plans with its cell's
 * sizes written in the model's sizes, so one compiled module serves every size, bound when
 * the model is created (as a compiled cell's sizes are).
 */
import { type LayerSpec, LayeredModel, type LayeredOptions } from './layered.js';
import { SizeError } from './model.js';
import { type DimTerms, type LaunchPlan, evaluateDim } from './plan.js';
import type { TrainingPlans } from './trainer.js';

export interface ModelLayerSpec {
  /** the layer's name in the model; the layers of stack(n, ...) are name.0, name.1, ... */
  readonly name: string;
  readonly plan: LaunchPlan;
  readonly training: TrainingPlans;
  /** each of the cell's sizes, in the model's sizes */
  readonly sizes: Readonly<Record<string, DimTerms>>;
  readonly bidirectional?: boolean;
}

export interface ModelSpec {
  readonly model: string;
  readonly sizes: readonly { readonly name: string; readonly default?: number }[];
  /** from the input up */
  readonly layers: readonly ModelLayerSpec[];
  /** the top layer, which the model's loss trains */
  readonly head: ModelLayerSpec;
}

export interface ModelCreateOptions<S extends string = string> extends LayeredOptions {
  /** values of the model's sizes; the others take their defaults */
  readonly sizes?: Readonly<Partial<Record<S, number>>>;
}

export interface BoundModel {
  readonly sizes: Readonly<Record<string, number>>;
  readonly layers: readonly LayerSpec[];
  readonly head: LayerSpec;
}

/** Every size of the model from `given` or its default, and each layer's cell sizes from them. */
export function bindModelSpec(spec: ModelSpec, given: Readonly<Record<string, number | undefined>> = {}): BoundModel {
  const known = spec.sizes.map((s) => s.name);
  for (const name of Object.keys(given)) {
    if (!known.includes(name)) throw new SizeError(`model ${spec.model} has no size ${name}; its sizes are ${known.join(', ')}`);
  }
  const sizes: Record<string, number> = {};
  for (const s of spec.sizes) {
    const value = given[s.name] ?? s.default;
    if (value === undefined) throw new SizeError(`size ${s.name} of model ${spec.model} has no value: pass sizes: { ${s.name}: <n> } or declare \`size ${s.name} = <n>\` in the model`);
    if (!Number.isInteger(value) || value < 1) throw new SizeError(`size ${s.name} must be a whole number >= 1, got ${value}`);
    sizes[s.name] = value;
  }
  const bind = (layer: ModelLayerSpec): LayerSpec => {
    const cellSizes: Record<string, number> = {};
    for (const [name, terms] of Object.entries(layer.sizes)) {
      const value = evaluateDim(terms, sizes);
      if (!(value >= 1)) throw new SizeError(`layer ${layer.name}: size ${name} of cell ${layer.plan.cell} is ${value} with these sizes; a size is at least 1`);
      cellSizes[name] = value;
    }
    return { plan: layer.plan, training: layer.training, sizes: cellSizes, ...(layer.bidirectional ? { bidirectional: true } : {}) };
  };
  return { sizes, layers: spec.layers.map(bind), head: bind(spec.head) };
}

/** The model on a WebGPU device, its sizes bound: what a compiled model module's create function returns. */
export async function createLayeredModel(spec: ModelSpec, options: ModelCreateOptions): Promise<LayeredModel> {
  const { sizes, ...layered } = options;
  const { layers, head } = bindModelSpec(spec, sizes);
  return LayeredModel.create(layers, head, layered);
}
