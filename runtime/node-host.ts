/**
 * The Node host: WebGPU through Dawn (node-gpu.ts) and safetensors files through node:fs.
 * Importing this module installs it; the Node entry (runtime/index.ts) does.
 */
import { availableParallelism } from 'node:os';
import { type Host, setHost } from './host.js';
import { findNodeAdapter, releaseNodeGpu } from './node-gpu.js';
import { loadSafetensors, saveSafetensors } from './safetensors-file.js';

export const nodeHost: Host = {
  name: 'node',
  findAdapter: findNodeAdapter,
  releaseAdapter: releaseNodeGpu,
  cpuThreads: availableParallelism(),
  saveSafetensors,
  loadSafetensors,
};

setHost(nodeHost);
