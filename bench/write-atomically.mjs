import { renameSync, writeFileSync } from 'node:fs';

/** Writes text to a file atomically: a temporary file, then a rename. */
export function writeAtomically(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
