/**
 * safetensors files on disk (Node only): an atomic writer and a reader. The encoding itself
 * is in safetensors.ts, which browsers use too.
 */
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type SafetensorsFile, type SafetensorsInput, SafetensorsError, decodeSafetensors, encodingPlan, tensorBytes } from './safetensors.js';

/**
 * Writes a safetensors file atomically: into a temporary file beside `path`, fsynced, then
 * renamed over `path`. On any error the temporary file is removed and `path` is untouched.
 */
export async function saveSafetensors(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Promise<void> {
  const p = encodingPlan(tensors, metadata, path);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined = await fs.open(tmp, 'wx');
  const writeAll = async (bytes: Uint8Array): Promise<void> => {
    for (let at = 0; at < bytes.length;) {
      const { bytesWritten } = await handle!.write(bytes, at, Math.min(bytes.length - at, 1 << 30));
      if (bytesWritten <= 0) throw new SafetensorsError(`${path}: write made no progress`);
      at += bytesWritten;
    }
  };
  try {
    await writeAll(p.header);
    for (let i = 0; i < p.names.length; i++) await writeAll(tensorBytes(p.names[i]!, tensors[p.names[i]!]!, p.counts[i]!, path));
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  try { // best effort: make the rename itself durable (not possible on every platform)
    const d = await fs.open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch { /* ignore */ }
}

/** Reads and decodes a safetensors file; decoding errors name `path`. */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await fs.readFile(path), path);
}
