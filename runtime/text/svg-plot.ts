/**
 * A standalone SVG line chart (loss curves and the like): axes with "nice" ticks and numeric
 * labels, grid lines, one polyline per series, a legend. No dependencies; browser-safe.
 */

export interface PlotPoint {
  x: number;
  y: number;
}

export interface PlotSeries {
  name: string;
  points: PlotPoint[];
  /** Stroke colour; default from a built-in palette. */
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Default 720. */
  width?: number;
  /** Default 420. */
  height?: number;
}

/** Colour-blind-friendly palette (Okabe–Ito, then extras). */
export const PLOT_PALETTE: readonly string[] = Object.freeze([
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
  '#7f7f7f',
  '#8c564b',
]);

/** Escape text for XML character data and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A round step (1, 2 or 5 times a power of ten) giving about `count` intervals over `span`. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

/** Domain widened to whole steps, and its ticks. A zero-width range is widened first. */
export function niceTicks(min: number, max: number, count = 5): { min: number; max: number; step: number; ticks: number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, count);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  const n = Math.round((hi - lo) / step);
  for (let i = 0; i <= n; i++) ticks.push(lo + i * step);
  return { min: lo, max: hi, step, ticks };
}

/** A tick label: as many decimals as the step needs; exponent form for very large/small values. */
export function formatTick(value: number, step: number): string {
  if (Math.abs(value) < step * 1e-9) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) {
    const digits = Math.floor(Math.log10(abs) + 1e-9) - Math.floor(Math.log10(step) + 1e-9);
    return value.toExponential(Math.max(0, Math.min(6, digits)));
  }
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

const r2 = (v: number): string => String(Math.round(v * 100) / 100);

/** Render series as a standalone SVG document string. */
export function lossCurveSvg(series: readonly PlotSeries[], options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  if (!(width > 0 && height > 0)) throw new RangeError(`lossCurveSvg: width and height must be positive`);

  const finite = (p: PlotPoint): boolean => Number.isFinite(p.x) && Number.isFinite(p.y);
  const all = series.flatMap((s) => s.points.filter(finite));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);

  const legendWidth = series.length > 0 ? Math.min(200, 40 + 7 * Math.max(...series.map((s) => s.name.length))) : 0;
  const left = 70;
  const right = 20 + legendWidth;
  const top = 40;
  const bottom = 55;
  const plotW = Math.max(10, width - left - right);
  const plotH = Math.max(10, height - top - bottom);
  const px = (x: number): number => left + ((x - xt.min) / (xt.max - xt.min)) * plotW;
  const py = (y: number): number => top + plotH - ((y - yt.min) / (yt.max - yt.min)) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title>${escapeXml(options.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<rect class="plot-area" x="${left}" y="${top}" width="${r2(plotW)}" height="${r2(plotH)}" fill="none" stroke="#333333"/>`,
  );

  // Grid and ticks.
  out.push(`<g class="x-axis" text-anchor="middle">`);
  for (const t of xt.ticks) {
    const x = r2(px(t));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${r2(top + plotH)}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x}" y1="${r2(top + plotH)}" x2="${x}" y2="${r2(top + plotH + 5)}" stroke="#333333"/>`);
    out.push(`<text x="${x}" y="${r2(top + plotH + 18)}">${escapeXml(formatTick(t, xt.step))}</text>`);
  }
  out.push(`</g>`);
  out.push(`<g class="y-axis" text-anchor="end">`);
  for (const t of yt.ticks) {
    const y = r2(py(t));
    out.push(`<line x1="${left}" y1="${y}" x2="${r2(left + plotW)}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333333"/>`);
    out.push(`<text x="${left - 8}" y="${y}" dy="0.32em">${escapeXml(formatTick(t, yt.step))}</text>`);
  }
  out.push(`</g>`);

  // Labels.
  out.push(
    `<text class="title" x="${r2(left + plotW / 2)}" y="${top - 15}" text-anchor="middle" font-size="15" font-weight="bold">` +
      `${escapeXml(options.title)}</text>`,
  );
  out.push(
    `<text class="x-label" x="${r2(left + plotW / 2)}" y="${r2(height - 12)}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
  );
  out.push(
    `<text class="y-label" x="${16}" y="${r2(top + plotH / 2)}" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${r2(top + plotH / 2)})">${escapeXml(options.yLabel)}</text>`,
  );

  // Series.
  out.push(`<g class="series" fill="none" stroke-width="1.5" stroke-linejoin="round">`);
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PLOT_PALETTE[i % PLOT_PALETTE.length]!);
    const pts = s.points.filter(finite);
    const name = escapeXml(s.name);
    if (pts.length === 1) {
      const p = pts[0]!;
      out.push(`<circle data-series="${name}" cx="${r2(px(p.x))}" cy="${r2(py(p.y))}" r="2.5" fill="${color}"/>`);
    } else if (pts.length > 1) {
      const coords = pts.map((p) => `${r2(px(p.x))},${r2(py(p.y))}`).join(' ');
      out.push(`<polyline data-series="${name}" stroke="${color}" points="${coords}"/>`);
    }
  });
  out.push(`</g>`);

  // Legend.
  if (series.length > 0) {
    const lx = left + plotW + 15;
    out.push(`<g class="legend">`);
    series.forEach((s, i) => {
      const color = escapeXml(s.color ?? PLOT_PALETTE[i % PLOT_PALETTE.length]!);
      const ly = top + 10 + i * 18;
      out.push(`<line x1="${r2(lx)}" y1="${ly}" x2="${r2(lx + 20)}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${r2(lx + 26)}" y="${ly}" dy="0.32em">${escapeXml(s.name)}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
