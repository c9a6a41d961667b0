#!/usr/bin/env node
// one bundled CommonJS file (scripts/build-cli.mjs): the whole compiler loads at once
import { createRequire } from 'node:module';

const { main } = createRequire(import.meta.url)('../dist/cli/seqc.cjs');
// a reader that stops early (`seqc wgsl cell.seq | head`) closes the pipe: that ends the output, it is no error
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
process.exitCode = await main(process.argv.slice(2));
