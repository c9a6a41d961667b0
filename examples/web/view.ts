/**
 * What the page's views share: the compiled cell, the device, and a small DOM helper. A view
 * is one tab of the page (the character model, the forward check); adding one is adding an
 * entry to the list in main.ts.
 */
import type { CellProgram } from '../../compiler/ir.js';
import type { DeviceInfo } from '../../runtime/device.js';
import type { LaunchPlan } from '../../runtime/plan.js';

/** The editor's cell, compiled in the page. */
export interface Compiled {
  readonly source: string;
  readonly program: CellProgram;
  /** the inference plan: kernels with their WGSL */
  readonly plan: LaunchPlan;
  /** compile time in the page, ms */
  readonly ms: number;
}

export interface Demo {
  /** the shared device, or the reason there is none */
  readonly device: Promise<DeviceInfo>;
  /** the last cell that compiled (the editor may hold a broken one since) */
  current(): Compiled | undefined;
  /** lists more plans' kernels in the WGSL panel, e.g. the training passes */
  showPlans(plans: readonly { readonly label: string; readonly plan: LaunchPlan }[]): void;
}

export interface View {
  readonly id: string;
  readonly title: string;
  /** builds the view's elements once */
  mount(root: HTMLElement, demo: Demo): void;
  /** a new cell compiled */
  update(compiled: Compiled): void;
}

type Child = Node | string | null | undefined | false;

/** `h('button', { class: 'x', onclick }, 'text')`: an element with properties and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, unknown>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (key === 'class') element.className = String(value);
    else if (key.startsWith('data-')) element.setAttribute(key, String(value));
    else (element as unknown as Record<string, unknown>)[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** A labelled number input. */
export function numberField(label: string, value: number, options: { min?: number; max?: number; step?: number; id?: string } = {}): { row: HTMLLabelElement; input: HTMLInputElement } {
  const input = h('input', { type: 'number', value: String(value), min: options.min, max: options.max, step: options.step ?? 'any', id: options.id });
  return { row: h('label', { class: 'field' }, h('span', {}, label), input), input };
}

/** The value of a number input, or an error naming the field. */
export function readNumber(input: HTMLInputElement, name: string, { integer = false, min = -Infinity } = {}): number {
  const value = Number(input.value);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min) {
    throw new Error(`${name} must be ${integer ? 'a whole number' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}, not "${input.value}"`);
  }
  return value;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
