/**
 * 2-D convolution over feature maps, as ops of the registry (compiler/ops.ts): shape rules and
 * float64 meanings here, gradients in vjp.ts, WGSL in wgsl-conv.ts.
 *
 * A feature map of C channels over a grid of height x width pixels is a vector
 * [C*height*width], channel-major and row-major within a channel: element (c, y, x) is at
 * (c*height + y)*width + x, so `split(v, 4)` of a [4*C*P] map gives four maps of C channels.
 * A kernel is a matrix [Cout, Cin*K*K] (PyTorch's [Cout, Cin, K, K] flattened): element
 * (co, ci, ky, kx) at row co, column (ci*K + ky)*K + kx; K is odd, the stride 1, the padding
 * "same" (p = (K - 1) / 2 zeros around the grid), so the output grid is the input grid.
 *
 * - conv2d(W, v)[co, y, x] = sum over ci, ky, kx of W[co, ci, ky, kx] * v[ci, y + ky - p, x + kx - p]
 * - flip_kernel(W)[ci, co, ky, kx] = W[co, ci, K-1-ky, K-1-kx]: [Cin, Cout*K*K], the kernel whose
 *   convolution is conv2d's transpose (its gradient w.r.t. v); flipping twice gives W back
 * - conv2d_filter(g, v)[co, ci, ky, kx] = sum over y, x of g[co, y, x] * v[ci, y + ky - p, x + kx - p]:
 *   conv2d's gradient w.r.t. W for one example, summed over batch and time as matmul's `outer` is
 */
import type { Attrs, Type } from './ops.js';
import { Dim, formatShape } from './shape.js';

const show = (t: Type): string => formatShape(t.shape);
/** A dimension as a factor of a product: `C + H` needs parentheses in `(C + H)*3*3`. */
const factor = (d: Dim): string => (d.terms.size > 1 ? `(${d})` : String(d));

/** Pixels per channel: the grid's height times its width. */
export const pixels = (attrs: Attrs): Dim => attrs.height!.mul(attrs.width!);

function gridText(attrs: Attrs): string {
  return `${attrs.height} x ${attrs.width} pixels`;
}

/** The channels of a map of `size` elements on the grid of `attrs`, or a message saying what was expected. */
function channels(what: string, v: Type, attrs: Attrs): Dim | string {
  if (v.shape.length !== 1) return `${what}, a vector [channels*${factor(attrs.height!)}*${factor(attrs.width!)}], got ${show(v)}`;
  const c = v.shape[0]!.divide(pixels(attrs));
  return c ?? `${what} of whole channels of ${gridText(attrs)}, [channels*${factor(attrs.height!)}*${factor(attrs.width!)}], got ${show(v)}`;
}

const isOddKernel = (k: number | undefined): k is number => k !== undefined && Number.isInteger(k) && k >= 1 && k % 2 === 1;

/**
 * The kernel size K that W and v imply: W must be [Cout, Cin*K*K] with K odd, Cin the
 * channels of the map v. Answers a message saying what was expected when they do not fit.
 */
export function conv2dKernel(w: Type, v: Type, attrs: Attrs): number | string {
  if (!attrs.height || !attrs.width) return 'the height and width of the map';
  if (w.shape.length !== 2) return `a kernel matrix [out channels, in channels*K*K], got ${show(w)}`;
  const cin = channels('an input map', v, attrs);
  if (typeof cin === 'string') return cin;
  const area = w.shape[1]!.ratio(cin);
  const k = area === undefined ? undefined : Math.round(Math.sqrt(area));
  if (!isOddKernel(k) || k * k !== area) {
    return `a kernel of ${factor(cin)}*K*K columns for the ${cin} input channels, K odd (e.g. [${w.shape[0]}, ${factor(cin)}*3*3]), got ${show(w)}`;
  }
  return k;
}

export const CONV_SHAPE_RULES = {
  conv2d([w, v]: readonly Type[], attrs: Attrs): Type | string {
    const k = conv2dKernel(w!, v!, attrs);
    if (typeof k === 'string') return k;
    if (attrs.kernel !== k) return `kernel size ${k} for a kernel ${show(w!)}, got ${attrs.kernel}`;
    return { shape: [w!.shape[0]!.mul(pixels(attrs))], batched: w!.batched || v!.batched };
  },
  flip_kernel([w]: readonly Type[], { kernel }: Attrs): Type | string {
    if (!isOddKernel(kernel)) return `an odd kernel size, got ${kernel}`;
    const cin = w!.shape.length === 2 ? w!.shape[1]!.divExact(kernel * kernel) : undefined;
    if (!cin) return `a kernel matrix [out channels, in channels*${kernel}*${kernel}], got ${show(w!)}`;
    return { shape: [cin, w!.shape[0]!.scale(kernel * kernel)], batched: w!.batched };
  },
  conv2d_filter([g, v]: readonly Type[], attrs: Attrs): Type | string {
    if (!isOddKernel(attrs.kernel) || !attrs.height || !attrs.width) return 'the height and width of the map and an odd kernel size';
    const cout = channels('an output gradient map', g!, attrs);
    if (typeof cout === 'string') return cout;
    const cin = channels('an input map', v!, attrs);
    if (typeof cin === 'string') return cin;
    return { shape: [cout, cin.scale(attrs.kernel * attrs.kernel)], batched: g!.batched || v!.batched };
  },
};

/** The grid and kernel of a convolution, bound to numbers. */
export interface Grid {
  readonly height: number;
  readonly width: number;
  readonly kernel: number;
}

export function gridOf(attrs: Attrs, sizes: Readonly<Record<string, number>>): Grid {
  return { height: attrs.height!.evaluate(sizes), width: attrs.width!.evaluate(sizes), kernel: attrs.kernel! };
}

/** Calls `visit(ky, kx, iy, ix)` for every kernel tap whose input pixel (iy, ix) is inside the grid, for output pixel (y, x). */
function taps(grid: Grid, y: number, x: number, visit: (ky: number, kx: number, iy: number, ix: number) => void): void {
  const { height, width, kernel } = grid;
  const pad = (kernel - 1) / 2;
  for (let ky = 0; ky < kernel; ky++) {
    const iy = y + ky - pad;
    if (iy < 0 || iy >= height) continue;
    for (let kx = 0; kx < kernel; kx++) {
      const ix = x + kx - pad;
      if (ix >= 0 && ix < width) visit(ky, kx, iy, ix);
    }
  }
}

/** conv2d of one example in float64: `w` row-major [cout, cin*K*K], `v` [cin*P]. */
export function conv2dCpu(w: Float64Array, v: Float64Array, cout: number, grid: Grid): Float64Array {
  const P = grid.height * grid.width;
  const kk = grid.kernel * grid.kernel;
  const cin = v.length / P;
  const out = new Float64Array(cout * P);
  for (let co = 0; co < cout; co++) {
    for (let y = 0; y < grid.height; y++) {
      for (let x = 0; x < grid.width; x++) {
        let acc = 0;
        for (let ci = 0; ci < cin; ci++) {
          taps(grid, y, x, (ky, kx, iy, ix) => {
            acc += w[co * cin * kk + ci * kk + ky * grid.kernel + kx]! * v[ci * P + iy * grid.width + ix]!;
          });
        }
        out[co * P + y * grid.width + x] = acc;
      }
    }
  }
  return out;
}

/** flip_kernel in float64: `w` row-major [cout, cin*K*K] to [cin, cout*K*K]. */
export function flipKernelCpu(w: Float64Array, cout: number, kernel: number): Float64Array {
  const kk = kernel * kernel;
  const cin = w.length / (cout * kk);
  const out = new Float64Array(w.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      // reversing the K*K taps of a channel pair flips both ky and kx
      for (let r = 0; r < kk; r++) out[ci * cout * kk + co * kk + r] = w[co * cin * kk + ci * kk + (kk - 1 - r)]!;
    }
  }
  return out;
}

/** conv2d_filter of one example in float64: `g` [cout*P], `v` [cin*P], to row-major [cout, cin*K*K]. */
export function conv2dFilterCpu(g: Float64Array, v: Float64Array, grid: Grid): Float64Array {
  const P = grid.height * grid.width;
  const kk = grid.kernel * grid.kernel;
  const [cout, cin] = [g.length / P, v.length / P];
  const out = new Float64Array(cout * cin * kk);
  for (let co = 0; co < cout; co++) {
    for (let y = 0; y < grid.height; y++) {
      for (let x = 0; x < grid.width; x++) {
        const gv = g[co * P + y * grid.width + x]!;
        for (let ci = 0; ci < cin; ci++) {
          taps(grid, y, x, (ky, kx, iy, ix) => {
            out[co * cin * kk + ci * kk + ky * grid.kernel + kx]! += gv * v[ci * P + iy * grid.width + ix]!;
          });
        }
      }
    }
  }
  return out;
}
