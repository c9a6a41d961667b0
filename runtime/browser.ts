/**
 * The seqc runtime for browsers, and for any JavaScript host with `navigator.gpu`: what
 * compiled modules import there. It reaches no native module and no `node:*` import; the
 * Node entry (index.ts) is this plus Dawn and files.
 */
export { createModel, SeqModel, SizeError } from './model.js';
export type { CreateOptions, ForwardOptions, ForwardResult } from './model.js';
export { getDevice, releaseDevice, requestDeviceWithLimits, NoAdapterError } from './device.js';
export type { DeviceInfo } from './device.js';
export { setParamAccess } from './param-texture.js';
export type { ParamAccess } from './param-texture.js';
export type { ParamPrecision } from './param-halves.js';
export type { TuningRow } from './tune.js';
export { ScheduleError } from './plan-runner.js';
export type { StepLoop } from './plan-runner.js';
export type { KernelTime } from './kernel-times.js';
export { browserHost, host, setHost } from './host.js';
export type { Host } from './host.js';
export type { InputData, LaunchPlan } from './plan.js';
export { fromOnnx, fromTorch } from './weights.js';
export { Bidirectional } from './bidirectional.js';
export type { BidirectionalResult } from './bidirectional.js';
export { reverseWithin } from './lengths.js';
export { LayeredModel } from './layered.js';
export type { LayerSpec, LayeredBatch, LayeredOptions } from './layered.js';
export { bindModelSpec, createLayeredModel } from './model-spec.js';
export type { BoundModel, ModelCreateOptions, ModelLayerSpec, ModelSpec } from './model-spec.js';
export type { ChainOptions, ChainedCell } from './chain.js';
export { Seq2Seq } from './seq2seq.js';
export type { Seq2SeqBatch, Seq2SeqOptions, Seq2SeqPart } from './seq2seq.js';
export { alignmentSvg } from './text/alignment-svg.js';
export { Transformer, sinusoidalPositions } from './transformer.js';
export type { TransformerBatch, TransformerOptions, TransformerParts } from './transformer.js';
export { EncoderClassifier } from './encoder-classifier.js';
export type { ClassificationBatch, EncoderClassifierParts } from './encoder-classifier.js';
export { beamSearch, greedyDecode, sampleDecode } from './decode.js';
export type { BeamOptions, BeamResult, DecodeOptions, Decoded } from './decode.js';
export { Trainer } from './trainer.js';
export type { Gradients, InputGradients, TrainerOptions, TrainingBatch, TrainingPlans } from './trainer.js';
export type { OptimizerSpec } from './optimizer.js';
export { SafetensorsError, decodeSafetensors, encodeSafetensors } from './safetensors.js';
