/**
 * A training progress display: a redrawn `cli-progress` bar on a terminal, plain log lines every
 * `every` steps elsewhere (CI logs, files). Node only.
 */

import cliProgress from 'cli-progress';

export interface TrainingMetrics {
  /** Mean loss in nats per token. */
  loss: number;
  /** Bits per character; defaults to `loss / ln 2` (the loss of a char-level model in bits). */
  bitsPerChar?: number;
  /** Throughput in tokens per second. */
  tokensPerSecond?: number;
}

export interface TrainingProgressOptions {
  /** Where to draw (default `process.stderr`). */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Force terminal (true) or plain-line (false) mode; default: the stream's `isTTY`. */
  tty?: boolean;
  /** In plain-line mode, print every this many steps (default: about 20 lines per run). */
  every?: number;
  /** Text before the bar / at the start of each line (default `train`). */
  label?: string;
  /** The step training starts (resumes) from; default 0. */
  startStep?: number;
  /** Clock in milliseconds, for tests (default `Date.now`). */
  now?: () => number;
}

export interface TrainingProgress {
  /**
   * Report that `step` steps are done; `total`, when given, replaces the total (a run with a
   * time budget learns how many steps fit as it goes).
   */
  update(step: number, metrics: TrainingMetrics, total?: number): void;
  /** Finish: the terminal bar is left in place; plain mode prints the last step if not yet printed. */
  stop(): void;
  /** Whether the display redraws a bar (true) or prints lines (false). */
  readonly isTTY: boolean;
}

/** `h:mm:ss` or `m:ss`; `--` for unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function fmt(x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function fmtRate(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US');
}

function payload(metrics: TrainingMetrics): { loss: string; bpc: string; tps: string } {
  const bpc = metrics.bitsPerChar ?? metrics.loss / Math.LN2;
  return { loss: fmt(metrics.loss, 4), bpc: fmt(bpc, 3), tps: fmtRate(metrics.tokensPerSecond) };
}

export function createTrainingProgress(totalSteps: number, options: TrainingProgressOptions = {}): TrainingProgress {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new RangeError(`createTrainingProgress: totalSteps must be a positive integer, got ${totalSteps}`);
  }
  const stream = options.stream ?? process.stderr;
  const isTTY = options.tty ?? (stream as { isTTY?: boolean }).isTTY === true;
  const label = options.label ?? 'train';
  const startStep = options.startStep ?? 0;
  const now = options.now ?? Date.now;
  let total = totalSteps;
  const retotal = (next: number | undefined): boolean => {
    if (next === undefined || !Number.isInteger(next) || next < 1 || next === total) return false;
    total = next;
    return true;
  };

  if (isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {value}/{total} | loss {loss} | bits/char {bpc} | {tps} tok/s | ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(totalSteps, startStep, { loss: '-', bpc: '-', tps: '-' });
    let stopped = false;
    return {
      isTTY,
      update(step, metrics, next) {
        if (stopped) return;
        if (retotal(next)) bar.setTotal(total);
        bar.update(Math.min(step, total), payload(metrics));
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.stop();
      },
    };
  }

  const every = options.every ?? Math.max(1, Math.ceil(totalSteps / 20));
  if (!Number.isInteger(every) || every < 1) {
    throw new RangeError(`createTrainingProgress: every must be a positive integer, got ${every}`);
  }
  const t0 = now();
  let lastPrinted = -1;
  let last: { step: number; metrics: TrainingMetrics } | undefined;
  let stopped = false;
  const print = (step: number, metrics: TrainingMetrics): void => {
    const elapsed = (now() - t0) / 1000;
    const done = step - startStep;
    const eta = done > 0 && elapsed > 0 ? (elapsed / done) * (total - step) : NaN;
    const p = payload(metrics);
    const pct = ((100 * step) / total).toFixed(1).padStart(5);
    stream.write(
      `${label} step ${String(step).padStart(String(total).length)}/${total} (${pct}%) | loss ${p.loss} | ` +
        `bits/char ${p.bpc} | ${p.tps} tok/s | elapsed ${formatDuration(elapsed)} | ETA ${formatDuration(eta)}\n`,
    );
    lastPrinted = step;
  };
  return {
    isTTY,
    update(step, metrics, next) {
      if (stopped) return;
      retotal(next);
      last = { step, metrics };
      if ((step % every === 0 || step >= total) && step !== lastPrinted) print(step, metrics);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (last && last.step !== lastPrinted) print(last.step, last.metrics);
    },
  };
}
