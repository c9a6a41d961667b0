/**
 * Debian's headless Chromium with WebGPU and no GPU, as worked out in
 * shared/browser-webgpu (check.mjs): Dawn's Vulkan backend on the SwiftShader that ships
 * with Chromium, a core adapter. Chromium blocklists CPU adapters; --enable-unsafe-webgpu is
 * the one switch that lifts that. No browser is downloaded: `apt-get install chromium`.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** CHROMIUM_PATH if set (and only it), else Debian's chromium. */
export function findChromium(): string | undefined {
  const given = process.env['CHROMIUM_PATH'];
  const candidates = given ? [given] : ['/usr/bin/chromium', '/usr/lib/chromium/chromium'];
  return candidates.find((path) => existsSync(path));
}

export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

/**
 * Keeps Chromium off the network: Playwright already disables background networking, sync
 * and component updates, but some requests are still attempted, so every host name except
 * the loopback one fails to resolve.
 */
export const QUIET_NETWORK_FLAGS = [
  '--disable-quic',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-pings',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
];

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: [...WEBGPU_FLAGS, ...QUIET_NETWORK_FLAGS], timeout: 60_000 });
}

/**
 * Closes the browser, giving up after `ms` so that a test never hangs here (Playwright kills
 * the browsers it launched when the process exits).
 */
export async function closeBrowser(browser: Browser | undefined, ms = 15_000): Promise<void> {
  if (!browser) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([browser.close().catch(() => undefined), timeout]);
  clearTimeout(timer);
}
