/** The AST of a `.seq` file. Every node carries the span it was parsed from. */
import type { Span } from './span.js';

export interface DimNode {
  readonly kind: 'int' | 'name' | 'add' | 'sub' | 'mul';
  readonly value?: number;
  readonly name?: string;
  readonly left?: DimNode;
  readonly right?: DimNode;
  readonly span: Span;
}

export interface ShapeNode {
  readonly dims: readonly DimNode[];
  readonly span: Span;
}

export type Expr =
  | { readonly kind: 'number'; readonly value: number; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'index'; readonly name: string; readonly index: Expr; readonly nameSpan: Span; readonly span: Span }
  | { readonly kind: 'call'; readonly callee: string; readonly args: readonly Expr[]; readonly calleeSpan: Span; readonly span: Span }
  /** a cell combinator applied to per-step arguments: `stack(2, LSTM)(x[t])` */
  | { readonly kind: 'apply'; readonly callee: string; readonly options: readonly Expr[]; readonly args: readonly Expr[]; readonly calleeSpan: Span; readonly span: Span }
  | { readonly kind: 'binary'; readonly op: '+' | '-' | '*' | '/' | '@'; readonly left: Expr; readonly right: Expr; readonly opSpan: Span; readonly span: Span }
  | { readonly kind: 'neg'; readonly operand: Expr; readonly span: Span }
  | { readonly kind: 'concat'; readonly parts: readonly Expr[]; readonly span: Span };

export interface Ident {
  readonly name: string;
  readonly span: Span;
}

export interface InitNode {
  readonly name: string;
  readonly args: readonly number[];
  readonly span: Span;
}

export type Stmt =
  | { readonly kind: 'size'; readonly name: Ident; readonly value: number; readonly span: Span }
  | { readonly kind: 'param'; readonly names: readonly Ident[]; readonly shape: ShapeNode; readonly init?: InitNode; readonly span: Span }
  | { readonly kind: 'state'; readonly name: Ident; readonly shape: ShapeNode; readonly initial?: number; readonly span: Span }
  | { readonly kind: 'let'; readonly names: readonly Ident[]; readonly gate: boolean; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'assign'; readonly target: Ident; readonly index: Expr; readonly value: Expr; readonly span: Span };

export interface InputNode {
  readonly name: Ident;
  readonly shape: ShapeNode;
  /** the word before the shape (`onehot` in `x: onehot[V]`), if any */
  readonly encoding?: Ident;
}

export interface CellNode {
  readonly name: Ident;
  readonly inputs: readonly InputNode[];
  readonly outputs: readonly Ident[];
  readonly body: readonly Stmt[];
  readonly span: Span;
}

/** A line of a model: a size, a layer bound by let, the output's layer, or the loss. */
export type ModelStmt =
  | (Stmt & { readonly kind: 'size' | 'let' })
  | { readonly kind: 'output'; readonly target: Ident; readonly value: Expr; readonly span: Span }
  /** `loss softmax-ce(tags)`: the loss's name as written, and the output it reads */
  | { readonly kind: 'loss'; readonly loss: Ident; readonly output: Ident; readonly span: Span };

/** `model Name(input) -> output { ... }`: layers over whole sequences (docs/language.md, "Models"). */
export interface ModelNode {
  readonly kind: 'model';
  readonly name: Ident;
  readonly inputs: readonly InputNode[];
  readonly outputs: readonly Ident[];
  readonly body: readonly ModelStmt[];
  readonly span: Span;
}

export interface ProgramNode {
  readonly cells: readonly CellNode[];
  readonly models: readonly ModelNode[];
  readonly file: string;
  readonly source: string;
}
