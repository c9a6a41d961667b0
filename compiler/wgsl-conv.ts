/**
 * The WGSL of the convolution ops (compiler/conv2d.ts). Like matmuls, the convolutions a tile
 * needs are gathered and computed together: every conv2d element of the tile that reads the
 * same map shares one loop over the input channels and the K x K taps, with one accumulator
 * per (element, batch row), so each loaded kernel element serves every batch row of its lane.
 * Every conv2d_filter element of a post kernel's tile shares one loop over the pixels, in
 * which a row's gradient element and a column's input element are each loaded once, as an
 * outer product's vectors are. flip_kernel only moves the index.
 *
 * Sharing the loops matters beyond the loads: llvmpipe counts the iterations of all the loops
 * of an invocation together and ends every loop once they pass 65535 (gallivm's
 * LP_MAX_TGSI_LOOP_ITERATIONS), silently. A loop per element would multiply the count by the
 * tile (a 16x16 filter-gradient tile over 15 rows of 30 pixels: 115,200, and wrong sums);
 * shared, it is the channels and taps of a convolution, the rows times pixels of a filter sum.
 *
 * Operands are read through the writer, so whatever they are (a kept buffer, an input, a
 * fused expression) the code that reads them is the code every kernel uses. Taps outside the
 * grid are skipped: the input row y + ky - p is a u32, so one `< height` test also catches
 * the rows above the grid, which wrap around.
 */
import { pixels } from './conv2d.js';
import type { Eqn } from './ir.js';
import { Dim } from './shape.js';
import type { Block, Index, KernelWriter } from './wgsl.js';

const at = (base: string): Index => ({ base, lane: 0, offset: Dim.of(0) });

/** A conv2d element wanted for one batch row; `key` names its accumulator. */
export interface ConvRequest {
  readonly eqn: Eqn;
  readonly index: Index;
  readonly batchRow: number;
  readonly key: string;
}

/** A conv2d_filter element (row, col) wanted for one batch row. */
export interface FilterRequest {
  readonly eqn: Eqn;
  readonly row: Index;
  readonly col: Index;
  readonly batchRow: number;
  readonly key: string;
}

/** `for (var name: u32 = 0u; name < count; ...)` in `block`, its body a child scope of `trips` iterations. */
function loop(block: Block, name: string, count: string, trips: Dim, fill: (body: Block) => void): void {
  block.line(`for (var ${name}: u32 = 0u; ${name} < ${count}; ${name} = ${name} + 1u) {`);
  const body = block.child(trips);
  fill(body);
  block.append(body);
  block.line('}');
}

/** The grid and kernel of a convolution op as WGSL text. */
function geometry(writer: KernelWriter, e: Eqn) {
  const kernel = e.attrs.kernel!;
  return {
    kernel,
    taps: kernel * kernel,
    pad: (kernel - 1) / 2,
    height: writer.dim(e.attrs.height!),
    width: writer.dim(e.attrs.width!),
    pixels: writer.dim(pixels(e.attrs)),
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups.values()];
}

/** Names per distinct key, made once: a lane's channel and pixel serve each of its batch rows. */
function once<T>(make: () => T): (key: string) => T {
  const made = new Map<string, T>();
  return (key) => {
    if (!made.has(key)) made.set(key, make());
    return made.get(key)!;
  };
}

/** `v` guarded by `inside`: read only where the tap is in the grid, else 0. */
function guarded(writer: KernelWriter, inside: string, block: Block, read: (scope: Block) => string): string {
  const name = writer.fresh('tap');
  block.line(`var ${name}: f32 = 0.0;`);
  block.line(`if (${inside}) {`);
  const scope = block.child();
  scope.line(`${name} = ${read(scope)};`);
  block.append(scope);
  block.line('}');
  return name;
}

/** The conv2d elements of `requests`, computed in `block`; answers the accumulator of each request key. */
export function emitConvolutions(writer: KernelWriter, requests: readonly ConvRequest[], block: Block): Map<string, string> {
  const names = new Map<string, string>();
  const { eqns } = writer.schedule.program;
  const shared = (r: ConvRequest) => `${r.eqn.args[1]}|${r.eqn.attrs.height}|${r.eqn.attrs.width}|${r.eqn.attrs.kernel}|${eqns[r.eqn.args[0]!]!.type.shape[1]}`;
  for (const group of groupBy(requests, shared)) {
    const first = group[0]!.eqn;
    const g = geometry(writer, first);
    const inChannels = eqns[first.args[0]!]!.type.shape[1]!.divExact(g.taps)!;
    const v = first.args[1]!;
    // the output channel and pixel of each lane
    const lane = new Map<string, { co: string; y: string; x: string }>();
    for (const r of group) {
      const flat = writer.index(r.index);
      if (!lane.has(flat)) {
        const [co, pix, y, x] = ['co', 'pix', 'y', 'x'].map((p) => writer.fresh(p)) as [string, string, string, string];
        block.line(`let ${co} = (${flat}) / ${g.pixels};`);
        block.line(`let ${pix} = (${flat}) % ${g.pixels};`);
        block.line(`let ${y} = ${pix} / ${g.width};`);
        block.line(`let ${x} = ${pix} % ${g.width};`);
        lane.set(flat, { co, y, x });
      }
      const acc = writer.fresh('acc');
      block.line(`var ${acc}: f32 = 0.0;`);
      names.set(r.key, acc);
    }
    const [ci, ky, kx] = ['ci', 'ky', 'kx'].map((p) => writer.fresh(p)) as [string, string, string];
    loop(block, ci, writer.dim(inChannels), inChannels, (channel) => {
      loop(channel, ky, `${g.kernel}u`, Dim.of(g.kernel), (row) => {
        const iy = once(() => writer.fresh('iy'));
        for (const [flat, { y }] of lane) row.line(`let ${iy(flat)} = ${y} + ${ky} - ${g.pad}u;`);
        loop(row, kx, `${g.kernel}u`, Dim.of(g.kernel), (tap) => {
          const ix = once(() => writer.fresh('ix'));
          for (const [flat, { x }] of lane) tap.line(`let ${ix(flat)} = ${x} + ${kx} - ${g.pad}u;`);
          for (const r of group) {
            const flat = writer.index(r.index);
            const { co } = lane.get(flat)!;
            const weight = writer.value2d(r.eqn.args[0]!, at(co), at(`${ci} * ${g.taps}u + ${ky} * ${g.kernel}u + ${kx}`), r.batchRow, tap);
            const input = guarded(writer, `${iy(flat)} < ${g.height} && ${ix(flat)} < ${g.width}`, tap, (scope) =>
              writer.value(v, at(`${ci} * ${g.pixels} + ${iy(flat)} * ${g.width} + ${ix(flat)}`), r.batchRow, scope));
            tap.line(`${names.get(r.key)} = fma(${weight}, ${input}, ${names.get(r.key)});`);
          }
        });
      });
    });
  }
  return names;
}

/**
 * The conv2d_filter elements of `requests` for the batch row the block is at: one loop over
 * the pixels per pair of maps, each row's g element and each column's tap of v loaded once.
 */
export function emitFilterCorrelations(writer: KernelWriter, requests: readonly FilterRequest[], block: Block): Map<string, string> {
  const names = new Map<string, string>();
  for (const group of groupBy(requests, (r) => `${r.eqn.args.join(',')}|${r.eqn.attrs.height}|${r.eqn.attrs.width}|${r.eqn.attrs.kernel}|${r.batchRow}`)) {
    const first = group[0]!;
    const [dy, v] = first.eqn.args as [number, number];
    const g = geometry(writer, first.eqn);
    // the input channel and tap of each column
    const columns = new Map<string, { ci: string; ky: string; kx: string }>();
    for (const r of group) {
      const c = writer.index(r.col);
      if (!columns.has(c)) {
        const [ci, ky, kx] = ['ci', 'ky', 'kx'].map((p) => writer.fresh(p)) as [string, string, string];
        block.line(`let ${ci} = (${c}) / ${g.taps}u;`);
        block.line(`let ${ky} = ((${c}) % ${g.taps}u) / ${g.kernel}u;`);
        block.line(`let ${kx} = (${c}) % ${g.kernel}u;`);
        columns.set(c, { ci, ky, kx });
      }
      const acc = writer.fresh('acc');
      block.line(`var ${acc}: f32 = 0.0;`);
      names.set(r.key, acc);
    }
    const pix = writer.fresh('pix');
    loop(block, pix, g.pixels, pixels(first.eqn.attrs), (body) => {
      const [y, x] = [writer.fresh('y'), writer.fresh('x')];
      body.line(`let ${y} = ${pix} / ${g.width};`);
      body.line(`let ${x} = ${pix} % ${g.width};`);
      const input = new Map<string, string>();
      for (const [c, { ci, ky, kx }] of columns) {
        const [iy, ix] = [writer.fresh('iy'), writer.fresh('ix')];
        body.line(`let ${iy} = ${y} + ${ky} - ${g.pad}u;`);
        body.line(`let ${ix} = ${x} + ${kx} - ${g.pad}u;`);
        input.set(c, guarded(writer, `${iy} < ${g.height} && ${ix} < ${g.width}`, body, (scope) =>
          writer.value(v, at(`${ci} * ${g.pixels} + ${iy} * ${g.width} + ${ix}`), first.batchRow, scope)));
      }
      for (const r of group) {
        const out = writer.value(dy, at(`(${writer.index(r.row)}) * ${g.pixels} + ${pix}`), r.batchRow, body);
        body.line(`${names.get(r.key)} = fma(${out}, ${input.get(writer.index(r.col))}, ${names.get(r.key)});`);
      }
    });
  }
  return names;
}

/** Element (ci, co*K*K + r) of flip_kernel(W): W's element (co, ci*K*K + K*K-1 - r), both taps reversed. */
export function flipKernelElement(writer: KernelWriter, e: Eqn, row: Index, col: Index, batchRow: number, block: Block): string {
  const taps = e.attrs.kernel! * e.attrs.kernel!;
  const c = writer.index(col);
  return writer.value2d(e.args[0]!, at(`(${c}) / ${taps}u`), at(`(${writer.index(row)}) * ${taps}u + ${taps - 1}u - (${c}) % ${taps}u`), batchRow, block);
}
