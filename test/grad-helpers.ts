/** The gradient-check machinery lives in compiler/gradcheck.ts; tests use the same. */
export { finiteDifference, gradCase, lossOf, probes, relativeError } from '../compiler/gradcheck.js';
export type { GradCase } from '../compiler/gradcheck.js';
