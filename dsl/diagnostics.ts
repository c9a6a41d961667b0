/**
 * User-facing errors: `file:line:col: error: message`, the source line, a caret under the
 * span, and a hint where a likely fix exists. A SeqError is a user mistake, never a crash.
 */
import type { Span } from './span.js';

export interface Location {
  readonly line: number;
  readonly column: number;
}

export function locate(source: string, offset: number): Location {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Source lines longer than this are shown as a window around the error. */
const MAX_SHOWN = 100;
const CONTEXT_BEFORE = 40;

export class SeqError extends Error {
  constructor(
    readonly span: Span,
    readonly detail: string,
    readonly hint?: string,
  ) {
    super(detail);
    this.name = 'SeqError';
  }

  /** The full report against the source text the span points into. */
  format(source: string): string {
    const { line, column } = locate(source, this.span.start);
    const lineText = (source.split('\n')[line - 1] ?? '').replace(/\r$/, '');
    let printable = lineText.replace(/[^\x20-\x7e\t]/g, '?');
    let width = Math.max(1, Math.min(this.span.end - this.span.start, printable.length - column + 1));
    let caretAt = column - 1;
    // A long line is shown as a window around the error, so the caret stays on screen.
    if (printable.length > MAX_SHOWN) {
      const from = Math.max(0, Math.min(caretAt - CONTEXT_BEFORE, printable.length - MAX_SHOWN));
      const to = Math.min(printable.length, from + MAX_SHOWN);
      const head = from > 0 ? '...' : '';
      printable = `${head}${printable.slice(from, to)}${to < printable.length ? '...' : ''}`;
      caretAt = caretAt - from + head.length;
      width = Math.max(1, Math.min(width, to - (column - 1)));
    }
    const gutter = String(line);
    const pad = ' '.repeat(gutter.length);
    const caretPad = printable.slice(0, caretAt).replace(/[^\t]/g, ' ');
    const lines = [
      `${this.span.file}:${line}:${column}: error: ${this.detail}`,
      `${pad} |`,
      `${gutter} | ${printable}`,
      `${pad} | ${caretPad}${'^'.repeat(width)}`,
    ];
    if (this.hint) lines.push(`${pad} = hint: ${this.hint}`);
    return lines.join('\n');
  }
}

/** Closest candidate by edit distance, for "did you mean" hints. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
