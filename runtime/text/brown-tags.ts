/**
 * Part-of-speech tagging data from the Brown corpus's own tags: each token's Brown tag mapped
 * to one of the 12 universal tags of Petrov, Das and McDonald (2012), words to ids with
 * unknown words by their shape (capitalized, a number, a suffix), and a held-out split.
 */
import { type BrownOptions, loadBrown } from './brown.js';

export const UNIVERSAL_TAGS = ['NOUN', 'VERB', 'ADJ', 'ADV', 'PRON', 'DET', 'ADP', 'NUM', 'CONJ', 'PRT', '.', 'X'] as const;
export type UniversalTag = (typeof UNIVERSAL_TAGS)[number];

const BASE: Readonly<Record<string, UniversalTag>> = {
  nn: 'NOUN', nns: 'NOUN', np: 'NOUN', nps: 'NOUN', nr: 'NOUN', nrs: 'NOUN',
  vb: 'VERB', vbd: 'VERB', vbg: 'VERB', vbn: 'VERB', vbz: 'VERB', md: 'VERB',
  be: 'VERB', bed: 'VERB', bedz: 'VERB', beg: 'VERB', bem: 'VERB', ben: 'VERB', ber: 'VERB', bez: 'VERB',
  do: 'VERB', dod: 'VERB', doz: 'VERB', hv: 'VERB', hvd: 'VERB', hvg: 'VERB', hvn: 'VERB', hvz: 'VERB',
  jj: 'ADJ', jjr: 'ADJ', jjs: 'ADJ', jjt: 'ADJ',
  rb: 'ADV', rbr: 'ADV', rbt: 'ADV', rn: 'ADV', wrb: 'ADV', ql: 'ADV', qlp: 'ADV', wql: 'ADV',
  pn: 'PRON', ppl: 'PRON', ppls: 'PRON', ppo: 'PRON', pps: 'PRON', ppss: 'PRON', pp: 'PRON', wpo: 'PRON', wps: 'PRON', wp: 'PRON',
  at: 'DET', ap: 'DET', abn: 'DET', abx: 'DET', abl: 'DET', dt: 'DET', dti: 'DET', dts: 'DET', dtx: 'DET', wdt: 'DET', ex: 'DET',
  in: 'ADP',
  cd: 'NUM', od: 'NUM',
  cc: 'CONJ', cs: 'CONJ',
  rp: 'PRT', to: 'PRT',
  '.': '.', ',': '.', ':': '.', '(': '.', ')': '.', '--': '.', "''": '.', '``': '.', "'": '.', '`': '.', ';': '.',
  uh: 'X', nil: 'X', fw: 'X',
};

/**
 * A Brown tag's universal tag, from its base: `fw-` (foreign) words are X; of a contraction
 * (`ppss+bem`) the first part counts; the suffixes `-tl` (title), `-hl` (headline), `-nc`
 * (cited) and the marks `*` (negation) and `$` (possessive) are dropped.
 */
export function universalTag(brown: string): UniversalTag {
  let tag = brown.toLowerCase();
  if (tag.startsWith('fw-')) return 'X';
  tag = tag.split('+')[0]!;
  for (let before = ''; before !== tag; ) {
    before = tag;
    tag = tag.replace(/-(tl|hl|nc)$/, '');
  }
  // `*` alone is not / n't
  if (tag === '*') return 'ADV';
  tag = tag.replace(/[*$]+$/, '');
  const mapped = BASE[tag];
  if (mapped) return mapped;
  // punctuation tags are the punctuation itself
  if (/^[^a-z0-9]+$/.test(tag)) return '.';
  throw new Error(`brown tag '${brown}' has no universal tag (base '${tag}')`);
}

export interface TaggedSentence {
  readonly words: readonly string[];
  readonly tags: readonly number[];
  /** the document's genre category, `a`..`r` */
  readonly category: string;
}

/** Every sentence of the corpus with universal tag ids; every 10th sentence held out. */
export function brownTagged(options: BrownOptions = {}): { train: TaggedSentence[]; heldOut: TaggedSentence[] } {
  const train: TaggedSentence[] = [];
  const heldOut: TaggedSentence[] = [];
  let index = 0;
  for (const doc of loadBrown(options)) {
    for (const s of doc.sentences) {
      const tagged = { words: s.words, tags: s.tags.map((t) => UNIVERSAL_TAGS.indexOf(universalTag(t))), category: doc.category };
      (index++ % 10 === 9 ? heldOut : train).push(tagged);
    }
  }
  return { train, heldOut };
}

/** Unknown words by shape, the classes a tagger can still tell apart. */
const SHAPES = ['<unk>', '<unk-number>', '<unk-Cap>', '<unk-ing>', '<unk-ed>', '<unk-s>', '<unk-ly>', '<unk-ion>', '<unk-al>', '<unk-hyphen>'] as const;

function shapeOf(word: string): string {
  if (/[0-9]/.test(word)) return '<unk-number>';
  if (/^[A-Z]/.test(word)) return '<unk-Cap>';
  if (word.includes('-')) return '<unk-hyphen>';
  for (const suffix of ['ing', 'ed', 'ly', 'ion', 'al', 's']) if (word.endsWith(suffix)) return `<unk-${suffix}>`;
  return '<unk>';
}

/** Words seen at least `minCount` times in training (lower-cased), then the unknown-word shapes. */
export class WordVocabulary {
  readonly #ids = new Map<string, number>();

  constructor(sentences: readonly TaggedSentence[], minCount = 2) {
    const counts = new Map<string, number>();
    for (const s of sentences) for (const w of s.words) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) ?? 0) + 1);
    for (const shape of SHAPES) this.#ids.set(shape, this.#ids.size);
    for (const [word, count] of [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) if (count >= minCount) this.#ids.set(word, this.#ids.size);
  }

  get size(): number {
    return this.#ids.size;
  }

  id(word: string): number {
    return this.#ids.get(word.toLowerCase()) ?? this.#ids.get(shapeOf(word))!;
  }

  known(word: string): boolean {
    return this.#ids.has(word.toLowerCase());
  }
}
