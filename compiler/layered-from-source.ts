/**
 * A model written in a .seq file, compiled and on the device in one call: no assembly of
 * layer specs by hand (compileModel gives them, LayeredModel.create runs them).
 */
import { LayeredModel, type LayeredOptions } from '../runtime/layered.js';
import { type CompileModelOptions, compileModel } from './compile-model.js';

export async function layeredModelFromSource(source: string, file: string, options: CompileModelOptions & LayeredOptions): Promise<LayeredModel> {
  const { layers, head } = compileModel(source, file, options);
  return LayeredModel.create(layers, head, options);
}
