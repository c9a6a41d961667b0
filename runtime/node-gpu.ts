/**
 * WebGPU in Node through Dawn (npm `webgpu`): the only file that imports the native
 * module; only the Node entry reaches it (through node-host.ts), so browser bundles never do.
 */
import { NoAdapterError } from './host.js';

// Dawn crashes if the object from create() is collected while a device from it is alive.
let held: GPU | undefined;

const INSTALL_HINT =
  'seqc runs on any WebGPU adapter Dawn finds. Without a GPU it uses Mesa llvmpipe through OpenGL ES: ' +
  'install it with `apt-get install -y libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri` (Debian/Ubuntu). ' +
  'With a GPU, install its Vulkan driver (e.g. mesa-vulkan-drivers or the vendor driver).';

export async function findNodeAdapter(): Promise<{ adapter: GPUAdapter; route: string }> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (error) {
    throw new NoAdapterError(`the 'webgpu' package (Dawn for Node) could not be loaded (${(error as Error).message}); run npm install`);
  }
  Object.assign(globalThis, webgpu.globals);
  const forced = process.env['SEQC_BACKEND'];
  if (forced !== 'opengles') {
    // A real GPU first: Dawn's default backends (Vulkan, Metal, D3D12).
    const gpu = webgpu.create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter && !(adapter.info?.isFallbackAdapter ?? false)) {
      held = gpu;
      return { adapter, route: 'Dawn (Node) default backend' };
    }
  }
  process.env['EGL_PLATFORM'] ??= 'surfaceless';
  const gpu = webgpu.create(['backend=opengles']);
  const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (!adapter) throw new NoAdapterError(INSTALL_HINT);
  held = gpu;
  return { adapter, route: 'Dawn (Node) OpenGL ES backend' };
}

export function releaseNodeGpu(): void {
  held = undefined;
}
