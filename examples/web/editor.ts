/**
 * A plain-text editor for `.seq` cells: a textarea over a backdrop that draws the error's
 * span, a line-number gutter, and the message itself placed under the offending line, at its
 * column. The backdrop and the textarea share every metric (font, padding, no wrapping), so
 * the marks line up with the text.
 */
import type { Span } from '../../dsl/span.js';
import { locate } from '../../dsl/diagnostics.js';
import { h } from './view.js';

export interface EditorError {
  readonly span: Span;
  /** e.g. "cell.seq:3:14: expected ..." */
  readonly message: string;
}

export class Editor {
  readonly element: HTMLDivElement;
  readonly textarea: HTMLTextAreaElement;
  readonly #gutter: HTMLPreElement;
  readonly #backdrop: HTMLPreElement;
  readonly #inline: HTMLDivElement;
  #error: EditorError | undefined;
  #errorAt = { line: 1, column: 1 };
  #charWidth = 0;

  constructor(source: string, onInput: (source: string) => void) {
    this.textarea = h('textarea', { id: 'source', spellcheck: false, wrap: 'off', autocomplete: 'off', value: source });
    this.textarea.setAttribute('aria-label', 'cell source (.seq)');
    this.#gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
    this.#backdrop = h('pre', { class: 'backdrop', 'aria-hidden': 'true' });
    this.#inline = h('div', { class: 'inline-error', id: 'inline-error', role: 'alert', hidden: true });
    this.element = h('div', { class: 'editor' }, this.#gutter, h('div', { class: 'code' }, this.#backdrop, this.textarea, this.#inline));
    this.textarea.addEventListener('input', () => {
      this.#render();
      onInput(this.textarea.value);
    });
    this.textarea.addEventListener('scroll', () => this.#syncScroll());
    this.textarea.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return; // indent instead of leaving the editor
      event.preventDefault();
      this.textarea.setRangeText('  ', this.textarea.selectionStart, this.textarea.selectionEnd, 'end');
      this.textarea.dispatchEvent(new Event('input'));
    });
    this.#render();
  }

  get value(): string {
    return this.textarea.value;
  }

  set value(source: string) {
    this.textarea.value = source;
    this.#render();
  }

  /** Marks an error (or clears the mark with undefined). */
  setError(error: EditorError | undefined): void {
    this.#error = error;
    this.#render();
  }

  /** Puts the cursor on the error. */
  revealError(): void {
    if (!this.#error) return;
    this.textarea.focus();
    this.textarea.setSelectionRange(this.#error.span.start, Math.max(this.#error.span.start, this.#error.span.end));
  }

  #render(): void {
    const source = this.textarea.value;
    const lines = source.split('\n').length;
    const error = this.#error && this.#error.span.start <= source.length ? this.#error : undefined;
    const errorLine = error ? locate(source, error.span.start).line : 0;
    this.#gutter.replaceChildren(
      ...Array.from({ length: lines }, (_, i) => h('span', { class: i + 1 === errorLine ? 'error-line' : '' }, `${i + 1}\n`)),
    );
    if (!error) {
      this.#backdrop.replaceChildren(source + '\n');
      this.#inline.hidden = true;
    } else {
      // the mark stays on the error's first line; an empty span (say, at the end of the
      // input) is drawn as one blank cell so that it shows
      const start = error.span.start;
      const lineEnd = source.indexOf('\n', start);
      const stop = Math.min(Math.max(error.span.end, start + 1), lineEnd === -1 ? source.length : lineEnd);
      const marked = source.slice(start, stop);
      this.#backdrop.replaceChildren(source.slice(0, start), h('mark', { class: 'error-span' }, marked || ' '), source.slice(stop) + '\n');
      const { line, column } = locate(source, start);
      this.#inline.textContent = error.message;
      this.#inline.dataset['line'] = String(line);
      this.#inline.dataset['column'] = String(column);
      this.#errorAt = { line, column };
      this.#inline.hidden = false;
    }
    this.#syncScroll();
  }

  #syncScroll(): void {
    const { scrollTop, scrollLeft } = this.textarea;
    this.#backdrop.scrollTop = scrollTop;
    this.#backdrop.scrollLeft = scrollLeft;
    this.#gutter.scrollTop = scrollTop;
    if (!this.#inline.hidden) this.#placeInline();
  }

  /** The message goes just under the error's line, starting at its column. */
  #placeInline(): void {
    const style = getComputedStyle(this.textarea);
    if (!this.#charWidth) {
      const context = document.createElement('canvas').getContext('2d');
      if (context) {
        context.font = `${style.fontSize} ${style.fontFamily}`;
        this.#charWidth = context.measureText('0'.repeat(40)).width / 40;
      }
    }
    const lineHeight = parseFloat(style.lineHeight) || 18;
    const padTop = parseFloat(style.paddingTop) || 0;
    const padLeft = parseFloat(style.paddingLeft) || 0;
    const { line, column } = this.#errorAt;
    const maxLeft = Math.max(0, this.textarea.clientWidth * 0.55);
    const left = Math.min(maxLeft, padLeft + (column - 1) * (this.#charWidth || 8) - this.textarea.scrollLeft);
    this.#inline.style.top = `${padTop + line * lineHeight - this.textarea.scrollTop + 2}px`;
    this.#inline.style.left = `${Math.max(4, left)}px`;
  }
}
