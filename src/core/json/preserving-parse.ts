// A JSON parser that keeps what JSON.parse forgets about numbers: whether a number was written as a
// float ("2.0", "1e5": a PythonFloat) and the exact digits of integers beyond ±(2^53-1) (a bigint).
// Synapse signs and hashes what Python's json module parsed, where those are a float and an exact
// int, so checking a signature or hash over a v1-v5 event or a request body that holds such a
// number needs them. Only used on that path, after the fast parse has accepted the text.
import { PythonFloat } from './canonical.js';
import { JsonParseError } from './parse.js';

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const STRING_RE = /"(?:[^"\\]|\\.)*"/y;
const MAX_DEPTH = 512;

/** True when `text` may hold a number JSON.parse reads differently from Python (cheap pre-check). */
export function mayHoldPythonOnlyNumbers(text: string): boolean {
  return /[0-9][.eE]|[0-9]{16}/.test(text);
}

/**
 * Parses JSON like JSON.parse (the last of repeated keys wins), except that numbers with a fraction
 * or exponent become PythonFloat and integers outside ±(2^53-1) become bigint. Throws JsonParseError
 * on text that is not JSON.
 */
export function parseJsonPreservingNumbers(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonParseError('syntax', `${what} at position ${i}`, i);
  };
  const skipSpace = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const string = (): string => {
    STRING_RE.lastIndex = i;
    const m = STRING_RE.exec(text);
    if (!m) return fail('expected a string');
    i += m[0].length;
    try {
      return JSON.parse(m[0]) as string; // decodes escapes, refuses raw control characters
    } catch {
      return fail('invalid string');
    }
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    skipSpace();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      skipSpace();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skipSpace();
        const key = string();
        skipSpace();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        // defineProperty: a key named "__proto__" is data, not the prototype.
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] !== '}') fail('expected "," or "}"');
        i++;
        return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skipSpace();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        skipSpace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] !== ']') fail('expected "," or "]"');
        i++;
        return arr;
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('unexpected character');
    i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new PythonFloat(Number(m[0]));
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const out = value(0);
  skipSpace();
  if (i !== text.length) fail('unexpected text after the value');
  return out;
}
