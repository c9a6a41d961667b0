// Timing several runs in alternation. This machine's speed drifts by up to 30% over minutes
// (tfjs's lstm-big took 441-652 ms across one session's runs), so timing one peer's runs
// and then the next's puts the drift into their ratio. Run in rounds instead, each round
// every run once, the order rotated every round, and the drift lands on all of them alike.
// A run right after another peer's finds the caches holding that peer's data (and on Dawn's
// OpenGL backend another device's context current), which an app running one model again
// and again does not: each timed run follows `settle` untimed runs of its own.

const round2 = (v) => +v.toFixed(2);

/** min, median, max of the times in ms, and the times in the order run. */
export function summarize(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: round2(sorted[0]), median: round2(median), max: round2(sorted.at(-1)), runs: times.map(round2) };
}

/**
 * Times each of `runs` (name -> async function awaited to completion) `repeats` times after
 * `warmup` untimed calls each, in rounds: round r starts at the r-th run (mod their number),
 * and each timed call follows `settle` untimed ones of the same run.
 * A run that throws is reported to `onError` and dropped; the others go on.
 * Returns name -> summarize() of its times, for the runs that never threw.
 */
export async function timeInterleaved(runs, { warmup, repeats, settle = 1, onError = (name, error) => { throw error; } }) {
  const names = Object.keys(runs);
  const times = Object.fromEntries(names.map((name) => [name, []]));
  const attempt = async (name, timed) => {
    try {
      const start = performance.now();
      await runs[name]();
      if (timed) times[name].push(performance.now() - start);
    } catch (error) {
      names.splice(names.indexOf(name), 1);
      onError(name, error);
    }
  };
  for (let i = 0; i < warmup; i++) for (const name of [...names]) await attempt(name, false);
  for (let r = 0; r < repeats; r++) {
    const order = [...names];
    for (let i = 0; i < order.length; i++) {
      const name = order[(r + i) % order.length];
      for (let k = 0; k < settle && names.includes(name); k++) await attempt(name, false);
      if (names.includes(name)) await attempt(name, true);
    }
  }
  return Object.fromEntries(names.map((name) => [name, summarize(times[name])]));
}
