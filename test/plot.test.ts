import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { escapeXml, formatTick, lossCurveSvg, niceTicks, type PlotSeries } from '../runtime/text/svg-plot.js';
import { createTrainingProgress, formatDuration } from '../runtime/text/progress.js';

/**
 * A tiny XML well-formedness check: tags balance, attributes are quoted, and character data has
 * no raw `<` or stray `&`. Returns the element names in document order.
 */
function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const re = /<([^>]*)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  const checkText = (text: string): void => {
    if (text.includes('<') || text.includes('>')) throw new Error(`raw angle bracket in ${JSON.stringify(text)}`);
    const amp = text.replace(/&(amp|lt|gt|quot|#39);/g, '');
    if (amp.includes('&')) throw new Error(`unescaped & in ${JSON.stringify(text)}`);
  };
  while ((m = re.exec(xml))) {
    checkText(xml.slice(last, m.index));
    last = re.lastIndex;
    const body = m[1]!;
    if (body.startsWith('/')) {
      const name = body.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    const selfClosing = body.endsWith('/');
    const inner = selfClosing ? body.slice(0, -1) : body;
    const nm = /^([A-Za-z][\w:-]*)/.exec(inner);
    if (!nm) throw new Error(`bad tag <${body}>`);
    const attrs = inner.slice(nm[1]!.length);
    const rest = attrs.replace(/\s+[A-Za-z_:][\w:.-]*="[^"<]*"/g, '');
    if (rest.trim() !== '') throw new Error(`bad attributes in <${body}>: ${JSON.stringify(rest)}`);
    for (const a of attrs.matchAll(/="([^"]*)"/g)) checkText(a[1]!);
    names.push(nm[1]!);
    if (!selfClosing) stack.push(nm[1]!);
  }
  checkText(xml.slice(last));
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return names;
}

const attr = (tag: string, name: string): number => Number(new RegExp(`\\s${name}="([^"]*)"`).exec(tag)![1]);

describe('checkXml (the test helper itself)', () => {
  it('rejects malformed documents', () => {
    expect(() => checkXml('<a><b></a></b>')).toThrow(/closes/);
    expect(() => checkXml('<a>')).toThrow(/unclosed/);
    expect(() => checkXml('<a>x & y</a>')).toThrow(/unescaped/);
    expect(() => checkXml('<a x=1/>')).toThrow(/attributes/);
    expect(checkXml('<a x="1"><b/>t &amp; u</a>')).toEqual(['a', 'b']);
  });
});

describe('ticks', () => {
  it('chooses round steps covering the data', () => {
    const t = niceTicks(0.37, 9.2, 5);
    expect(t.step).toBe(2);
    expect(t.ticks).toEqual([0, 2, 4, 6, 8, 10]);
    const u = niceTicks(1.234, 1.251, 5);
    expect(u.min).toBeLessThanOrEqual(1.234);
    expect(u.max).toBeGreaterThanOrEqual(1.251);
    expect(u.step).toBeCloseTo(0.005, 12);
    expect(niceTicks(3, 3).ticks.length).toBeGreaterThan(1);
  });

  it('formats tick labels with the decimals the step needs', () => {
    expect(formatTick(2.5, 0.5)).toBe('2.5');
    expect(formatTick(1000, 500)).toBe('1000');
    expect(formatTick(1.23, 0.01)).toBe('1.23');
    expect(formatTick(1e-17, 0.2)).toBe('0');
    expect(formatTick(3e6, 1e6)).toBe('3e+6');
    expect(formatTick(1.2e6, 2e5)).toBe('1.2e+6');
    expect(formatTick(6e-5, 2e-5)).toBe('6e-5');
  });
});

describe('lossCurveSvg', () => {
  const series: PlotSeries[] = [
    {
      name: 'train <char-LSTM> & "friends"',
      points: Array.from({ length: 50 }, (_, i) => ({ x: i * 100, y: 4 * Math.exp(-i / 10) + 1.2 })),
    },
    { name: 'held-out', points: Array.from({ length: 5 }, (_, i) => ({ x: i * 1000 + 500, y: 3 - i * 0.3 })) },
  ];
  const svg = lossCurveSvg(series, { title: 'Loss <Brown>', xLabel: 'step', yLabel: 'bits/char', width: 800, height: 500 });

  it('is well-formed', () => {
    const names = checkXml(svg);
    expect(names[0]).toBe('svg');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="800" height="500" viewBox="0 0 800 500"/);
    expect(names.filter((n) => n === 'polyline')).toHaveLength(2);
  });

  it('escapes the title, labels and series names', () => {
    expect(svg).toContain('train &lt;char-LSTM&gt; &amp; &quot;friends&quot;');
    expect(svg).toContain('Loss &lt;Brown&gt;');
    expect(svg).toContain('>held-out</text>');
    expect(svg).toContain('>bits/char</text>');
    expect(svg).not.toContain('<char-LSTM>');
    expect(escapeXml(`<a b="c" d='e'>&`)).toBe('&lt;a b=&quot;c&quot; d=&#39;e&#39;&gt;&amp;');
  });

  it('has axes with numeric tick labels', () => {
    const xLabels = [...svg.matchAll(/<g class="x-axis"[^>]*>([\s\S]*?)<\/g>/g)][0]![1]!.match(/>[^<]+<\/text>/g)!;
    expect(xLabels.map((s) => s.slice(1, -7))).toEqual(['0', '1000', '2000', '3000', '4000', '5000']);
    const yLabels = [...svg.matchAll(/<g class="y-axis"[^>]*>([\s\S]*?)<\/g>/g)][0]![1]!.match(/>[^<]+<\/text>/g)!;
    const ys = yLabels.map((s) => Number(s.slice(1, -7)));
    expect(ys.every(Number.isFinite)).toBe(true);
    expect(ys[0]).toBeLessThanOrEqual(1.2);
    expect(ys[ys.length - 1]).toBeGreaterThanOrEqual(5.2);
  });

  it('scales every point into the plot area, x to the right and y upward', () => {
    const area = /<rect class="plot-area"[^>]*>/.exec(svg)![0];
    const [ax, ay, aw, ah] = ['x', 'y', 'width', 'height'].map((n) => attr(area, n)) as [number, number, number, number];
    expect(ax + aw).toBeLessThanOrEqual(800);
    expect(ay + ah).toBeLessThanOrEqual(500);
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) =>
      m[1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    );
    expect(lines.map((l) => l.length)).toEqual([50, 5]);
    for (const line of lines) {
      for (const [x, y] of line) {
        expect(x).toBeGreaterThanOrEqual(ax - 1e-6);
        expect(x).toBeLessThanOrEqual(ax + aw + 1e-6);
        expect(y).toBeGreaterThanOrEqual(ay - 1e-6);
        expect(y).toBeLessThanOrEqual(ay + ah + 1e-6);
      }
    }
    const train = lines[0]!;
    // x = 0 sits on the left edge, x = 4900 at 49/50 of the width (the axis ends at 5000).
    expect(train[0]![0]).toBeCloseTo(ax, 1);
    expect(train[49]![0]).toBeCloseTo(ax + (aw * 4900) / 5000, 1);
    // Falling loss: later points are further right and lower on the page (larger SVG y).
    for (let i = 1; i < train.length; i++) {
      expect(train[i]![0]).toBeGreaterThan(train[i - 1]![0]);
      expect(train[i]![1]).toBeGreaterThan(train[i - 1]![1]);
    }
  });

  it('handles degenerate input', () => {
    const one = lossCurveSvg([{ name: 'single', points: [{ x: 3, y: 2 }] }], { title: 't', xLabel: 'x', yLabel: 'y' });
    checkXml(one);
    expect(one).toMatch(/<circle data-series="single"/);
    const none = lossCurveSvg([], { title: 'empty', xLabel: 'x', yLabel: 'y' });
    checkXml(none);
    expect(none).not.toContain('<polyline');
    const nan = lossCurveSvg([{ name: 'nan', points: [{ x: 0, y: NaN }, { x: 1, y: 1 }, { x: 2, y: Infinity }, { x: 3, y: 2 }] }], {
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
    });
    checkXml(nan);
    expect(nan).not.toMatch(/NaN|Infinity/);
    expect(/points="([^"]*)"/.exec(nan)![1]!.split(' ')).toHaveLength(2);
  });
});

/** A stream that records what is written to it. */
function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString('utf8')));
  Object.assign(s, { isTTY, columns: 160 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('createTrainingProgress', () => {
  it('prints a plain line every N steps when the stream is not a TTY', async () => {
    const { stream, text } = sink(false);
    let clock = 0;
    const p = createTrainingProgress(100, { stream, every: 25, now: () => clock });
    expect(p.isTTY).toBe(false);
    for (let step = 1; step <= 60; step++) {
      clock = step * 100; // 100 ms per step
      p.update(step, { loss: 1.3862943611, tokensPerSecond: 12345.6 });
    }
    p.stop();
    await flush();
    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(3); // steps 25, 50 and the last (60) on stop
    expect(lines[0]).toBe(
      'train step  25/100 ( 25.0%) | loss 1.3863 | bits/char 2.000 | 12,346 tok/s | elapsed 0:03 | ETA 0:08',
    );
    expect(lines[1]).toContain('step  50/100');
    expect(lines[2]).toContain('step  60/100');
    expect(lines[2]).toContain('ETA 0:04');
    expect(text()).not.toContain('\x1b'); // no terminal control sequences
  });

  it('uses given bits/char and prints the final step once', async () => {
    const { stream, text } = sink(false);
    const p = createTrainingProgress(4, { stream, label: 'lm', now: () => 0 });
    for (let step = 1; step <= 4; step++) p.update(step, { loss: 2, bitsPerChar: 9.5 });
    p.stop();
    p.stop();
    await flush();
    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(4); // every = ceil(4 / 20) = 1
    expect(lines[3]).toMatch(/^lm step 4\/4 \(100\.0%\) \| loss 2\.0000 \| bits\/char 9\.500 \| - tok\/s/);
  });

  it('redraws a cli-progress bar on a TTY', async () => {
    const { stream, text } = sink(true);
    const p = createTrainingProgress(10, { stream });
    expect(p.isTTY).toBe(true);
    for (let step = 1; step <= 10; step++) p.update(step, { loss: 0.6931471806, tokensPerSecond: 1000 });
    p.stop();
    await flush();
    const out = text();
    expect(out).toContain('\x1b'); // cursor control: redrawn in place
    expect(out).toContain('10/10');
    expect(out).toContain('loss 0.6931');
    expect(out).toContain('bits/char 1.000');
    expect(out).toContain('1,000 tok/s');
    expect(out).toMatch(/ETA \S+/);
  });

  it('takes a re-estimated total, as a run with a time budget gives', async () => {
    const { stream, text } = sink(false);
    let clock = 0;
    const p = createTrainingProgress(100, { stream, every: 50, now: () => clock });
    for (let step = 1; step <= 150; step++) {
      clock = step * 100;
      p.update(step, { loss: 1 }, step >= 50 ? 200 : undefined);
    }
    p.stop();
    await flush();
    const lines = text().trimEnd().split('\n');
    expect(lines[0]).toContain('step  50/200 ( 25.0%)');
    expect(lines[0]).toContain('ETA 0:15');
    expect(lines[2]).toContain('step 150/200 ( 75.0%)');
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(61.4)).toBe('1:01');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--');
  });

  it('rejects a bad total', () => {
    expect(() => createTrainingProgress(0)).toThrow(RangeError);
  });
});
