// Raw JSON slices: the exact text of each element of a top-level array of a JSON object (the PDUs of
// a /send body or of a /backfill, /state or /event_auth answer), so that each PDU can be parsed
// strictly for its own room version and stored as it was received. Pure.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

/** `i` at an opening quote: the index just after the closing one. */
function skipString(text: string, i: number): number {
  let p = i + 1;
  for (;;) {
    const q = text.indexOf('"', p);
    if (q === -1) throw new Error('unterminated string');
    // The quote is escaped when an odd number of backslashes precede it.
    let b = q - 1;
    while (b > i && text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    p = q + 1;
  }
}

/** `i` at the start of a value: the index just after it. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    let p = i;
    while (p < text.length) {
      const d = text.charCodeAt(p);
      if (d === QUOTE) {
        p = skipString(text, p);
        continue;
      }
      if (d === LBRACE || d === LBRACKET) depth++;
      else if (d === RBRACE || d === RBRACKET) {
        depth--;
        if (depth === 0) return p + 1;
      }
      p++;
    }
    throw new Error('unterminated container');
  }
  // A number or a literal: up to the next delimiter.
  let p = i;
  while (p < text.length) {
    const d = text.charCodeAt(p);
    if (d === COMMA || d === RBRACE || d === RBRACKET || isWs(d)) break;
    p++;
  }
  return p;
}

function readKey(text: string, i: number): { key: string; end: number } {
  const end = skipString(text, i);
  const raw = text.slice(i + 1, end - 1);
  return { key: raw.includes('\\') ? (JSON.parse(text.slice(i, end)) as string) : raw, end };
}

/**
 * The raw text of every element of the top-level object's array member `key`, for text that
 * JSON.parse has already accepted. When the key repeats, the last occurrence wins, as JSON.parse
 * keeps it. Null when the text is not an object, the key is absent, or its value is not an array.
 */
export function topLevelArrayElements(text: string, key: string): string[] | null {
  try {
    let i = skipWs(text, 0);
    if (text.charCodeAt(i) !== LBRACE) return null;
    i++;
    let found: string[] | null = null;
    for (;;) {
      i = skipWs(text, i);
      const c = text.charCodeAt(i);
      if (c === RBRACE) return found;
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c !== QUOTE) return null;
      const k = readKey(text, i);
      i = skipWs(text, k.end);
      if (text.charCodeAt(i) !== COLON) return null;
      i = skipWs(text, i + 1);
      if (k.key === key) {
        if (text.charCodeAt(i) !== LBRACKET) {
          found = null;
          i = skipValue(text, i);
          continue;
        }
        const elements: string[] = [];
        i = skipWs(text, i + 1);
        while (text.charCodeAt(i) !== RBRACKET) {
          const start = i;
          i = skipValue(text, i);
          elements.push(text.slice(start, i));
          i = skipWs(text, i);
          if (text.charCodeAt(i) === COMMA) i = skipWs(text, i + 1);
          else if (text.charCodeAt(i) !== RBRACKET) return null;
        }
        i++;
        found = elements;
      } else {
        i = skipValue(text, i);
      }
    }
  } catch {
    return null;
  }
}
