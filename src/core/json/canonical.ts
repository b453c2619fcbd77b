// Canonical JSON (spec appendix "Canonical JSON"): keys sorted by Unicode code point, no
// insignificant whitespace, shortest escapes (\" \\ \b \f \n \r \t, other controls as lowercase
// \u00XX, everything else raw UTF-8), integers only within ±(2^53-1).
//
// Room versions 1-5 predate that integer rule, and their events on the network do hold fractions
// (and the odd huge number). Synapse hashes and signs those with Python's json module, so for them
// `legacyNumbers` writes such numbers as Python does (pythonNumber below); a server that refused to
// hash them could not join rooms that contain one.

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * A number written with a fraction or an exponent in the JSON it came from ("2.0", "1e5"): a float
 * to Python, which Synapse's canonical JSON writes as such ("2.0", "100000.0") where JSON.parse would
 * have made an integer of it. Only parseJsonPreservingNumbers produces these, for checking hashes
 * and signatures of v1-v5 events and request bodies; see legacyNumbers.
 */
export class PythonFloat {
  constructor(readonly value: number) {}
}

export interface CanonicalJsonOptions {
  /**
   * Room versions 1-5: write fractions and integers beyond ±(2^53-1) as Python's json module does
   * instead of refusing them. PythonFloat values are written as Python floats and bigint values
   * (integers too large for a double, from parseJsonPreservingNumbers) with all their digits.
   */
  legacyNumbers?: boolean;
}

/**
 * A float as Python's json.dumps writes it (Synapse's canonicaljson), so that hashes and signatures
 * over v1-v5 events match theirs. Python's float repr uses the same shortest round-trip digits as
 * JavaScript but its own layout: exponent form when the decimal exponent is below -4 or 16 and
 * above, with a sign and at least two digits ("1e-05", "1.5e+16"); otherwise positional, with ".0"
 * when there is no fraction ("2.0").
 */
export function pythonNumber(v: number): string {
  if (!Number.isFinite(v)) throw new CanonicalJsonError(`${v} cannot be encoded as JSON`);
  const [mantissa, expText] = v.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = String(Math.abs(exp)).padStart(2, '0');
    return `${negative ? '-' : ''}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  let text: string;
  if (exp < 0) text = `0.${'0'.repeat(-exp - 1)}${digits}`;
  else if (digits.length > exp + 1) text = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  else text = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return negative ? `-${text}` : text;
}

/** Compares two strings by Unicode code point (not UTF-16 code unit, which is what `<` does). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (D800-DFFF) encode code points above FFFF, so they sort after E000-FFFF.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}

// Characters needing escapes: controls, quote, backslash, and lone surrogates (rejected).
const NEEDS_WORK = /["\\\u0000-\u001f\ud800-\udfff]/;

function encodeString(s: string): string {
  if (!NEEDS_WORK.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) {
      switch (c) {
        case 0x08: out += '\\b'; break;
        case 0x09: out += '\\t'; break;
        case 0x0a: out += '\\n'; break;
        case 0x0c: out += '\\f'; break;
        case 0x0d: out += '\\r'; break;
        default: out += '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
      }
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw new CanonicalJsonError('lone surrogate in string');
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new CanonicalJsonError('lone surrogate in string');
    } else out += s[i];
  }
  return out + '"';
}

/**
 * A JavaScript number outside the canonical range, in legacy mode: what Python makes of the text
 * JSON.stringify writes for it, since that is what we send. An integer below 1e21 is written in
 * digits there, which Python reads as an int; anything else ("1.5", "1e+21") is a Python float.
 * Numbers read from another server's text go through parseJsonPreservingNumbers instead, which
 * keeps the distinction that JSON.parse loses.
 */
function legacyNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return BigInt(v).toString();
  return pythonNumber(v);
}

function encodeValue(v: unknown, depth: number, legacy: boolean): string {
  if (depth > 512) throw new CanonicalJsonError('JSON nested too deeply');
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return encodeString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      if (legacy) return v.toString();
      throw new CanonicalJsonError(`integer ${v} is outside ±(2^53-1)`);
    case 'number':
      if (legacy && !Number.isSafeInteger(v)) return legacyNumber(v);
      if (!Number.isInteger(v)) throw new CanonicalJsonError(`non-integer number ${v} is not allowed in canonical JSON`);
      if (v > MAX_SAFE || v < -MAX_SAFE) throw new CanonicalJsonError(`integer ${v} is outside ±(2^53-1)`);
      return Object.is(v, -0) ? '0' : String(v);
    case 'object': {
      if (v instanceof PythonFloat) {
        if (legacy) return pythonNumber(v.value);
        throw new CanonicalJsonError(`non-integer number ${v.value} is not allowed in canonical JSON`);
      }
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i) out += ',';
          out += encodeValue(v[i], depth + 1, legacy);
        }
        return out + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareCodePoints);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (i) out += ',';
        out += encodeString(k) + ':' + encodeValue(obj[k], depth + 1, legacy);
      }
      return out + '}';
    }
    default:
      throw new CanonicalJsonError(`value of type ${typeof v} cannot be encoded as JSON`);
  }
}

/** Encodes a value as Matrix canonical JSON text. Throws CanonicalJsonError on values it cannot encode. */
export function canonicalJson(value: unknown, opts?: CanonicalJsonOptions): string {
  return encodeValue(value, 0, opts?.legacyNumbers === true);
}

/** Canonical JSON as UTF-8 bytes, the form that is signed and hashed. */
export function canonicalJsonBytes(value: unknown, opts?: CanonicalJsonOptions): Buffer {
  return Buffer.from(encodeValue(value, 0, opts?.legacyNumbers === true), 'utf8');
}

/**
 * True when two values have the same canonical JSON (numbers of rooms v1-v5 included, written as
 * legacyNumbers writes them); false when either cannot be encoded at all.
 */
export function canonicallyEqual(a: unknown, b: unknown): boolean {
  try {
    return encodeValue(a, 0, true) === encodeValue(b, 0, true);
  } catch {
    return false;
  }
}

/** The first number strict canonical JSON cannot hold (a fraction, or beyond ±(2^53-1)), if any. */
export function firstNonCanonicalNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? undefined : v;
  if (typeof v !== 'object' || v === null) return undefined;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const bad = firstNonCanonicalNumber(x);
    if (bad !== undefined) return bad;
  }
  return undefined;
}
