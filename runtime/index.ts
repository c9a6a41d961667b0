/**
 * The seqc runtime for Node: what compiled modules import there. It is the browser entry
 * plus the Node host — WebGPU through Dawn (a real GPU first, else OpenGL ES on llvmpipe)
 * and safetensors files on disk.
 */
import './node-host.js';

export * from './browser.js';
export { nodeHost } from './node-host.js';
export { loadSafetensors, saveSafetensors } from './safetensors-file.js';
