/**
 * Malformed `.seq` sources: each must be reported as a SeqError located at the mistake, with
 * a message that names it and, where a likely fix exists, a hint. Never a crash, never silence.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lowerCells } from '../compiler/frontend.js';
import { SeqError } from '../dsl/diagnostics.js';

interface Case {
  readonly name: string;
  readonly source: string;
  readonly line: number;
  readonly col: number;
  /** a substring of the message on the first line */
  readonly message: string;
  /** a substring of the `= hint:` line, where a likely fix exists */
  readonly hint?: string;
}

/** A small valid cell with `body` in place of its step equations. */
const rnn = (body: string): string => `cell R(x: [I]) -> h {
  param W: [H, I] = xavier
  param U: [H, H] = orthogonal
  param b: [H]    = zeros
  state h: [H] = 0
${body}
}
`;
// rnn(...) puts the body on line 6, indented by two spaces.

/** A one-input cell L, then a cell M(x: [I]) -> y with `body` from line 7 on. */
const calls = (body: string): string => `cell L(x: [I]) -> h {
  param W: [H, I + H] = xavier
  state h: [H] = 0
  h[t] = tanh(W @ [x[t], h[t-1]])
}
cell M(x: [I]) -> y {
${body}
}
`;

/** Cells L, Mix (two inputs), Two (two outputs) and Head (reads [2*H]), then model M(x: [I]) -> y with `body` from line 22. */
const layers = (body: string): string => `cell L(x: [I]) -> h {
  param W: [H, I + H] = xavier
  state h: [H] = 0
  h[t] = tanh(W @ [x[t], h[t-1]])
}
cell Mix(x: [I], u: [I]) -> h {
  param W: [H, I] = xavier
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + W @ u[t] + h[t-1])
}
cell Two(x: [I]) -> h, y {
  param W: [H, I] = xavier
  state h: [H] = 0
  h[t] = tanh(W @ x[t] + h[t-1])
  y[t] = h[t]
}
cell Head(x: [2*H]) -> y {
  param W: [K, 2*H] = xavier
  y[t] = W @ x[t]
}
model M(x: [I]) -> y {
${body}
}
`;

const CASES: readonly Case[] = [
  // ---- lexical and syntactic ---------------------------------------------------------
  { name: 'empty file', source: '', line: 1, col: 1, message: 'empty file: expected a cell definition', hint: 'defines at least one cell' },
  { name: 'whitespace only', source: '\n   \n', line: 3, col: 1, message: 'empty file', hint: 'at least one cell' },
  { name: 'only comments', source: '# an RNN, some day\n# not yet\n', line: 3, col: 1, message: 'no cell in this file, only comments', hint: 'at least one cell' },
  { name: 'NUL byte', source: 'cell R(x: [I]) -> h {\0\n}\n', line: 1, col: 22, message: 'not a text file: found the control byte 0x00', hint: 'UTF-8 text' },
  { name: 'random bytes (not UTF-8)', source: 'cell R\n\ufffd\ufffdPNG\u001a', line: 2, col: 1, message: 'not a text file: found a byte sequence that is not UTF-8', hint: 'UTF-8 text' },
  { name: 'random bytes (C1 control)', source: '\u0089PNG\r\n\u001a\n', line: 1, col: 1, message: 'control byte 0x89', hint: 'UTF-8 text' },
  { name: 'keyword typo: cel', source: 'cel R(x: [I]) -> h {\n}\n', line: 1, col: 1, message: 'expected "cell" or "model", found "cel"', hint: "did you mean 'cell'?" },
  { name: 'not a cell at all', source: 'def R(x):\n  return x\n', line: 1, col: 1, message: 'expected "cell" or "model", found "def"', hint: 'a list of cells and models' },
  { name: 'keyword typo: parm', source: 'cell R(x: [I]) -> h {\n  parm W: [H, I] = xavier\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 3, message: "unknown keyword 'parm'", hint: "did you mean 'param'?" },
  { name: 'keyword typo: stat', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  stat h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 3, col: 3, message: "unknown keyword 'stat'", hint: "did you mean 'state'?" },
  { name: 'keyword typo: lett', source: rnn('  lett z = W @ x[t]\n  h[t] = tanh(z)'), line: 6, col: 3, message: "unknown keyword 'lett'", hint: "did you mean 'let'?" },
  { name: 'keyword run into the cell name', source: 'cellR(x: [I]) -> h {\n  state h: [I] = 0\n  h[t] = x[t]\n}\n', line: 1, col: 1, message: "unknown keyword 'cellR'", hint: 'put a space after cell: cell R' },
  { name: 'keyword run into a param name', source: 'cell R(x: [I]) -> h {\n  paramW: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 3, message: "unknown keyword 'paramW'", hint: 'param W' },
  { name: 'keyword run into a let name', source: rnn('  letz = W @ x[t]\n  h[t] = tanh(z)'), line: 6, col: 3, message: "unknown keyword 'letz'", hint: 'let z' },
  { name: 'assignment without a time index', source: rnn('  h = tanh(W @ x[t])'), line: 6, col: 5, message: 'expected "[", found "="', hint: 'assigns a state: h[t] = ...' },
  { name: 'truncated file (no closing brace)', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n', line: 5, col: 1, message: 'unexpected end of file', hint: 'add the } that closes cell R, opened at line 1, column 21' },
  { name: 'unclosed parenthesis', source: rnn('  h[t] = tanh((W @ x[t] + U @ h[t-1])'), line: 7, col: 1, message: 'expected an operator, ")" or ",", found "}"', hint: 'the ( at line 6, column 14 is never closed' },
  { name: 'extra closing parenthesis', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1]))'), line: 6, col: 37, message: 'found ")"', hint: 'this ) has no matching (' },
  { name: 'stray character', source: rnn('  h[t] = W @ x[t] $ U @ h[t-1]'), line: 6, col: 19, message: 'expected an operator, a statement or "}", found "$"', hint: 'is not part of the language' },
  { name: 'semicolon', source: rnn('  h[t] = tanh(W @ x[t]);'), line: 6, col: 24, message: 'found ";"', hint: 'remove the ;' },
  { name: '** power operator', source: rnn('  h[t] = (U @ h[t-1]) ** 2'), line: 6, col: 23, message: "'**' is not an operator", hint: 'pow(x, 2)' },
  { name: '^ power operator', source: rnn('  h[t] = (U @ h[t-1]) ^ 2'), line: 6, col: 23, message: "'^' is not an operator", hint: 'pow(x, 2)' },
  { name: 'comparison', source: rnn('  h[t] = W @ x[t] == 1'), line: 6, col: 19, message: 'found "="', hint: 'comparisons are not part of the language' },
  { name: 'missing ->', source: 'cell R(x: [I]) h {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 1, col: 16, message: 'expected "->", found "h"', hint: 'name the outputs after ->' },
  { name: 'no outputs after ->', source: 'cell R(x: [I]) -> {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 1, col: 19, message: 'expected an identifier, found "{"', hint: 'name the outputs after ->' },
  { name: 'cell without inputs', source: 'cell Clock() -> h {\n  param b: [H]\n  state h: [H] = 0\n  h[t] = h[t-1] + b\n}\n', line: 1, col: 6, message: 'cell Clock has no inputs', hint: 'at least one input sequence' },
  { name: 'input without a shape', source: 'cell R(x) -> h {\n  state h: [H] = 0\n  h[t] = h[t-1]\n}\n', line: 1, col: 9, message: 'expected ":", found ")"' },
  { name: 'keyword used as a name', source: rnn('  let state = W @ x[t]\n  h[t] = state'), line: 6, col: 7, message: 'expected an identifier, found "state"', hint: "'state' is a keyword" },
  { name: 'gate with two names', source: rnn('  gate z, r = split(W @ x[t], 2)\n  h[t] = z'), line: 6, col: 9, message: 'expected "=", found ","', hint: 'gate binds one name' },
  { name: 'state initialized with an initializer', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  state h: [H] = zeros\n  h[t] = W @ x[t]\n}\n', line: 3, col: 18, message: 'found "zeros"', hint: 'a state starts from one number' },
  { name: 'initializer argument is an expression', source: 'cell R(x: [I]) -> h {\n  param W: [H, I] = uniform(1/3)\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 30, message: 'found "/"', hint: 'initializer arguments are plain numbers' },
  { name: 'call syntax for a time index', source: rnn('  h(t) = W @ x[t]'), line: 6, col: 4, message: 'expected "[", found "("', hint: 'h[t]' },
  { name: 'let with nothing after =', source: rnn('  let z =\n  h[t] = W @ x[t]'), line: 7, col: 8, message: 'found "="', hint: 'the = at line 6, column 9 has nothing after it' },
  { name: 'number too large for f32', source: rnn('  h[t] = 1e39 * (W @ x[t])'), line: 6, col: 10, message: 'the number 1e39 is too large', hint: '32-bit floats' },
  { name: 'nesting too deep', source: rnn(`  h[t] = ${'('.repeat(2000)}W @ x[t]${')'.repeat(2000)}`), line: 6, col: 2015, message: 'nested too deeply', hint: 'break it into steps with let' },
  { name: 'expression too long', source: rnn(`  h[t] = W @ x[t]${' + h[t-1]'.repeat(3000)}`), line: 6, col: 3, message: 'too long to compile', hint: 'break it into steps with let' },

  // ---- sizes and shapes ---------------------------------------------------------------
  { name: 'input encoding typo: onehat', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1] + b)').replace('x: [I]', 'x: onehat[I]'), line: 1, col: 11, message: "unknown input encoding 'onehat'", hint: "did you mean 'onehot'?" },
  { name: 'input encoding that does not exist', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1] + b)').replace('x: [I]', 'x: int[I]'), line: 1, col: 11, message: "unknown input encoding 'int'", hint: 'x: onehot[V] (one id in [0, V) per step)' },
  { name: 'onehot input with two dimensions', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1] + b)').replace('x: [I]', 'x: onehot[I, H]'), line: 1, col: 17, message: 'a onehot input is one id per step, a vector of one dimension; got 2', hint: 'write x: onehot[V]' },
  { name: 'embedding with the wrong vocabulary', source: 'cell E(x: onehot[V]) -> h {\n  param Emb: [H, I] = normal(0.1)\n  state h: [H] = 0\n  h[t] = tanh(Emb @ x[t] + h[t-1])\n}\n', line: 4, col: 15, message: 'shape mismatch in Emb @ x[t]: expected a vector of I elements to match [H, I], got [V]', hint: 'give it shape [H, V]' },
  { name: 'size declared but unused', source: 'cell R(x: [I]) -> h {\n  size K = 8\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 8, message: 'size K is declared but no shape uses it', hint: 'remove it' },
  { name: 'size declared twice', source: 'cell R(x: [I]) -> h {\n  size H = 8\n  size H = 16\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 3, col: 8, message: 'size H is declared twice (first on line 2)', hint: 'once' },
  { name: 'size zero', source: 'cell R(x: [I]) -> h {\n  size H = 0\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 12, message: 'size H must be a whole number >= 1, got 0', hint: 'size H = 64' },
  { name: 'size negative', source: 'cell R(x: [I]) -> h {\n  size H = -4\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 12, message: 'size H must be a whole number >= 1, got -4' },
  { name: 'size fractional', source: 'cell R(x: [I]) -> h {\n  size H = 2.5\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 12, message: 'got 2.5' },
  { name: 'size named t', source: 'cell R(x: [I]) -> h {\n  param W: [t, I]\n  state h: [t] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 13, message: "'t' is the time index and cannot be a size", hint: 'e.g. T' },
  { name: 'zero dimension', source: 'cell R(x: [I]) -> h {\n  param W: [0, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 13, message: 'a dimension must be at least 1, got 0' },
  { name: 'dimension that cancels to zero', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  param b: [H - H]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 3, col: 13, message: 'a dimension must be at least 1, got 0' },
  { name: 'negative symbolic dimension', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  param b: [H - 2*H]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 3, col: 13, message: 'but -H is never positive', hint: 'signs' },
  { name: 'negative literal dimension', source: 'cell R(x: [I]) -> h {\n  param W: [-3, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 13, message: 'found "-"', hint: 'dimensions are whole numbers >= 1' },
  { name: 'fractional dimension', source: 'cell R(x: [I]) -> h {\n  param W: [2.5, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 14, message: 'found "."', hint: 'dimensions are whole numbers' },
  { name: 'dimension too large', source: 'cell R(x: [I]) -> h {\n  param W: [4294967296, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 13, message: 'dimension 4294967296 is too large' },
  { name: '3-d shape', source: 'cell R(x: [I]) -> h {\n  param W: [H, I, 2]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 12, message: 'shapes have one or two dimensions, got 3' },
  { name: 'empty shape', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  state h: [] = 0\n  h[t] = W @ x[t]\n}\n', line: 3, col: 12, message: 'a shape needs at least one dimension', hint: '[H]' },
  { name: 'shape mismatch in +', source: 'cell LSTMish(x: [I]) -> h {\n  param W: [4*H, I]\n  param U: [3*H, H]\n  state h: [H] = 0\n  let z = W @ x[t] + U @ h[t-1]\n  h[t] = z\n}\n', line: 5, col: 11, message: 'shape mismatch: W @ x[t] is [4*H] but U @ h[t-1] is [3*H]', hint: 'same shape' },
  { name: 'matmul with the wrong inner dimension', source: rnn('  h[t] = U @ x[t]'), line: 6, col: 10, message: 'shape mismatch in U @ x[t]: expected a vector of H elements to match [H, H], got [I]', hint: 'U has H columns' },
  { name: 'matmul with a per-example left operand', source: rnn('  h[t] = h[t-1] @ x[t]'), line: 6, col: 10, message: 'the left operand of @ to be a matrix [rows, cols], got [H]', hint: 'sum(a * b)' },
  { name: 'state update of the wrong shape', source: 'cell R(x: [I]) -> h {\n  param W: [2*H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 4, col: 10, message: 'state h is [H] but W @ x[t] is [2*H]', hint: 'the shape declared at `state h`' },
  { name: 'binary function arguments differ', source: rnn('  h[t] = max(U @ h[t-1], x[t])'), line: 6, col: 10, message: 'shape mismatch in max(U @ h[t-1], x[t]): shapes [H] and [I] differ', hint: 'same shape' },
  { name: 'concatenating a matrix', source: rnn('  h[t] = U @ [W, x[t]]'), line: 6, col: 14, message: 'expected vectors to concatenate, got [H, I], [I]', hint: 'joins vectors' },
  { name: 'softmax of a matrix', source: rnn('  h[t] = softmax(W) + b'), line: 6, col: 18, message: 'softmax expects a vector, got [H, I]' },
  { name: 'conv2d kernel for the wrong channels', source: 'cell CL(x: [C*Y*X]) -> h {\n  param W: [M, M*3*3]\n  state h: [M*Y*X] = 0\n  h[t] = tanh(conv2d(W, x[t], Y, X))\n}\n', line: 4, col: 15, message: 'conv2d(W, x[t], Y, X): expected a kernel of C*K*K columns for the C input channels, K odd (e.g. [M, C*3*3]), got [M, 9*M]', hint: 'a map of c channels over the Y x X grid' },
  { name: 'conv2d kernel of even size', source: 'cell CL(x: [C*Y*X]) -> h {\n  param W: [M, C*2*2]\n  state h: [M*Y*X] = 0\n  h[t] = tanh(conv2d(W, x[t], Y, X))\n}\n', line: 4, col: 15, message: 'expected a kernel of C*K*K columns for the C input channels, K odd', hint: 'for an odd K' },
  { name: 'conv2d over a map that is not whole channels', source: 'cell CL(x: [C*Y]) -> h {\n  param W: [M, C*3*3]\n  state h: [M*Y*X] = 0\n  h[t] = tanh(conv2d(W, x[t], Y, X))\n}\n', line: 4, col: 15, message: 'expected an input map of whole channels of Y x X pixels, [channels*Y*X], got [C*Y]', hint: 'is a vector [c*Y*X]' },
  { name: 'conv2d height that is not a size', source: 'cell CL(x: [C*Y*X]) -> h {\n  param W: [M, C*3*3]\n  state h: [M*Y*X] = 0\n  h[t] = tanh(conv2d(W, x[t], h[t-1], X))\n}\n', line: 4, col: 31, message: 'the height of a conv2d map is a size, a whole number or a product of them, got h[t-1]', hint: 'name a size' },
  { name: 'repeat of a matrix', source: rnn('  h[t] = tanh(W @ x[t] + repeat(U, 1))'), line: 6, col: 33, message: 'repeat expects a vector, got [H, H]', hint: 'broadcasts over any vector' },
  { name: 'split not divisible', source: 'cell R(x: [I]) -> h {\n  param W: [H, I]\n  state h: [H] = 0\n  let a, b = split(W @ x[t], 2)\n  h[t] = a\n}\n', line: 4, col: 20, message: 'cannot split [H] into 2 equal parts', hint: 'multiple of 2' },
  { name: 'split arity mismatch', source: 'cell R(x: [I]) -> h {\n  param W: [4*H, I]\n  state h: [H] = 0\n  let i, f, o = split(W @ x[t], 4)\n  h[t] = i\n}\n', line: 4, col: 33, message: 'split into 4 parts, but 3 names are bound', hint: 'split(..., 3)' },
  { name: 'split outside let', source: rnn('  h[t] = split(W @ x[t], 2)'), line: 6, col: 10, message: 'split gives several values; bind them with let', hint: 'let a, b = split' },
  { name: 'several names without split', source: rnn('  let a, c = W @ x[t]\n  h[t] = a'), line: 6, col: 14, message: 'only split(...) gives several values', hint: 'split(..., 2)' },
  { name: 'split into a computed number of parts', source: rnn('  let a, c = split(W @ x[t], b)\n  h[t] = a'), line: 6, col: 30, message: 'split takes a whole number of parts' },

  // ---- names ----------------------------------------------------------------------------
  { name: 'function typo: sigmod', source: rnn('  h[t] = sigmod(W @ x[t] + U @ h[t-1] + b)'), line: 6, col: 10, message: "unknown function 'sigmod'", hint: "did you mean 'sigmoid'?" },
  { name: 'function typo: tahn', source: rnn('  h[t] = tahn(W @ x[t])'), line: 6, col: 10, message: "unknown function 'tahn'", hint: "did you mean 'tanh'?" },
  { name: 'unknown name', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1] + bb)'), line: 6, col: 39, message: "unknown name 'bb'", hint: "did you mean 'b'?" },
  { name: 'unknown name, nothing close', source: rnn('  h[t] = tanh(W @ x[t] + zzzzzz)'), line: 6, col: 26, message: "unknown name 'zzzzzz'", hint: 'declare it with param, state or let' },
  { name: 'unknown indexed name', source: rnn('  h[t] = tanh(W @ x[t] + U @ hh[t-1])'), line: 6, col: 30, message: "unknown name 'hh'", hint: "did you mean 'h'?" },
  { name: 'a state called like a function', source: rnn('  h[t] = tanh(U @ h(t-1))'), line: 6, col: 19, message: 'h is not a function', hint: 'h[t-1]' },
  { name: 'wrong number of arguments', source: rnn('  h[t] = tanh(W @ x[t], U @ h[t-1])'), line: 6, col: 10, message: 'tanh takes 1 argument, got 2', hint: 'tanh(v)' },
  { name: 'duplicate let', source: rnn('  let z = W @ x[t]\n  let z = U @ h[t-1]\n  h[t] = z'), line: 7, col: 7, message: 'z is already defined on line 6', hint: 'defined once' },
  { name: 'duplicate param', source: rnn('  param W: [H, H]\n  h[t] = W @ h[t-1]'), line: 6, col: 9, message: 'W is already defined on line 2' },
  { name: 'duplicate input', source: 'cell R(x: [I], x: [I]) -> h {\n  state h: [I] = 0\n  h[t] = x[t]\n}\n', line: 1, col: 16, message: 'x is already defined on line 1' },
  { name: 'duplicate cell', source: 'cell R(x: [I]) -> h {\n  state h: [I] = 0\n  h[t] = x[t]\n}\ncell R(x: [I]) -> h {\n  state h: [I] = 0\n  h[t] = x[t]\n}\n', line: 5, col: 6, message: 'cell R is defined twice' },
  { name: 'redefining a builtin', source: rnn('  let tanh = W @ x[t]\n  h[t] = tanh'), line: 6, col: 7, message: "'tanh' is a built-in function and cannot be redefined", hint: 'choose another name' },
  { name: 'redefining t', source: rnn('  let t = W @ x[t]\n  h[t] = t'), line: 6, col: 7, message: "'t' is the time index and cannot be redefined" },
  { name: 'unknown initializer', source: 'cell R(x: [I]) -> h {\n  param W: [H, I] = xavir\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 21, message: "unknown initializer 'xavir'", hint: "did you mean 'xavier'?" },
  { name: 'initializer missing its argument', source: 'cell R(x: [I]) -> h {\n  param W: [H, I] = normal\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 21, message: 'normal takes 1 argument, got 0', hint: 'normal(std)' },
  { name: 'initializer with an extra argument', source: 'cell R(x: [I]) -> h {\n  param W: [H, I] = xavier(2)\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 21, message: 'xavier takes 0 arguments, got 1', hint: 'write xavier' },
  { name: 'negative initializer scale', source: 'cell R(x: [I]) -> h {\n  param W: [H, I] = normal(-0.1)\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 2, col: 21, message: 'normal(std) needs std >= 0, got -0.1', hint: 'normal(0.1)' },

  // ---- time indices -----------------------------------------------------------------------
  { name: 'h[t+1] reads the future', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t+1])'), line: 6, col: 32, message: 'h[t+1] reads a step that has not been computed yet', hint: 'h[t-1]' },
  { name: 'h[2]: an absolute step', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[2])'), line: 6, col: 32, message: 'time index of state h must be t or t-k with a whole number k >= 1', hint: 'h[t-1]' },
  { name: 'h[t-0] is not a spelling of h[t]', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-0])'), line: 6, col: 32, message: 'must be t or t-k with a whole number k >= 1', hint: 'write h[t] for the value at this step' },
  { name: 'h[t-1.5]: a fractional lag', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1.5])'), line: 6, col: 32, message: 'whole number k >= 1' },
  { name: 'h[t-k]: a symbolic lag', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-H])'), line: 6, col: 32, message: 'whole number k >= 1' },
  { name: 'lag beyond 64 steps', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-65])'), line: 6, col: 32, message: 'h[t-65] reaches back more than 64 steps' },
  { name: 'input read at x[t-1]', source: rnn('  h[t] = tanh(W @ x[t-1] + U @ h[t-1])'), line: 6, col: 21, message: 'input x is read at the current step only', hint: 'x[t]' },
  { name: 'param indexed by time', source: rnn('  h[t] = tanh(W[t] @ x[t] + U @ h[t-1])'), line: 6, col: 15, message: 'W does not vary over time and takes no time index', hint: 'write W' },
  { name: 'let indexed by time', source: rnn('  gate z = sigmoid(W @ x[t])\n  h[t] = z[t] * h[t-1]'), line: 7, col: 10, message: 'z does not vary over time' },
  { name: 'state without a time index', source: rnn('  h[t] = tanh(W @ x[t] + U @ h)'), line: 6, col: 30, message: 'h varies over time and needs a time index', hint: 'h[t-1]' },
  { name: 'input without a time index', source: rnn('  h[t] = tanh(W @ x + U @ h[t-1])'), line: 6, col: 19, message: 'x varies over time and needs a time index', hint: 'x[t]' },
  { name: 't outside an index', source: rnn('  h[t] = tanh(W @ x[t] + U @ h[t-1]) * t'), line: 6, col: 40, message: "'t' is the time index and only appears inside [...]" },
  { name: 'readout read at y[t-1]', source: 'cell R(x: [I]) -> h, y {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = tanh(W @ x[t]) + y[t-1]\n  y[t] = 2 * h[t]\n}\n', line: 4, col: 29, message: 'y is an output, not a state, so only y[t] can be read', hint: 'state y' },
  { name: 'assignment at t-1', source: rnn('  h[t-1] = W @ x[t]'), line: 6, col: 5, message: 'a step assigns h[t], the value at the current step', hint: 'h[t] = ...' },

  // ---- states, outputs, assignments ---------------------------------------------------------
  { name: 'state never assigned', source: rnn('  state c: [H] = 0\n  h[t] = tanh(W @ x[t] + U @ h[t-1])'), line: 6, col: 9, message: 'state c is never assigned', hint: 'c[t] = ...' },
  { name: 'state assigned twice', source: rnn('  h[t] = tanh(W @ x[t])\n  h[t] = tanh(U @ h[t-1])'), line: 7, col: 3, message: 'h[t] is assigned twice (first on line 6)', hint: 'combine' },
  { name: 'assignment to an undeclared name', source: rnn('  h[t] = tanh(W @ x[t])\n  hh[t] = h[t]'), line: 7, col: 3, message: 'hh is neither a state nor an output of the cell', hint: "did you mean 'h'?" },
  { name: 'assignment to an input', source: rnn('  x[t] = U @ h[t-1]\n  h[t] = h[t-1]'), line: 6, col: 3, message: 'x is an input: its values are given, not assigned' },
  { name: 'assignment to a let', source: rnn('  let z = W @ x[t]\n  z[t] = z\n  h[t] = z'), line: 7, col: 3, message: 'z is defined by let, so z[t] cannot be assigned', hint: 'drop the let' },
  { name: 'output that is neither state nor readout', source: 'cell R(x: [I]) -> h, y {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 1, col: 22, message: 'output y is neither a state nor assigned as y[t]', hint: 'y[t] = ...' },
  { name: 'output that is a param', source: 'cell R(x: [I]) -> h, W {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 1, col: 22, message: 'output W is a param', hint: 'an output is a state' },
  { name: 'output listed twice', source: 'cell R(x: [I]) -> h, h {\n  param W: [H, I]\n  state h: [H] = 0\n  h[t] = W @ x[t]\n}\n', line: 1, col: 22, message: 'output h is listed twice', hint: 'once' },
  { name: 'cycle between lets', source: rnn('  let a = c\n  let c = a\n  h[t] = a + W @ x[t]'), line: 6, col: 3, message: 'a depends on itself within one step: a -> c -> a', hint: 'make it a state' },
  { name: 'cycle between states at t', source: rnn('  state c: [H] = 0\n  c[t] = h[t] + W @ x[t]\n  h[t] = tanh(c[t])'), line: 7, col: 3, message: 'c[t] depends on itself within one step: c[t] -> h[t] -> c[t]', hint: 'c[t-1]' },
  { name: 'state reads itself at t', source: rnn('  h[t] = tanh(W @ x[t] + h[t])'), line: 6, col: 3, message: 'h[t] depends on itself within one step: h[t] -> h[t]', hint: 'h[t-1]' },

  // ---- dropout ------------------------------------------------------------------------
  { name: 'dropout probability is a name', source: rnn('  h[t] = tanh(W @ dropout(x[t], q) + U @ h[t-1] + b)'), line: 6, col: 33, message: 'the probability of dropout must be a number written in place', hint: 'dropout(v, 0.25)' },
  { name: 'dropout probability of 1', source: rnn('  h[t] = tanh(W @ dropout(x[t], 1) + b)'), line: 6, col: 33, message: 'dropout drops each element with probability p, 0 <= p < 1; got 1', hint: 'would drop everything' },
  { name: 'dropout probability that rounds to 1 in f32', source: rnn('  h[t] = tanh(W @ dropout(x[t], 0.99999999) + b)'), line: 6, col: 33, message: 'got 0.99999999', hint: 'would drop everything' },
  { name: 'recurrent dropout probability negative', source: rnn('  h[t] = tanh(W @ x[t] + U @ recurrent_dropout(h[t-1], -0.1) + b)'), line: 6, col: 56, message: 'recurrent_dropout drops each element with probability p, 0 <= p < 1; got -0.1', hint: 'recurrent_dropout(h[t-1], 0.25)' },
  { name: 'dropout of a matrix', source: rnn('  h[t] = tanh(W @ x[t] + dropout(U, 0.5) @ h[t-1] + b)'), line: 6, col: 34, message: 'dropout expects a vector, got [H, H]', hint: 'apply dropout to a vector' },
  { name: 'dropout without a probability', source: rnn('  h[t] = tanh(W @ dropout(x[t]) + b)'), line: 6, col: 19, message: 'dropout takes 2 arguments, got 1', hint: 'write dropout(v, 0.25)' },

  // ---- cell calls and stacks --------------------------------------------------------
  { name: 'stack of no layers', source: calls('  y[t] = stack(0, L)(x[t])'), line: 7, col: 16, message: 'the number of layers of a stack is a whole number of at least 1', hint: 'stack(2, LSTM)(x[t])' },
  { name: 'stack of an unknown cell', source: calls('  y[t] = stack(2, Quux)(x[t])'), line: 7, col: 19, message: "stack's second argument must name a cell defined above; 'Quux' is not one", hint: 'cells defined above: L' },
  { name: 'stack of a misspelt cell', source: calls('  y[t] = stack(2, LL)(x[t])'), line: 7, col: 19, message: "'LL' is not one", hint: "did you mean 'L'?" },
  { name: 'unknown combinator', source: calls('  y[t] = stak(2, L)(x[t])'), line: 7, col: 10, message: "unknown combinator 'stak'", hint: "did you mean 'stack'?" },
  { name: 'cell call with two arguments for one input', source: calls('  y[t] = L(x[t], x[t])'), line: 7, col: 10, message: 'L takes 1 argument (one per input), got 2', hint: 'write L(x[t])' },
  { name: 'two cell calls in one definition', source: calls('  y[t] = L(x[t]) + L(x[t])'), line: 7, col: 20, message: 'a definition calls a cell once', hint: 'let h1 = LSTM(x[t])' },
  { name: 'cell calls itself', source: calls('  y[t] = M(x[t])'), line: 7, col: 10, message: 'M calls itself', hint: 'a cell cannot call itself' },
  { name: 'cell call of a later cell', source: 'cell M(x: [I]) -> y {\n  y[t] = L(x[t])\n}\n' + calls('').split('cell M')[0], line: 2, col: 10, message: "unknown function 'L'", hint: 'a cell defined above this one can be called' },
  // ---- models ----------------------------------------------------------------------------
  { name: 'model: unknown cell', source: layers('  let a = bidirectional(LTSM)(x)\n  y = Head(a)'), line: 22, col: 25, message: "unknown cell 'LTSM'", hint: 'cells in this file: L, Mix, Two, Head' },
  { name: 'model: misspelt cell', source: layers('  let a = bidirectional(L)(x)\n  y = Haed(a)'), line: 23, col: 7, message: "unknown cell 'Haed'", hint: "did you mean 'Head'?" },
  { name: 'model: shape mismatch between layers', source: layers('  let a = L(x)\n  y = Head(a)'), line: 23, col: 7, message: "shape mismatch: Head's input x is [2*H] but a is [H] per step", hint: "declare Head's input as x: [I]" },
  { name: 'model: bidirectional of a cell with two inputs', source: layers('  let a = bidirectional(Mix)(x)\n  y = Head(a)'), line: 22, col: 25, message: 'bidirectional(Mix) runs one cell in both directions, with one input (the layer below) and one output (what the layer above reads), but Mix has 2 inputs', hint: 'give the cell one input' },
  { name: 'model: bidirectional of a cell with two outputs', source: layers('  let a = bidirectional(Two)(x)\n  y = Head(a)'), line: 22, col: 25, message: 'but Two has 2 outputs', hint: 'list one output after -> in cell Two' },
  { name: 'model: a layer of a cell with two inputs', source: layers('  let a = Mix(x)\n  y = Head(a)'), line: 22, col: 11, message: 'a layer runs one cell, with one input', hint: 'give the cell one input' },
  { name: 'model: ids into a cell of vectors', source: layers('  let a = bidirectional(L)(x)\n  y = Head(a)').replace('model M(x: [I])', 'model M(x: onehot[I])'), line: 22, col: 11, message: "L's input x is [I] per step, but x is one id per step (onehot[I])", hint: 'give L an input x: onehot[V]' },
  { name: 'model: a layer read twice', source: layers('  let a = bidirectional(L)(x)\n  let b = bidirectional(L)(a)\n  y = Head(a)'), line: 24, col: 12, message: 'a is read by two layers (first on line 23)', hint: 'combine them inside a cell' },
  { name: 'model: layers off the chain', source: layers('  let a = bidirectional(L)(x)\n  y = Head(a)\n  let b = L(c)\n  let c = L(b)'), line: 24, col: 7, message: 'b is not on the chain of layers from x to y', hint: 'each layer reads the one below it' },
  { name: 'model: a time index', source: layers('  let a = bidirectional(L)(x[t])\n  y = Head(a)'), line: 22, col: 28, message: "a model's values are whole sequences, so x takes no time index", hint: 'write x' },
  { name: 'model: unknown name', source: layers('  let a = bidirectional(L)(xx)\n  y = Head(a)'), line: 22, col: 28, message: "unknown name 'xx'", hint: "did you mean 'x'?" },
  { name: 'model: a function as a layer', source: layers('  let a = bidirectional(L)(x)\n  y = tanh(a)'), line: 23, col: 7, message: 'tanh is a function of the values of one step, not a layer', hint: 'apply tanh inside a cell' },
  { name: 'model: bidirectional head', source: layers('  y = bidirectional(L)(x)'), line: 22, col: 7, message: "the output y is the model's head, which runs forward", hint: 'put a readout cell on top' },
  { name: 'model: output never assigned', source: layers('  let a = bidirectional(L)(x)'), line: 21, col: 20, message: 'output y is never assigned', hint: 'y = Readout(...)' },
  { name: 'model: unknown loss', source: layers('  let a = bidirectional(L)(x)\n  y = Head(a)\n  loss softmax-xe(y)'), line: 24, col: 8, message: "unknown loss 'softmax-xe'", hint: "did you mean 'softmax-ce'?" },
  { name: 'model: keyword typo lett', source: layers('  lett a = bidirectional(L)(x)\n  y = Head(a)'), line: 22, col: 3, message: "unknown keyword 'lett'", hint: "did you mean 'let'?" },
  { name: 'model: a size no layer has', source: layers('  size Q = 3\n  let a = bidirectional(L)(x)\n  y = Head(a)'), line: 22, col: 8, message: 'size Q is declared but no layer of the model has it free', hint: "the model's sizes are I, H, K" },
  { name: 'model: two inputs', source: layers('  y = Head(x)').replace('model M(x: [I])', 'model M(x: [I], u: [I])'), line: 21, col: 17, message: 'a model reads one input sequence, but M has 2', hint: 'combine several inputs inside a cell' },
  { name: 'model: bidirectional in a cell', source: calls('  y[t] = bidirectional(L)(x[t])'), line: 7, col: 10, message: 'bidirectional(...) runs a cell over whole sequences, so it is a layer of a model', hint: 'write it in a model' },
  { name: 'cell call with a wrong argument shape', source: calls('  param A: [K, K] = xavier\n  y[t] = L(A)'), line: 8, col: 10, message: "shape mismatch: L's input x is [I] but the argument is [K, K]", hint: 'pass a vector of [I]' },
];

function report(source: string): SeqError {
  try {
    lowerCells(source, 'bad.seq');
  } catch (error) {
    if (error instanceof SeqError) return error;
    throw new Error(`expected a SeqError, got ${String(error)}`);
  }
  throw new Error('expected an error, but the source was accepted');
}

const formatted = new Map<string, string>();

/** Every claim a case makes about the report; throws when one does not hold. */
function expectReport(c: Case): void {
  const text = formatted.get(c.source) ?? report(c.source).format(c.source);
  formatted.set(c.source, text);
  const [header = '', blank = '', shown = '', caret = '', ...rest] = text.split('\n');
  expect(header.startsWith(`bad.seq:${c.line}:${c.col}: error: `), `header: ${header}`).toBe(true);
  expect(header).toContain(c.message);
  expect(blank).toMatch(/^\s+\|$/);
  expect(shown).toMatch(new RegExp(`^${c.line} \\| `));
  expect(caret).toMatch(/^\s+\| [\s]*\^+$/);
  // the caret sits under the column (short lines without tabs are shown whole)
  const lineText = c.source.split('\n')[c.line - 1]!;
  if (lineText.length <= 100 && !lineText.includes('\t')) {
    expect(caret.indexOf('^') - caret.indexOf('|') - 2, 'caret column').toBe(c.col - 1);
  }
  if (c.hint !== undefined) {
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatch(/^\s+= hint: /);
    expect(rest[0]).toContain(c.hint);
  }
}

describe('malformed sources', () => {
  it('has at least 40 cases, each named once', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)('$name', (c) => {
    expectReport(c);
  });

  // A case that cannot fail proves nothing: a wrong line, column, message or hint must fail it.
  it.each(CASES)('$name: a wrong expectation fails', (c) => {
    expect(() => expectReport({ ...c, col: c.col + 1 })).toThrow();
    expect(() => expectReport({ ...c, line: c.line + 1 })).toThrow();
    expect(() => expectReport({ ...c, message: `${c.message} (not this)` })).toThrow();
    if (c.hint !== undefined) expect(() => expectReport({ ...c, hint: `${c.hint} (not this)` })).toThrow();
  });
});

// ---- the real command line ----------------------------------------------------------------

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'seqc-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function seqc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/seqc.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

interface CliCase {
  readonly name: string;
  /** file name and content, or none for commands that take no file */
  readonly file?: { readonly name: string; readonly content: string | Uint8Array };
  readonly args: (path: string) => string[];
  /** what stderr must contain; PATH is replaced by the file's path */
  readonly expect: readonly string[];
}

const UNBOUND = 'cell R(x: [I]) -> h {\n  param W: [H, I] = xavier\n  param U: [H, H] = orthogonal\n  state h: [H] = 0\n  h[t] = tanh(W @ x[t] + U @ h[t-1])\n}\n';

const CLI_CASES: readonly CliCase[] = [
  { name: 'empty file', file: { name: 'empty.seq', content: '' }, args: (p) => ['check', p], expect: ['PATH:1:1: error: empty file', '= hint:'] },
  {
    name: 'binary garbage',
    file: { name: 'garbage.seq', content: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe]) },
    args: (p) => ['check', p],
    expect: ['PATH:1:1: error: this is not a text file'],
  },
  {
    name: 'shape mismatch',
    file: { name: 'shapes.seq', content: 'cell R(x: [I]) -> h {\n  param W: [4*H, I]\n  param U: [3*H, H]\n  state h: [H] = 0\n  h[t] = W @ x[t] + U @ h[t-1]\n}\n' },
    args: (p) => ['check', p],
    expect: ['PATH:5:10: error: shape mismatch: W @ x[t] is [4*H] but U @ h[t-1] is [3*H]', '^^^'],
  },
  {
    name: 'function typo',
    file: { name: 'typo.seq', content: UNBOUND.replace('tanh', 'tnah') },
    args: (p) => ['check', p],
    expect: ["PATH:5:10: error: unknown function 'tnah'", "did you mean 'tanh'?"],
  },
  {
    name: 'truncated file',
    file: { name: 'truncated.seq', content: UNBOUND.slice(0, -2) },
    args: (p) => ['ir', p],
    expect: ['PATH:6:1: error: unexpected end of file', 'add the } that closes cell R'],
  },
  {
    name: 'unbound size with run (before any GPU work)',
    file: { name: 'unbound.seq', content: UNBOUND },
    args: (p) => ['run', p],
    expect: ['PATH:1:12: error: size I is never given a value', '--size I=<n>'],
  },
  {
    name: 'unbound size with run, one size given',
    file: { name: 'unbound2.seq', content: UNBOUND },
    args: (p) => ['run', p, '--size', 'I=8'],
    expect: ['PATH:2:13: error: size H is never given a value', '--size H=<n>'],
  },
  { name: 'missing file', args: () => ['check', join(dir, 'no-such-file.seq')], expect: [`seqc: error: ${join(dir, 'no-such-file.seq')}: no such file`] },
  { name: 'a directory instead of a file', args: () => ['check', dir], expect: ['seqc: error:', 'is a directory'] },
  { name: 'no file given', args: () => ['check'], expect: ['seqc: error: no input file'] },
  { name: 'unknown command', args: () => ['chekc', 'x.seq'], expect: ["seqc: error: unknown command 'chekc'", 'usage: seqc'] },
  {
    name: 'a --size for a size the cell does not have',
    file: { name: 'unbound3.seq', content: UNBOUND },
    args: (p) => ['run', p, '--size', 'Q=3'],
    expect: ['seqc: error: --size Q: cell R has no size Q'],
  },
];

describe('seqc on malformed input', () => {
  it.each(CLI_CASES)('$name', (c) => {
    const path = c.file ? write(c.file.name, c.file.content) : '';
    const r = seqc(...c.args(path));
    expect(r.status, r.stderr).toBe(1);
    for (const e of c.expect) expect(r.stderr).toContain(e.replaceAll('PATH', path));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain('internal error');
  });
});

describe('seqc writing into a pipe its reader closes early', () => {
  it('stops quietly: `seqc wgsl ... | head -c 100` prints no error', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" bin/seqc.js wgsl examples/gru.seq | head -c 100 > /dev/null`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });
});
