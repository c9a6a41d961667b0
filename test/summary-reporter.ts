/** Ends the run with the plain line CI reads: "tests: N passed, N failed, N skipped". */
import type { Reporter } from 'vitest/node';

interface TaskLike {
  readonly type: string;
  readonly mode?: string;
  readonly result?: { readonly state?: string };
  readonly tasks?: readonly TaskLike[];
}

export default class SummaryReporter implements Reporter {
  onFinished(files: readonly TaskLike[] = []): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const visit = (task: TaskLike): void => {
      if (task.type === 'test') {
        const state = task.result?.state;
        if (state === 'pass') counts.passed++;
        else if (state === 'fail') counts.failed++;
        else counts.skipped++;
        return;
      }
      if (task.type === 'suite' && task.result?.state === 'fail' && !task.tasks?.length) counts.failed++;
      task.tasks?.forEach(visit);
    };
    files.forEach(visit);
    // after vitest's own summary, so it is the closing line
    setImmediate(() => process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`));
  }
}
