import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // On a cold shader cache most of the time is llvmpipe compiling shaders, one core per
    // process: two files at once took CI from 22 to 15 minutes on two cores.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    // a cold compile of the largest tiles, sharing the cores with another file, took 233 s
    testTimeout: 480_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
