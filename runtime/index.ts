/** The seqc runtime: what compiled modules import. */
export { createModel, SeqModel, SizeError } from './model.js';
export type { CreateOptions, ForwardOptions, ForwardResult } from './model.js';
export { getDevice, releaseDevice, requestDeviceWithLimits, NoAdapterError } from './device.js';
export type { DeviceInfo } from './device.js';
export type { LaunchPlan } from './plan.js';
export { fromOnnx, fromTorch } from './weights.js';
export { Trainer } from './trainer.js';
export type { Gradients, TrainerOptions, TrainingBatch, TrainingPlans } from './trainer.js';
export type { OptimizerSpec } from './optimizer.js';
export { SafetensorsError, decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from './safetensors.js';
