// Strict JSON parsing for Matrix: native JSON.parse for the values plus one fast scan of the raw
// text for what JSON.parse cannot see (floats written as `1.0`, exponents, integers beyond ±(2^53-1),
// lone surrogates, numbers overflowing to Infinity, nesting depth, duplicate keys).
import { isJsonObject, type JsonObject, type JsonValue } from './types.js';

/**
 * `syntax`: the text is not JSON at all (answer M_NOT_JSON).
 * `value`: the text is JSON but not acceptable here (answer M_BAD_JSON).
 */
export type JsonParseErrorKind = 'syntax' | 'value';

export class JsonParseError extends Error {
  readonly kind: JsonParseErrorKind;
  /** UTF-16 offset in the text of the offending token, when known. */
  readonly position: number | undefined;

  constructor(kind: JsonParseErrorKind, message: string, position?: number) {
    super(message);
    this.name = 'JsonParseError';
    this.kind = kind;
    this.position = position;
  }

  /** The Matrix error code a request with this body should be answered with. */
  get errcode(): 'M_NOT_JSON' | 'M_BAD_JSON' {
    return this.kind === 'syntax' ? 'M_NOT_JSON' : 'M_BAD_JSON';
  }
}

export interface ParseJsonOptions {
  /**
   * Enforce the canonical-JSON number grammar (appendices#canonical-json): integers only, no
   * fraction or exponent (so `1.0` and `1e2` are rejected even though they are integer-valued),
   * within [-(2^53)+1, (2^53)-1]. Needed for events in room versions >= 6; versions 1-5 and most
   * client bodies are parsed leniently. Default false.
   */
  strictNumbers?: boolean;
  /** Maximum nesting of arrays/objects. Default 512, the depth the canonical encoder accepts. */
  maxDepth?: number;
  /**
   * What to do when an object repeats a key. The spec is silent; Python's json (Synapse) and
   * JSON.parse both keep the last value, and so do we by default so that a signature computed by
   * them verifies here. `reject` refuses such input (kind `value`).
   */
  duplicateKeys?: 'last' | 'reject';
}

export const DEFAULT_MAX_DEPTH = 512;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_U = 0x75;
const COLON = 0x3a;

/** Decimal digits of 2^53-1; a 16-digit magnitude above this string is out of range. */
const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER);

interface Problem {
  message: string;
  position: number;
}

type WellFormedString = string & { isWellFormed?: () => boolean };
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Finds an unpaired surrogate code unit written raw (not escaped) in the text, or -1. */
function findRawLoneSurrogate(text: string): number {
  const s = text as WellFormedString;
  // isWellFormed is native in Node 20 (V8 11) and far faster than a regex over megabytes.
  if (typeof s.isWellFormed === 'function' && s.isWellFormed()) return -1;
  const m = LONE_SURROGATE_RE.exec(text);
  return m ? m.index : -1;
}

function hexValue(text: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k);
    const d = c <= DIGIT_9 ? c - DIGIT_0 : (c | 0x20) - 0x61 + 10;
    v = (v << 4) | d;
  }
  return v;
}

/**
 * Walks text that JSON.parse has already accepted (so its tokens are well formed) and returns the
 * first thing the options forbid. Strings are skipped with indexOf, which is native speed; only
 * backslash escapes, structural characters and (in strict mode) number tokens are looked at.
 */
function scan(text: string, strictNumbers: boolean, maxDepth: number, rejectDuplicates: boolean): Problem | null {
  const n = text.length;
  let depth = 0;
  // Position of the next backslash at or after the current string position; n when none is left.
  let nextBackslash = -1;
  // Per open container: the keys seen so far (objects) or null (arrays); only with rejectDuplicates.
  const keyStack: (Set<string> | null)[] = [];

  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let p = start;
      let hasEscape = false;
      // Find the closing quote, stepping over escapes and checking \u surrogate escapes.
      for (;;) {
        const q = text.indexOf('"', p);
        // Unreachable for text JSON.parse accepted; guards the loop against an unterminated string.
        if (q === -1) return { message: 'unterminated string', position: start - 1 };
        if (nextBackslash < p) {
          nextBackslash = text.indexOf('\\', p);
          if (nextBackslash === -1) nextBackslash = n;
        }
        if (nextBackslash > q) {
          i = q + 1;
          break;
        }
        hasEscape = true;
        const b = nextBackslash;
        if (text.charCodeAt(b + 1) === LOWER_U) {
          const unit = hexValue(text, b + 2);
          if (unit >= 0xd800 && unit <= 0xdbff) {
            const low =
              text.charCodeAt(b + 6) === BACKSLASH && text.charCodeAt(b + 7) === LOWER_U ? hexValue(text, b + 8) : -1;
            if (!(low >= 0xdc00 && low <= 0xdfff)) {
              return { message: 'lone surrogate escape in string', position: b };
            }
            p = b + 12;
          } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return { message: 'lone surrogate escape in string', position: b };
          } else {
            p = b + 6;
          }
        } else {
          p = b + 2;
        }
      }
      if (rejectDuplicates) {
        const top = keyStack[keyStack.length - 1];
        if (top) {
          // In valid JSON a string inside an object is a key exactly when a colon follows it.
          let k = i;
          while (text.charCodeAt(k) !== COLON && k < n) {
            const w = text.charCodeAt(k);
            if (w !== 0x20 && w !== 0x0a && w !== 0x0d && w !== 0x09) break;
            k++;
          }
          if (text.charCodeAt(k) === COLON) {
            const key = hasEscape ? (JSON.parse(text.slice(start - 1, i)) as string) : text.slice(start, i - 1);
            if (top.has(key)) return { message: `duplicate key ${JSON.stringify(key)} in object`, position: start - 1 };
            top.add(key);
          }
        }
      }
      continue;
    }
    if (c === LBRACE || c === LBRACKET) {
      if (++depth > maxDepth) return { message: `JSON nested deeper than ${maxDepth} levels`, position: i };
      if (rejectDuplicates) keyStack.push(c === LBRACE ? new Set<string>() : null);
      i++;
      continue;
    }
    if (c === RBRACE || c === RBRACKET) {
      depth--;
      if (rejectDuplicates) keyStack.pop();
      i++;
      continue;
    }
    if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      const start = i;
      if (c === MINUS) i++;
      const digitsStart = i;
      let d = text.charCodeAt(i);
      while (d >= DIGIT_0 && d <= DIGIT_9) d = text.charCodeAt(++i);
      const digits = i - digitsStart;
      if (d === DOT || d === LOWER_E || d === UPPER_E) {
        if (strictNumbers) {
          return { message: 'non-integer number (fraction or exponent) is not allowed', position: start };
        }
        // Lenient: fractions and exponents are fine unless the value overflows to Infinity,
        // which no JSON encoder (canonical or not) can write back.
        do d = text.charCodeAt(++i);
        while ((d >= DIGIT_0 && d <= DIGIT_9) || d === DOT || d === LOWER_E || d === UPPER_E || d === PLUS || d === MINUS);
        if (!Number.isFinite(Number(text.slice(start, i)))) {
          return { message: `number ${text.slice(start, i)} is too large`, position: start };
        }
        continue;
      }
      if (strictNumbers) {
        if (digits > MAX_SAFE_DIGITS.length || (digits === MAX_SAFE_DIGITS.length && text.slice(digitsStart, i) > MAX_SAFE_DIGITS)) {
          return { message: `integer ${text.slice(start, i)} is outside ±(2^53-1)`, position: start };
        }
      } else if (digits > 308 && !Number.isFinite(Number(text.slice(start, i)))) {
        return { message: `number ${text.slice(start, i)} is too large`, position: start };
      }
      continue;
    }
    i++;
  }
  return null;
}

/**
 * Parses JSON text. Throws JsonParseError with kind `syntax` if the text is not JSON, and kind
 * `value` if it is JSON the options refuse. Always refused, whatever the options: lone surrogates
 * (escaped or raw), which cannot be encoded as UTF-8, and numbers that overflow to Infinity; a
 * value holding either could never be signed, hashed or even written back as JSON.
 */
export function parseJson(text: string, opts: ParseJsonOptions = {}): JsonValue {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new JsonParseError('syntax', e instanceof Error ? e.message : 'invalid JSON');
  }
  const raw = findRawLoneSurrogate(text);
  if (raw !== -1) throw new JsonParseError('value', 'lone surrogate in string', raw);
  const problem = scan(
    text,
    opts.strictNumbers ?? false,
    opts.maxDepth ?? DEFAULT_MAX_DEPTH,
    opts.duplicateKeys === 'reject',
  );
  if (problem) throw new JsonParseError('value', problem.message, problem.position);
  return value;
}

/** Like parseJson, but the top-level value must be an object (kind `value` otherwise). */
export function parseJsonObject(text: string, opts: ParseJsonOptions = {}): JsonObject {
  const value = parseJson(text, opts);
  if (!isJsonObject(value)) throw new JsonParseError('value', 'JSON body must be an object');
  return value;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses UTF-8 bytes (a request body). Invalid UTF-8 is a `syntax` error: JSON text exchanged
 * between systems must be UTF-8 (RFC 8259 §8.1), and replacing bad bytes would silently change
 * what was signed. A leading byte-order mark is ignored, as RFC 8259 allows.
 */
export function parseJsonBytes(bytes: Uint8Array, opts: ParseJsonOptions = {}): JsonValue {
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch {
    throw new JsonParseError('syntax', 'body is not valid UTF-8');
  }
  return parseJson(text, opts);
}
