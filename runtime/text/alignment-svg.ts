/**
 * An attention alignment as a standalone SVG heatmap: one row per output step, one column
 * per source step, each cell shaded by its weight in [0, 1] (white to dark blue) and
 * labelled with it. Browser-safe, no dependencies.
 */
import { escapeXml } from './svg-plot.js';

export interface AlignmentOptions {
  /** labels of the rows (output steps) and columns (source steps) */
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  readonly title: string;
  /** side of a cell in pixels (default 36) */
  readonly cell?: number;
}

/** weights[i][j]: how much output step i attends to source step j. */
export function alignmentSvg(weights: readonly (readonly number[])[], options: AlignmentOptions): string {
  const { rows, columns, title } = options;
  if (weights.length !== rows.length || weights.some((w) => w.length !== columns.length)) {
    throw new Error(`alignment of ${weights.length} rows x ${weights[0]?.length ?? 0} columns, labelled ${rows.length} x ${columns.length}`);
  }
  const cell = options.cell ?? 36;
  const left = 64;
  const top = 56;
  const width = left + columns.length * cell + 16;
  const height = top + rows.length * cell + 16;
  const shade = (w: number) => {
    const v = Math.max(0, Math.min(1, w));
    // white (255,255,255) to #08306b (8,48,107)
    const mix = (a: number, b: number) => Math.round(a + (b - a) * v);
    return `rgb(${mix(255, 8)},${mix(255, 48)},${mix(255, 107)})`;
  };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
  ];
  columns.forEach((label, j) => parts.push(`<text x="${left + j * cell + cell / 2}" y="${top - 8}" text-anchor="middle">${escapeXml(label)}</text>`));
  rows.forEach((label, i) => {
    parts.push(`<text x="${left - 8}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${escapeXml(label)}</text>`);
    weights[i]!.forEach((w, j) => {
      const x = left + j * cell;
      const y = top + i * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${shade(w)}" stroke="#ddd"><title>${escapeXml(`${label} <- ${columns[j]}: ${w.toFixed(3)}`)}</title></rect>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${w > 0.5 ? 'white' : 'black'}" font-size="9">${w.toFixed(2)}</text>`);
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
