// Waiting for this process's background threads to go idle before timing anything. Once ONNX
// Runtime's wasm backend has run, V8 compiles its module with TurboFan on background threads:
// on this 2-core machine they used 1.0-1.5 cores for ~40 s after a first session's two runs
// (not with --liftoff-only), and a run timed then shares the cores with them. With the main
// thread waiting on a timer, the process's CPU time is what its other threads use.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Samples the process's CPU time every `sampleMs` until one sample's use falls below
 * `idleCores` cores, or `maxMs` has passed. Returns how long it waited and the last sample.
 */
export async function quiesce({ idleCores = 0.2, sampleMs = 500, maxMs = 120_000 } = {}) {
  const start = performance.now();
  let last = process.cpuUsage();
  for (;;) {
    const sampleStart = performance.now();
    await sleep(sampleMs);
    const usage = process.cpuUsage(last);
    last = process.cpuUsage();
    const cores = (usage.user + usage.system) / 1000 / (performance.now() - sampleStart);
    const waitedMs = Math.round(performance.now() - start);
    if (cores < idleCores) return { waitedMs, cores: +cores.toFixed(2) };
    if (waitedMs >= maxMs) return { waitedMs, cores: +cores.toFixed(2), timedOut: true };
  }
}
