/**
 * Finds a WebGPU device through the host (host.ts): `navigator.gpu` in a browser; in Node,
 * Dawn through the `webgpu` package, a real GPU first and otherwise Dawn's OpenGL ES backend
 * on Mesa's llvmpipe in compatibility mode. Asks for the adapter's own limits, since the
 * defaults (8 storage buffers, 16 KiB of workgroup memory; 128 invocations in compatibility
 * mode) are below what kernels need.
 */
import { host } from './host.js';

export { NoAdapterError } from './host.js';

export interface DeviceInfo {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** e.g. "Dawn (Node) opengles compatibility: llvmpipe" */
  readonly description: string;
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
  // half parameters (param-halves.ts) are typed f16 where the adapter offers it
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('shader-f16') ? ['shader-f16'] : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  parallelismByDevice.set(device, parallelismFor(adapter.info));
  adapterNames.set(device, adapterName(adapter.info));
  return device;
}

/**
 * How a device runs invocations, for choosing tiles and workgroup sizes: a CPU adapter runs
 * each workgroup on one thread, `simd` invocations per vector instruction; a GPU runs
 * thousands at once.
 */
export interface Parallelism {
  readonly cpu: boolean;
  /** workgroups at once */
  readonly threads: number;
  /** invocations per instruction */
  readonly simd: number;
}

const CPU_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|warp/i;
const parallelismByDevice = new WeakMap<GPUDevice, Parallelism>();
const adapterNames = new WeakMap<GPUDevice, string>();

function adapterName(info: GPUAdapterInfo | undefined): string {
  return [info?.vendor, info?.architecture, info?.device, info?.description].join(' ');
}

/** The vendor, architecture, device and description of a device's adapter, as one string. */
export function adapterNameOf(device: GPUDevice): string {
  return adapterNames.get(device) ?? adapterName((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo);
}

function parallelismFor(info: GPUAdapterInfo | undefined): Parallelism {
  const name = adapterName(info);
  const cpu = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true || CPU_ADAPTER.test(name);
  // llvmpipe and SwiftShader vectorize 8 f32 lanes (256-bit); a GPU keeps some 16K invocations in flight
  return cpu ? { cpu, threads: host().cpuThreads, simd: 8 } : { cpu, threads: 512, simd: 32 };
}

/** The parallelism of a device found here, or read from its adapter info. */
export function parallelismOf(device: GPUDevice): Parallelism {
  let known = parallelismByDevice.get(device);
  if (!known) parallelismByDevice.set(device, (known = parallelismFor((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo)));
  return known;
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
  host().releaseAdapter();
}

async function findDevice(): Promise<DeviceInfo> {
  const { adapter, route } = await host().findAdapter();
  return { adapter, device: await requestDeviceWithLimits(adapter), description: describe(adapter, route) };
}
