/** Source text to AST: the ohm grammar matches, one semantics operation builds the tree. */
import * as ohm from 'ohm-js';
import type { CellNode, DimNode, Expr, Ident, InitNode, ProgramNode, ShapeNode, Stmt } from './ast.js';
import { SeqError } from './diagnostics.js';
import { GRAMMAR_SOURCE } from './grammar-source.generated.js';
import type { Span } from './span.js';

const grammar = ohm.grammar(GRAMMAR_SOURCE);

function spanOf(file: string, node: ohm.Node): Span {
  return { file, start: node.source.startIdx, end: node.source.endIdx };
}

function makeSemantics(file: string): ohm.Semantics {
  const semantics = grammar.createSemantics();
  const span = (node: ohm.Node): Span => spanOf(file, node);
  const ident = (node: ohm.Node): Ident => ({ name: node.sourceString, span: span(node) });
  const binary = (op: '+' | '-' | '*' | '/' | '@') =>
    function (this: ohm.Node, left: ohm.Node, opNode: ohm.Node, right: ohm.Node): Expr {
      return { kind: 'binary', op, left: left['ast'](), right: right['ast'](), opSpan: span(opNode), span: span(this) };
    };
  const dimBinary = (kind: 'add' | 'sub' | 'mul') =>
    function (this: ohm.Node, left: ohm.Node, _op: ohm.Node, right: ohm.Node): DimNode {
      return { kind, left: left['ast'](), right: right['ast'](), span: span(this) };
    };
  semantics.addOperation<unknown>('ast', {
    Program(cells, _end): ProgramNode {
      return { cells: cells.children.map((c) => c['ast']()), file, source: '' };
    },
    Cell(_cell, name, _lp, inputs, _rp, _arrow, outputs, _lb, body, _rb): CellNode {
      return {
        name: ident(name),
        inputs: inputs.asIteration().children.map((i) => i['ast']()),
        outputs: outputs.asIteration().children.map(ident),
        body: body.children.map((s) => s['ast']()),
        span: span(this),
      };
    },
    InputDecl(name, _colon, shape) {
      return { name: ident(name), shape: shape['ast']() };
    },
    SizeDecl(_size, name, _eq, value): Stmt {
      return { kind: 'size', name: ident(name), value: Number(value.sourceString), span: span(this) };
    },
    ParamDecl(_param, names, _colon, shape, _eq, init): Stmt {
      const initNode = init.children[0];
      return {
        kind: 'param',
        names: names.asIteration().children.map(ident),
        shape: shape['ast'](),
        ...(initNode ? { init: initNode['ast']() } : {}),
        span: span(this),
      };
    },
    StateDecl(_state, name, _colon, shape, _eq, initial): Stmt {
      const value = initial.children[0];
      return {
        kind: 'state',
        name: ident(name),
        shape: shape['ast'](),
        ...(value ? { initial: value['ast']() } : {}),
        span: span(this),
      };
    },
    LetStmt(_let, names, _eq, value): Stmt {
      return { kind: 'let', names: names.asIteration().children.map(ident), gate: false, value: value['ast'](), span: span(this) };
    },
    GateStmt(_gate, name, _eq, value): Stmt {
      return { kind: 'let', names: [ident(name)], gate: true, value: value['ast'](), span: span(this) };
    },
    AssignStmt(target, _lb, index, _rb, _eq, value): Stmt {
      return { kind: 'assign', target: ident(target), index: index['ast'](), value: value['ast'](), span: span(this) };
    },
    Init_call(name, _lp, args, _rp): InitNode {
      return { name: name.sourceString, args: args.asIteration().children.map((a) => a['ast']()), span: span(this) };
    },
    Init_name(name): InitNode {
      return { name: name.sourceString, args: [], span: span(this) };
    },
    Shape(_lb, dims, _rb): ShapeNode {
      return { dims: dims.asIteration().children.map((d) => d['ast']()), span: span(this) };
    },
    DimSum_add: dimBinary('add'),
    DimSum_sub: dimBinary('sub'),
    DimProduct_mul: dimBinary('mul'),
    DimAtom_int(value): DimNode {
      return { kind: 'int', value: Number(value.sourceString), span: span(this) };
    },
    DimAtom_name(name): DimNode {
      return { kind: 'name', name: name.sourceString, span: span(this) };
    },
    DimAtom_paren(_lp, inner, _rp): DimNode {
      return inner['ast']();
    },
    AddExpr_add: binary('+'),
    AddExpr_sub: binary('-'),
    MulExpr_mul: binary('*'),
    MulExpr_div: binary('/'),
    MatExpr_matmul: binary('@'),
    Unary_neg(_minus, operand): Expr {
      return { kind: 'neg', operand: operand['ast'](), span: span(this) };
    },
    Primary_call(callee, _lp, args, _rp): Expr {
      return {
        kind: 'call',
        callee: callee.sourceString,
        args: args.asIteration().children.map((a) => a['ast']()),
        calleeSpan: span(callee),
        span: span(this),
      };
    },
    Primary_index(name, _lb, index, _rb): Expr {
      return { kind: 'index', name: name.sourceString, index: index['ast'](), nameSpan: span(name), span: span(this) };
    },
    Primary_name(name): Expr {
      return { kind: 'name', name: name.sourceString, span: span(this) };
    },
    Primary_number(value): Expr {
      return { kind: 'number', value: Number(value.sourceString), span: span(this) };
    },
    Primary_paren(_lp, inner, _rp): Expr {
      return inner['ast']();
    },
    Primary_concat(_lb, parts, _rb): Expr {
      return { kind: 'concat', parts: parts.asIteration().children.map((p) => p['ast']()), span: span(this) };
    },
    SignedNumber(minus, value): number {
      return (minus.sourceString === '-' ? -1 : 1) * Number(value.sourceString);
    },
  });
  return semantics;
}

/** What the parser expected at the rightmost failure, said the way a person would. */
function expectedText(match: ohm.MatchResult): string {
  const failures = (match as unknown as { getRightmostFailures(): { getText(): string; type: string }[] })
    .getRightmostFailures();
  const texts = [...new Set(failures.map((f) => (f.type === 'string' ? `"${f.getText()}"` : f.getText())))];
  if (texts.length <= 1) return texts[0] ?? 'something else';
  return `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1]}`;
}

function parseHint(source: string, offset: number): string | undefined {
  if (source.trim() === '') return 'a .seq file defines at least one cell, e.g. `cell RNN(x: [I]) -> h { ... }`';
  const rest = source.slice(offset);
  const before = source.slice(0, offset).trimEnd();
  if (/^\^/.test(rest) || (rest.startsWith('*') && before.endsWith('*'))) return 'there is no power operator; write x * x or pow(x, 2)';
  if (/^[=!]=/.test(rest)) return 'comparisons are not part of the language';
  if (/^\{/.test(rest) && /->\s*$/.test(before)) return 'name the outputs after ->, e.g. `-> h`';
  return undefined;
}

export function parse(source: string, file: string): ProgramNode {
  const binary = source.search(/[\x00-\x08\x0e-\x1f\x7f\ufffd]/);
  if (binary >= 0) {
    throw new SeqError({ file, start: binary, end: binary + 1 }, 'this is not a text file: found a control byte', 'a .seq file is UTF-8 text; check that the right file was given');
  }
  const match = grammar.match(source);
  if (match.failed()) {
    const offset = match.getRightmostFailurePosition();
    const expected = expectedText(match);
    const what = offset >= source.length ? 'end of file' : JSON.stringify(source.slice(offset).match(/^([A-Za-z_]\w*|\d+(\.\d+)?|\S)/)?.[0] ?? source[offset]);
    const message = source.trim() === '' ? 'empty file: expected a cell definition' : `expected ${expected}, found ${what}`;
    throw new SeqError({ file, start: offset, end: offset + 1 }, message, parseHint(source, offset));
  }
  const tree = makeSemantics(file)(match)['ast']() as ProgramNode;
  return { ...tree, source };
}
