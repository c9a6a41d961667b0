// One Dawn GPU object and one adapter kind for every peer in the process. seqc gets a device
// from it directly; tfjs and ONNX Runtime Web find it as navigator.gpu, wrapped so that they
// work on Dawn in Node (see installNavigatorGpu).
import { create, globals } from 'webgpu';
import { requestDeviceWithLimits } from '../dist/runtime/device.js';

let gpu; // held for the whole process: Dawn crashes if it is collected while a device lives
let options; // the requestAdapter options that found the adapter
let route;

/** Finds the adapter as seqc's runtime does: a real GPU first, else OpenGL ES on llvmpipe (compatibility). */
export async function openGpu() {
  Object.assign(globalThis, globals);
  if (process.env.SEQC_BACKEND !== 'opengles') {
    gpu = create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter && !(adapter.info?.isFallbackAdapter ?? false)) {
      options = { powerPreference: 'high-performance' };
      route = 'Dawn (Node) default backend';
      return adapter;
    }
  }
  process.env.EGL_PLATFORM ??= 'surfaceless';
  gpu = create(['backend=opengles']);
  options = { featureLevel: 'compatibility' };
  route = 'Dawn (Node) OpenGL ES backend';
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) throw new Error('no WebGPU adapter (install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)');
  return adapter;
}

export async function seqcDevice(adapter) {
  return requestDeviceWithLimits(adapter);
}

export function adapterInfo(adapter) {
  const info = adapter.info ?? {};
  return {
    route,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    featureLevel: options?.featureLevel ?? 'core',
    limits: {
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    },
  };
}

const RAISED = [
  'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
  'maxBufferSize', 'maxBindGroups', 'maxUniformBufferBindingSize',
];

/** Dawn's queue.writeBuffer rejects views of a SharedArrayBuffer (ORT's wasm heap): copy them out first. */
function patchQueue(device) {
  const queue = device.queue;
  const write = queue.writeBuffer.bind(queue);
  queue.writeBuffer = (buffer, offset, data, dataOffset, size) => {
    const backing = ArrayBuffer.isView(data) ? data.buffer : data;
    if (typeof SharedArrayBuffer !== 'undefined' && backing instanceof SharedArrayBuffer) {
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      const per = ArrayBuffer.isView(data) && data.BYTES_PER_ELEMENT ? data.BYTES_PER_ELEMENT : 1;
      const start = (dataOffset ?? 0) * per;
      const length = size === undefined ? bytes.length - start : size * per;
      return write(buffer, offset, bytes.slice(start, start + length), 0, length);
    }
    return write(buffer, offset, data, dataOffset, size);
  };
  return device;
}

/**
 * navigator.gpu for tfjs and ORT: every requestAdapter gets a fresh adapter from the same
 * GPU object with the options that found seqc's (compatibility on llvmpipe), and its
 * requestDevice asks for the adapter's raised limits (the defaults are too small for their
 * kernels) and returns a device whose writeBuffer accepts SharedArrayBuffer views.
 * Must be in place before @tensorflow/tfjs-backend-webgpu is imported.
 */
export function installNavigatorGpu() {
  const shim = {
    async requestAdapter() {
      const adapter = await gpu.requestAdapter(options);
      if (!adapter) return null;
      const requestDevice = adapter.requestDevice.bind(adapter);
      return new Proxy(adapter, {
        get(target, key) {
          if (key === 'requestDevice') {
            return async (descriptor = {}) => {
              const requiredLimits = { ...(descriptor.requiredLimits ?? {}) };
              for (const name of RAISED) if (typeof target.limits[name] === 'number') requiredLimits[name] = Math.max(requiredLimits[name] ?? 0, target.limits[name]);
              const features = (descriptor.requiredFeatures ?? []).filter((f) => target.features.has(f));
              return patchQueue(await requestDevice({ ...descriptor, requiredFeatures: features, requiredLimits }));
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
    getPreferredCanvasFormat: () => 'rgba8unorm',
    wgslLanguageFeatures: gpu.wgslLanguageFeatures ?? new Set(),
  };
  const nav = globalThis.navigator ?? {};
  try {
    Object.defineProperty(nav, 'gpu', { value: shim, configurable: true });
  } catch {
    nav.gpu = shim;
  }
  if (globalThis.navigator !== nav) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
}

export function closeGpu() {
  gpu = undefined;
}
