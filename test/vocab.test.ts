import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  EOS_ID,
  PAD_ID,
  UNK_ID,
  Vocabulary,
  batchCount,
  batchify,
  compareCodePoints,
  type LmBatch,
} from '../runtime/text/vocab.js';

describe('Vocabulary.fromText', () => {
  it('puts the specials first, then symbols by descending frequency, ties by code point', () => {
    const v = Vocabulary.fromText('banana bandana', { unit: 'char' });
    // a:6, n:4, b:2, d:1, ' ':1 -> ties d/' ' by code point (' ' = 32 < 'd').
    expect([...Array(v.size).keys()].map((i) => v.symbolOf(i))).toEqual([
      '<PAD>',
      '<UNK>',
      '<EOS>',
      'a',
      'n',
      'b',
      ' ',
      'd',
    ]);
    expect(v.idOf('<PAD>')).toBe(PAD_ID);
    expect(v.idOf('<UNK>')).toBe(UNK_ID);
    expect(v.idOf('<EOS>')).toBe(EOS_ID);
    expect(v.size).toBe(8);
    expect(v.countOf('a')).toBe(6);
  });

  it('orders ties by code point, not by UTF-16 unit or locale', () => {
    // U+FF21 (fullwidth A) is one UTF-16 unit above the surrogates; U+1F600 is two units starting 0xD83D.
    const v = Vocabulary.fromText('\u{1F600}\uFF21Zaé', { unit: 'char' });
    expect([3, 4, 5, 6, 7].map((i) => v.symbolOf(i))).toEqual(['Z', 'a', 'é', '\uFF21', '\u{1F600}']);
    expect(compareCodePoints('\uFF21', '\u{1F600}')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'abc')).toBeLessThan(0);
    expect(compareCodePoints('b', 'abc')).toBeGreaterThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });

  it('treats astral characters as one symbol', () => {
    const v = Vocabulary.fromText('a\u{1F600}a', { unit: 'char' });
    expect(v.size).toBe(5);
    expect(Array.from(v.encode('\u{1F600}'))).toEqual([v.idOf('\u{1F600}')]);
  });

  it('splits words on any whitespace', () => {
    const v = Vocabulary.fromText('the cat\tsat on\nthe  mat the end', { unit: 'word' });
    expect(v.symbolOf(3)).toBe('the');
    expect(v.countOf('the')).toBe(3);
    expect(v.has('cat')).toBe(true);
    expect(v.has(' ')).toBe(false);
    expect(Array.from(v.encode('the dog sat'))).toEqual([v.idOf('the'), UNK_ID, v.idOf('sat')]);
    expect(v.decode(v.encode(' the   cat sat '))).toBe('the cat sat');
  });

  it('honours maxSize (specials included) and minCount', () => {
    const text = 'aaaabbbccd';
    expect(Vocabulary.fromText(text, { unit: 'char', maxSize: 5 }).size).toBe(5);
    const top2 = Vocabulary.fromText(text, { unit: 'char', maxSize: 5 });
    expect([top2.symbolOf(3), top2.symbolOf(4)]).toEqual(['a', 'b']);
    expect(top2.idOf('c')).toBe(UNK_ID);
    const min2 = Vocabulary.fromText(text, { unit: 'char', minCount: 2 });
    expect(min2.size).toBe(6);
    expect(min2.has('d')).toBe(false);
    expect(() => Vocabulary.fromText(text, { unit: 'char', maxSize: 2 })).toThrow(RangeError);
  });

  it('does not add text spelling a special token as a new symbol', () => {
    const v = Vocabulary.fromText('<UNK> hello <EOS>', { unit: 'word' });
    expect(v.size).toBe(4);
    expect(Array.from(v.encode('<EOS> hello'))).toEqual([EOS_ID, 3]);
  });
});

describe('encode / decode', () => {
  const v = Vocabulary.fromText('hello world', { unit: 'char' });

  it('round-trips known text and maps unknown symbols to UNK', () => {
    const ids = v.encode('hello world');
    expect(ids).toBeInstanceOf(Int32Array);
    expect(ids.length).toBe(11);
    expect(v.decode(ids)).toBe('hello world');
    expect(Array.from(v.encode('hex'))).toEqual([v.idOf('h'), v.idOf('e'), UNK_ID]);
    expect(v.idOf('x')).toBe(UNK_ID);
  });

  it('appends EOS on request and drops PAD when decoding', () => {
    const ids = v.encode('lo', { eos: true });
    expect(Array.from(ids)).toEqual([v.idOf('l'), v.idOf('o'), EOS_ID]);
    expect(v.decode([PAD_ID, ...ids, PAD_ID])).toBe('lo<EOS>');
    expect(v.decode([UNK_ID, ...ids], { skipSpecial: true })).toBe('lo');
  });

  it('rejects ids out of range', () => {
    expect(() => v.symbolOf(v.size)).toThrow(RangeError);
    expect(() => v.symbolOf(-1)).toThrow(RangeError);
    expect(() => v.symbolOf(1.5)).toThrow(RangeError);
    expect(() => v.decode([3, 99])).toThrow(RangeError);
  });
});

describe('JSON round trip', () => {
  it('restores an identical vocabulary', () => {
    const text = 'The quick brown fox jumps over the lazy dog. \u{1F600} "quoted" <tag> & more';
    for (const unit of ['char', 'word'] as const) {
      const v = Vocabulary.fromText(text, { unit, maxSize: 20 });
      const json = JSON.stringify(v);
      const w = Vocabulary.fromJSON(JSON.parse(json));
      expect(JSON.stringify(w)).toBe(json);
      expect(Vocabulary.fromJSON(json).size).toBe(v.size);
      expect(w.unit).toBe(unit);
      for (let i = 0; i < v.size; i++) expect(w.symbolOf(i)).toBe(v.symbolOf(i));
      expect(Array.from(w.encode(text))).toEqual(Array.from(v.encode(text)));
    }
  });

  it('rejects malformed JSON', () => {
    const good = Vocabulary.fromText('abc', { unit: 'char' }).toJSON();
    expect(() => Vocabulary.fromJSON({ ...good, format: 'x' } as never)).toThrow(/seqc-vocabulary/);
    expect(() => Vocabulary.fromJSON({ ...good, specials: ['<UNK>', '<PAD>', '<EOS>'] })).toThrow(/specials/);
    expect(() => Vocabulary.fromJSON({ ...good, symbols: ['a', 'a'], counts: [1, 1] })).toThrow(/duplicate/);
    expect(() => Vocabulary.fromJSON({ ...good, counts: [1] })).toThrow(/counts/);
    expect(() => Vocabulary.fromJSON({ ...good, unit: 'byte' as never })).toThrow(/unit/);
  });
});

describe('browser safety', () => {
  it('imports nothing from Node', () => {
    const src = readFileSync(new URL('../runtime/text/vocab.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/\bfrom\s+['"](node:|fs|path|os|url|module)/);
    expect(src).not.toMatch(/\brequire\(|\bprocess\.|\bBuffer\b/);
  });
});

describe('batchify', () => {
  const range = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
  const at = (a: Int32Array, t: number, b: number, B: number): number => a[t * B + b]!;

  it('lays out B contiguous streams time-major, y shifted by one', () => {
    // 26 tokens, 3 streams of floor(26/3) = 8: [0..7], [8..15], [16..23]; 24, 25 dropped.
    const windows = [...batchify(range(26), 3, 3)];
    expect(windows.map((w) => w.steps)).toEqual([3, 3, 1]); // 7 usable positions per stream
    const [w0, w1, w2] = windows as [LmBatch, LmBatch, LmBatch];
    expect(Array.from(w0.x)).toEqual([0, 8, 16, 1, 9, 17, 2, 10, 18]);
    expect(Array.from(w0.y)).toEqual([1, 9, 17, 2, 10, 18, 3, 11, 19]);
    expect(w1.offset).toBe(3);
    expect(Array.from(w1.x)).toEqual([3, 11, 19, 4, 12, 20, 5, 13, 21]);
    expect(Array.from(w2.x)).toEqual([6, 14, 22]);
    expect(Array.from(w2.y)).toEqual([7, 15, 23]);
    expect(w2.batch).toBe(3);
  });

  it('continues every stream across windows (stateful training)', () => {
    const B = 4;
    const T = 5;
    const ids = range(203);
    const L = Math.floor(ids.length / B);
    let prev: LmBatch | undefined;
    let count = 0;
    for (const w of batchify(ids, B, T)) {
      expect(w.x.length).toBe(w.steps * B);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < w.steps; t++) {
          expect(at(w.x, t, b, B)).toBe(b * L + w.offset + t);
          expect(at(w.y, t, b, B)).toBe(at(w.x, t, b, B) + 1);
          if (t > 0) expect(at(w.x, t, b, B)).toBe(at(w.y, t - 1, b, B));
        }
        // The first input of this window is the last target of the previous window.
        if (prev) expect(at(w.x, 0, b, B)).toBe(at(prev.y, prev.steps - 1, b, B));
      }
      prev = w;
      count++;
    }
    expect(count).toBe(batchCount(ids.length, B, T));
    expect(count).toBe(Math.ceil((L - 1) / T));
    // Every token of the trimmed stream is a target exactly once, except each stream's first.
    expect(at(prev!.y, prev!.steps - 1, B - 1, B)).toBe(B * L - 1);
  });

  it('can drop a short last window', () => {
    const windows = [...batchify(range(26), 3, 3, { dropLast: true })];
    expect(windows.map((w) => w.steps)).toEqual([3, 3]);
    expect(batchCount(26, 3, 3, { dropLast: true })).toBe(2);
    expect(batchCount(26, 3, 3)).toBe(3);
  });

  it('rejects bad shapes and streams too short to predict anything', () => {
    expect(() => [...batchify(range(10), 0, 2)]).toThrow(RangeError);
    expect(() => [...batchify(range(10), 2, 0)]).toThrow(RangeError);
    expect(() => [...batchify(range(5), 3, 2)]).toThrow(/too few/);
    expect([...batchify(range(6), 3, 2)]).toHaveLength(1);
  });
});
