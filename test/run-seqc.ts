/**
 * Runs the seqc CLI without blocking the test worker: a synchronous spawn that takes longer
 * than vitest's RPC timeout (about a minute) fails the run with "Timeout calling onTaskUpdate".
 */
import { execFile } from 'node:child_process';

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runSeqc(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/seqc.js', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}
