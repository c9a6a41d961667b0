/** A place in a source file; every AST node and IR equation carries one. */
export interface Span {
  readonly file: string;
  /** offsets into the source text, end exclusive */
  readonly start: number;
  readonly end: number;
}
