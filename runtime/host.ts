/**
 * What the runtime needs from the place it runs in: a WebGPU adapter, and files for
 * `model.save(path)` / `model.load(path)`. The default host is a browser's (`navigator.gpu`,
 * no files). The Node entry (`runtime/index.ts`) installs `node-host.ts` — Dawn and
 * `node:fs` — so nothing a browser bundle reaches imports a native module or `node:*`.
 */
import type { SafetensorsFile, SafetensorsInput } from './safetensors.js';

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(`no WebGPU adapter found: ${detail}`);
    this.name = 'NoAdapterError';
  }
}

export interface Host {
  /** e.g. "browser", "node" */
  readonly name: string;
  /** an adapter, and how it was found (named in `model.deviceDescription`) */
  findAdapter(): Promise<{ adapter: GPUAdapter; route: string }>;
  /** called after the shared device is destroyed: let go of what findAdapter holds */
  releaseAdapter(): void;
  /** hardware threads: how many workgroups a CPU adapter (llvmpipe, SwiftShader) runs at once */
  readonly cpuThreads: number;
  saveSafetensors(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Promise<void>;
  loadSafetensors(path: string): Promise<SafetensorsFile>;
}

const noFiles = (what: string): never => {
  throw new Error(`${what} needs a file system, which a browser page does not have: use toSafetensors() to get the bytes (to download them) and load(bytes) to restore them`);
};

export const browserHost: Host = {
  name: 'browser',
  async findAdapter() {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) {
      throw new NoAdapterError(
        'navigator.gpu is missing: this browser has no WebGPU, or the page is not a secure context (serve it over https or from http://localhost). ' +
          "In Node, import 'seqc/runtime' (its Node entry runs WebGPU through Dawn).",
      );
    }
    const adapter = (await gpu.requestAdapter()) ?? (await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions));
    if (!adapter) throw new NoAdapterError('navigator.gpu gave no adapter; enable WebGPU in this browser (chrome://flags, or --enable-unsafe-webgpu for CPU adapters)');
    return { adapter, route: 'navigator.gpu' };
  },
  releaseAdapter() {},
  cpuThreads: (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 4,
  saveSafetensors: async (path) => noFiles(`save('${path}')`),
  loadSafetensors: async (path) => noFiles(`load('${path}')`),
};

let current: Host = browserHost;

/** The host the runtime uses; set once at startup, before the first device is requested. */
export function setHost(host: Host): void {
  current = host;
}

export function host(): Host {
  return current;
}
