// Canonical JSON (spec appendix "Canonical JSON"): keys sorted by Unicode code point, no
// insignificant whitespace, shortest escapes (\" \\ \b \f \n \r \t, other controls as lowercase
// \u00XX, everything else raw UTF-8), integers only within ±(2^53-1).

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

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

function encodeValue(v: unknown, depth: number): string {
  if (depth > 512) throw new CanonicalJsonError('JSON nested too deeply');
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return encodeString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isInteger(v)) throw new CanonicalJsonError(`non-integer number ${v} is not allowed in canonical JSON`);
      if (v > MAX_SAFE || v < -MAX_SAFE) throw new CanonicalJsonError(`integer ${v} is outside ±(2^53-1)`);
      return Object.is(v, -0) ? '0' : String(v);
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i) out += ',';
          out += encodeValue(v[i], depth + 1);
        }
        return out + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareCodePoints);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (i) out += ',';
        out += encodeString(k) + ':' + encodeValue(obj[k], depth + 1);
      }
      return out + '}';
    }
    default:
      throw new CanonicalJsonError(`value of type ${typeof v} cannot be encoded as JSON`);
  }
}

/** Encodes a value as Matrix canonical JSON text. Throws CanonicalJsonError on values it cannot encode. */
export function canonicalJson(value: unknown): string {
  return encodeValue(value, 0);
}

/** Canonical JSON as UTF-8 bytes, the form that is signed and hashed. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(encodeValue(value, 0), 'utf8');
}
