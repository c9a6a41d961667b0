/**
 * Finds a WebGPU device: `navigator.gpu` in a browser; in Node, Dawn through the `webgpu`
 * package, a real GPU first and otherwise Dawn's OpenGL ES backend on Mesa's llvmpipe in
 * compatibility mode. Asks for the adapter's own limits, since the defaults (4-8 storage
 * buffers, 128 invocations in compatibility mode) are far below what kernels need.
 */

export interface DeviceInfo {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** e.g. "Dawn (Node) opengles compatibility: llvmpipe" */
  readonly description: string;
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(`no WebGPU adapter found: ${detail}`);
    this.name = 'NoAdapterError';
  }
}

const LIMITS: readonly (keyof GPUSupportedLimits)[] = [
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxBindGroups',
  'maxDynamicUniformBuffersPerPipelineLayout',
  'maxUniformBufferBindingSize',
  'maxUniformBuffersPerShaderStage',
];

export async function requestDeviceWithLimits(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  return device;
}

function describe(adapter: GPUAdapter, route: string): string {
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ');
  const compat = (adapter as GPUAdapter & { featureLevel?: string }).featureLevel === 'compatibility' || !adapter.features.has('core-features-and-limits');
  return `${route}${compat ? ' (compatibility mode)' : ''}${name ? `: ${name}` : ''}`;
}

let shared: Promise<DeviceInfo> | undefined;

/** One device per process (or page), shared by every model that is not given its own. */
export function getDevice(): Promise<DeviceInfo> {
  shared ??= findDevice().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

/** Destroys the shared device so that a Node process can exit. */
export async function releaseDevice(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (!current) return;
  const info = await current.catch(() => undefined);
  info?.device.destroy();
  if (!isBrowser()) (await import('./node-gpu.js')).releaseNodeGpu();
}

function isBrowser(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && typeof process === 'undefined';
}

async function findDevice(): Promise<DeviceInfo> {
  if (typeof navigator !== 'undefined' && (navigator as Navigator & { gpu?: GPU }).gpu && typeof window !== 'undefined') {
    const gpu = (navigator as Navigator & { gpu: GPU }).gpu;
    const adapter = (await gpu.requestAdapter()) ?? (await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions));
    if (!adapter) throw new NoAdapterError('navigator.gpu gave no adapter; enable WebGPU in this browser (chrome://flags, or --enable-unsafe-webgpu for CPU adapters)');
    return { adapter, device: await requestDeviceWithLimits(adapter), description: describe(adapter, 'navigator.gpu') };
  }
  const { findNodeAdapter } = await import('./node-gpu.js');
  const { adapter, route } = await findNodeAdapter();
  return { adapter, device: await requestDeviceWithLimits(adapter), description: describe(adapter, route) };
}
