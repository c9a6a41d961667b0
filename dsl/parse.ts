/** Source text to AST: the ohm grammar matches, one semantics operation builds the tree. */
import * as ohm from 'ohm-js';
import type { CellNode, DimNode, Expr, Ident, InitNode, ModelNode, ModelStmt, ProgramNode, ShapeNode, Stmt } from './ast.js';
import { SeqError, closest, locate } from './diagnostics.js';
import { GRAMMAR_RECIPE } from './grammar-source.generated.js';
import type { Span } from './span.js';

// ohm-js exports makeRecipe (its generated grammar bundles load with it) but does not declare it
const { makeRecipe } = ohm as unknown as { makeRecipe(recipe: string): ohm.Grammar };
const grammar = makeRecipe(GRAMMAR_RECIPE);
const F32_MAX = 3.4028234663852886e38;

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
  /** A numeric literal, which must fit in a 32-bit float (the kernels compute in f32). */
  const finite = (node: ohm.Node): number => {
    const value = Number(node.sourceString);
    if (!(Math.abs(value) <= F32_MAX)) {
      throw new SeqError(span(node), `the number ${node.sourceString} is too large: the largest 32-bit float is about 3.4e38`, 'kernels compute in 32-bit floats; use a smaller number');
    }
    return value;
  };
  const dimBinary = (kind: 'add' | 'sub' | 'mul') =>
    function (this: ohm.Node, left: ohm.Node, _op: ohm.Node, right: ohm.Node): DimNode {
      return { kind, left: left['ast'](), right: right['ast'](), span: span(this) };
    };
  semantics.addOperation<unknown>('ast', {
    Program(items, _end): ProgramNode {
      const nodes: (CellNode | ModelNode)[] = items.children.map((c) => c['ast']());
      const isModel = (n: CellNode | ModelNode): n is ModelNode => 'kind' in n;
      return { cells: nodes.filter((n): n is CellNode => !isModel(n)), models: nodes.filter(isModel), file, source: '' };
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
    Model(_model, name, _lp, inputs, _rp, _arrow, outputs, _lb, body, _rb): ModelNode {
      return {
        kind: 'model',
        name: ident(name),
        inputs: inputs.asIteration().children.map((i) => i['ast']()),
        outputs: outputs.asIteration().children.map(ident),
        body: body.children.map((s) => s['ast']()),
        span: span(this),
      };
    },
    LossStmt(_loss, kind, _lp, output, _rp): ModelStmt {
      return { kind: 'loss', loss: ident(kind), output: ident(output), span: span(this) };
    },
    OutputStmt(target, _eq, value): ModelStmt {
      return { kind: 'output', target: ident(target), value: value['ast'](), span: span(this) };
    },
    InputDecl(name, _colon, encoding, shape) {
      const word = encoding.children[0];
      return { name: ident(name), shape: shape['ast'](), ...(word ? { encoding: ident(word) } : {}) };
    },
    SizeDecl(_size, name, _eq, value): Stmt {
      const n = value['ast']() as number;
      if (!Number.isInteger(n) || n < 1) {
        throw new SeqError(span(value), `size ${name.sourceString} must be a whole number >= 1, got ${value.sourceString.replace(/\s+/g, '')}`, `write e.g. size ${name.sourceString} = 64`);
      }
      return { kind: 'size', name: ident(name), value: n, span: span(this) };
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
    Primary_apply(callee, _lp, options, _rp, _la, args, _ra): Expr {
      return {
        kind: 'apply',
        callee: callee.sourceString,
        options: options.asIteration().children.map((a) => a['ast']()),
        args: args.asIteration().children.map((a) => a['ast']()),
        calleeSpan: span(callee),
        span: span(this),
      };
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
      return { kind: 'number', value: finite(value), span: span(this) };
    },
    Primary_paren(_lp, inner, _rp): Expr {
      return inner['ast']();
    },
    Primary_concat(_lb, parts, _rb): Expr {
      return { kind: 'concat', parts: parts.asIteration().children.map((p) => p['ast']()), span: span(this) };
    },
    SignedNumber(minus, value): number {
      return (minus.sourceString === '-' ? -1 : 1) * finite(value);
    },
  });
  return semantics;
}

const STATEMENT_KEYWORDS = ['size', 'param', 'state', 'let', 'gate'] as const;
const KEYWORDS: readonly string[] = ['cell', ...STATEMENT_KEYWORDS];
/** the words a model's lines start with; `model` and `loss` are not reserved (`loss` may name a value) */
const MODEL_KEYWORDS = ['size', 'let', 'loss'] as const;
const OPERATORS = ['"+"', '"-"', '"*"', '"/"', '"@"'];
const CELL_EXAMPLE = 'cell RNN(x: [I]) -> h { ... }';

/** What the parser could have accepted at the rightmost failure, each item said once. */
function expectedItems(match: ohm.MatchResult): string[] {
  const failures = (match as unknown as { getRightmostFailures(): { getText(): string; type: string }[] })
    .getRightmostFailures();
  return [...new Set(failures.map((f) => (f.type === 'string' ? `"${f.getText()}"` : f.getText())))];
}

/** The expected items said the way a person would: keywords and operators grouped. */
function expectedText(items: readonly string[]): string {
  let rest = [...items];
  const has = (xs: readonly string[]): boolean => xs.every((x) => rest.includes(x));
  const texts: string[] = [];
  if (has(OPERATORS)) {
    rest = rest.filter((x) => !OPERATORS.includes(x));
    texts.push('an operator');
  }
  // what a file is a list of, said in that order
  if (has(['"cell"', '"model"'])) rest = ['"cell"', '"model"', ...rest.filter((x) => x !== '"cell"' && x !== '"model"')];
  const statement = (has(STATEMENT_KEYWORDS.map((k) => `"${k}"`)) ? STATEMENT_KEYWORDS : MODEL_KEYWORDS).map((k) => `"${k}"`);
  const isStatement = has(statement);
  if (isStatement) rest = rest.filter((x) => !statement.includes(x) && x !== 'an identifier');
  const closing = rest.includes('"}"');
  texts.push(...rest.filter((x) => x !== '"}"'));
  if (isStatement) texts.push('a statement');
  if (closing) texts.push('"}"');
  if (texts.length <= 1) return texts[0] ?? 'something else';
  return `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1]}`;
}

interface Bracket {
  readonly char: string;
  readonly offset: number;
}

/** Brackets still open before `end` (comments skipped), and the first closer with no opener. */
function scanBrackets(source: string, end: number): { open: Bracket[]; stray?: Bracket; deepest: number } {
  const open: Bracket[] = [];
  const pairs: Readonly<Record<string, string>> = { ')': '(', ']': '[', '}': '{' };
  let stray: Bracket | undefined;
  let deepest = 0;
  let maxDepth = 0;
  for (let i = 0; i < end; i++) {
    const c = source[i]!;
    if (c === '#') {
      while (i < end && source[i] !== '\n') i++;
    } else if (c === '(' || c === '[' || c === '{') {
      open.push({ char: c, offset: i });
      if (open.length > maxDepth) {
        maxDepth = open.length;
        deepest = i;
      }
    } else if (pairs[c]) {
      // a closer ends its own opener and any left open inside it; with no opener it is stray
      const at = open.map((b) => b.char).lastIndexOf(pairs[c]);
      if (at >= 0) open.length = at;
      else stray ??= { char: c, offset: i };
    }
  }
  return { open, deepest: maxDepth >= 16 ? deepest : -1, ...(stray ? { stray } : {}) };
}

/** A report for a file the parser could not take in. */
function syntaxError(source: string, file: string, match: ohm.FailedMatchResult): SeqError {
  const offset = match.getRightmostFailurePosition();
  const items = expectedItems(match);
  const rest = source.slice(offset);
  const before = source.slice(0, offset);
  const token = offset >= source.length ? undefined : (rest.match(/^([A-Za-z_]\w*|\d+(\.\d+)?|->|\S)/u)?.[0] ?? source[offset]!);
  const found = token === undefined ? 'end of file' : JSON.stringify(token);
  const generic = `expected ${expectedText(items)}, found ${found}`;
  const where = (start: number, length: number) => ({ file, start, end: start + length });
  const error = (hint?: string, message = generic) => new SeqError(where(offset, Math.max(1, token?.length ?? 1)), message, hint);
  const position = (at: number): string => {
    const { line, column } = locate(source, at);
    return `line ${line}, column ${column}`;
  };

  if (source.replace(/#[^\n]*/g, '').trim() === '') {
    const message = source.trim() === '' ? 'empty file: expected a cell definition' : 'no cell in this file, only comments: expected a cell definition';
    return error(`a .seq file defines at least one cell, e.g. \`${CELL_EXAMPLE}\``, message);
  }
  if (token === '*' && before.trimEnd().endsWith('*')) {
    const star = before.trimEnd().length - 1;
    return new SeqError(where(star, offset - star + 1), "'**' is not an operator: there is no power operator", 'write pow(x, 2), or x * x');
  }
  if (token === '^') return error('write pow(x, 2), or x * x', "'^' is not an operator: there is no power operator");
  if (/^([=!<>]=|[<>])/.test(rest)) return error('comparisons are not part of the language');
  if (token === ';') return error('statements need no separator; remove the ;');
  if (token !== undefined && !/^[\w()[\]{}+\-*/@=,:.#]/.test(token)) {
    return error(`${JSON.stringify(token)} is not part of the language; the operators are + - * / @`);
  }

  // A keyword run into the name after it: `celltR(...)`, `paramW: [H]`, `letz = ...`.
  const glued = (word: string): string | undefined => {
    const k = KEYWORDS.find((k) => word.startsWith(k) && /^[A-Za-z_]\w*$/.test(word.slice(k.length)));
    return k && `put a space after ${k}: ${k} ${word.slice(k.length)}`;
  };
  if (items.some((x) => x.startsWith('not '))) {
    const start = before.length - (/[A-Za-z_]\w*$/.exec(before)?.[0].length ?? 0);
    const word = /^[A-Za-z_]\w*/.exec(source.slice(start))?.[0] ?? '';
    return new SeqError(where(start, Math.max(1, word.length)), `unknown keyword '${word}'`, glued(word));
  }
  if (token === '(' && items.length === 1 && items[0] === '"["') return error('index by time with brackets, e.g. h[t]');
  // A misspelled keyword: `parm W: [H]` reads as the start of an assignment to `parm`.
  const lineStart = before.lastIndexOf('\n') + 1;
  const first = /^(\s*)([A-Za-z_]\w*)\s*$/.exec(source.slice(lineStart, offset));
  // in a model, `lett l0 = ...` reads as the start of the output's assignment, `lett = ...`
  const inModel = [...before.matchAll(/\b(cell|model)\s+[A-Za-z_]\w*\s*\(/g)].pop()?.[1] === 'model';
  if (first && inModel && items.includes('"="') && /^\s*[A-Za-z_]/.test(rest)) {
    const word = first[2]!;
    const guess = closest(word, MODEL_KEYWORDS);
    if (guess) return new SeqError(where(lineStart + first[1]!.length, word.length), `unknown keyword '${word}'`, `did you mean '${guess}'?`);
    return error(`a model's line starts with ${MODEL_KEYWORDS.join(', ')}, or assigns the output: y = Readout(...)`);
  }
  if (first && !KEYWORDS.includes(first[2]!) && items.includes('"["')) {
    const word = first[2]!;
    const at = where(lineStart + first[1]!.length, word.length);
    // `lett z = ...` is a misspelling; `letz = ...` (no name after the word) a missing space
    const typo = closest(word, STATEMENT_KEYWORDS) && `did you mean '${closest(word, STATEMENT_KEYWORDS)}'?`;
    const guess = /^\s*[A-Za-z_]/.test(rest) ? typo ?? glued(word) : glued(word) ?? typo;
    if (guess) return new SeqError(at, `unknown keyword '${word}'`, guess);
    return error(`a statement starts with ${STATEMENT_KEYWORDS.join(', ')}, or assigns a state: h[t] = ...`);
  }
  if (items.includes('"cell"') && token !== undefined) {
    const guess = /^[A-Za-z_]/.test(token) ? closest(token, ['cell', 'model']) : undefined;
    return error(guess ? `did you mean '${guess}'?` : `a .seq file is a list of cells and models, e.g. \`${CELL_EXAMPLE}\``);
  }
  if (token !== undefined && KEYWORDS.includes(token) && items.includes('an identifier')) {
    return error(`'${token}' is a keyword; choose another name`);
  }
  if (token === ',' && /\bgate\s+[A-Za-z_]\w*\s*$/.test(before)) {
    return error('gate binds one name; to bind several, write let a, b = split(..., 2)');
  }
  if (/\bstate\b[^\n]*=\s*$/.test(before)) return error('a state starts from one number, e.g. state h: [H] = 0');
  if (/\bparam\b[^\n]*=\s*[A-Za-z_]\w*\s*\([^)\n]*$/.test(before)) return error('initializer arguments are plain numbers, e.g. uniform(0.1)');
  if (items.includes('an integer') && token === '-') return error('dimensions are whole numbers >= 1, e.g. [H] or [4*H]');
  if (token === '.' && /\d$/.test(before)) return error('dimensions are whole numbers, e.g. [H] or [4*H]');
  if (items.length === 1 && items[0] === '"->"') return error('name the outputs after ->, e.g. `cell RNN(x: [I]) -> h {`');
  if (token === '{' && /->\s*$/.test(before)) return error('name the outputs after ->, e.g. `-> h`');
  if (token === '=') {
    const previous = before.slice(0, lineStart).trimEnd();
    if (previous.endsWith('=')) {
      return error(`the = at ${position(previous.length - 1)} has nothing after it on its line, so this line was read as its value`);
    }
  }

  const brackets = scanBrackets(source, offset);
  if (token !== undefined && /^[)\]}]$/.test(token)) {
    const upto = scanBrackets(source, offset + 1);
    if (upto.stray?.offset === offset) {
      const opener = { ')': '(', ']': '[', '}': '{' }[token]!;
      return error(`this ${token} has no matching ${opener} before it; remove it or add the ${opener}`);
    }
  }
  const unclosed = [...brackets.open].reverse().find((b) => b.char !== '{');
  const laterLine = unclosed !== undefined && source.slice(unclosed.offset, offset).includes('\n');
  if (unclosed && items.includes(`"${unclosed.char === '(' ? ')' : ']'}"`) && (laterLine || token === undefined || /^[)\]}]$/.test(token))) {
    return error(`the ${unclosed.char} at ${position(unclosed.offset)} is never closed`);
  }
  if (token === undefined) {
    const brace = brackets.open.find((b) => b.char === '{');
    if (brace) {
      const block = [...source.slice(0, brace.offset).matchAll(/\b(cell|model)\s+([A-Za-z_]\w*)/g)].pop();
      return error(`add the } that closes ${block ? `${block[1]} ${block[2]}` : 'the cell'}, opened at ${position(brace.offset)}`, `unexpected end of file: ${generic}`);
    }
  }
  return error();
}

/** The parser ran out of stack: point at the deepest nesting, or else the longest line. */
function tooDeep(source: string, file: string): SeqError {
  let start = scanBrackets(source, source.length).deepest;
  if (start < 0) {
    let longest = 0;
    let offset = 0;
    for (const line of source.split('\n')) {
      if (line.length > longest) {
        longest = line.length;
        start = offset + (line.length - line.trimStart().length);
      }
      offset += line.length + 1;
    }
  }
  return new SeqError({ file, start: Math.max(0, start), end: Math.max(0, start) + 1 }, 'this expression is nested too deeply or is too long to compile', 'break it into steps with let, e.g. let a = ... then use a');
}

function parseOrOverflow<T>(source: string, file: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(source, file);
    throw error;
  }
}

export function parse(source: string, file: string): ProgramNode {
  const binary = source.search(/[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]/);
  if (binary >= 0) {
    const c = source.charCodeAt(binary);
    const what = c === 0xfffd ? 'a byte sequence that is not UTF-8' : `the control byte 0x${c.toString(16).padStart(2, '0')}`;
    throw new SeqError({ file, start: binary, end: binary + 1 }, `this is not a text file: found ${what}`, 'a .seq file is UTF-8 text; check that the right file was given');
  }
  // A byte-order mark reads as a space, so offsets (and so line:column) stay those of the file.
  const text = source.replace(/^\ufeff/, ' ');
  const match = parseOrOverflow(source, file, () => grammar.match(text));
  if (match.failed()) throw syntaxError(text, file, match);
  const tree = parseOrOverflow(source, file, () => makeSemantics(file)(match)['ast']() as ProgramNode);
  return { ...tree, source };
}
