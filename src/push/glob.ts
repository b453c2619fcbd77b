// Glob matching for push rules (appendices "Glob-style matching"): `*` and `?`, case-insensitive,
// against a whole value or, for `content.body`, any substring bounded by word boundaries.
//
// Globs are not turned into one big RegExp: `*a*a*a*b` would become `.*a.*a.*a.*b`, which a
// backtracking engine runs in polynomial time on a long body, and patterns come from users while
// bodies come from anyone. Instead a glob is split at its stars into fixed-length segments (text and
// `?`), each compiled once to a small RegExp, and the segments are placed greedily, leftmost first.
// Leftmost placement is always optimal for the segments between stars, so a match costs
// O(length of value x length of pattern) at worst.

/** `whole`: the pattern must match the entire value. `word`: any substring starting and ending at a word boundary. */
export type GlobMode = 'whole' | 'word';

export interface CompiledGlob {
  readonly pattern: string;
  readonly mode: GlobMode;
  test(value: string): boolean;
}

// Case-insensitive per Unicode simple case folding (the `iu` flags); `s` lets `?` match a newline.
// In `u` mode `.` is one code point, so `?` never splits a surrogate pair.
const FLAGS = 'isu';

// Spec: "A word boundary is defined as the start or end of the value, or any character not in the
// sets [A-Z], [a-z], [0-9] or _". A position is a boundary unless it lies between two word
// characters, so a match may also begin or end with a non-word character ("@room" in "hi@room").
// (Under the `i` flag the class also admits U+017F and U+212A, the case variants of s and k.)
const BOUNDARY = '(?:(?<![A-Za-z0-9_])|(?![A-Za-z0-9_]))';

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;

function escapeRegex(text: string): string {
  return text.replace(REGEX_SYNTAX, '\\$&');
}

/** RegExp source of a star-free segment: `?` is any one character, everything else literal. */
function segmentSource(segment: string, literal: boolean): string {
  if (literal) return escapeRegex(segment);
  let out = '';
  let run = '';
  for (const ch of segment) {
    if (ch === '?') {
      out += escapeRegex(run) + '.';
      run = '';
    } else run += ch;
  }
  return out + escapeRegex(run);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** A pattern without `*`: one anchored (whole) or boundary-delimited (word) RegExp. */
class StarlessGlob implements CompiledGlob {
  private readonly re: RegExp;
  /** For an ASCII pattern without `?`, a whole match needs the same length: only ASCII letters,
   *  U+017F and U+212A fold to ASCII, all single UTF-16 units. Lets most `type` checks skip the RegExp. */
  private readonly exactLength: number;

  constructor(
    readonly pattern: string,
    readonly mode: GlobMode,
    source: string,
    fixedAscii: boolean,
  ) {
    this.re = new RegExp(mode === 'whole' ? `^${source}$` : BOUNDARY + source + BOUNDARY, FLAGS);
    this.exactLength = mode === 'whole' && fixedAscii ? pattern.length : -1;
  }

  test(value: string): boolean {
    if (this.mode === 'whole') {
      if (value === this.pattern) return true;
      if (this.exactLength >= 0 && value.length !== this.exactLength) return false;
    }
    return this.re.test(value);
  }
}

/** A pattern with at least one `*`: first segment, middle segments, last segment. */
class StarGlob implements CompiledGlob {
  /** Finds the first segment: sticky at 0 (whole) or leftmost after a boundary (word); null if empty. */
  private readonly first: RegExp | null;
  /** Each finds the leftmost occurrence at or after `lastIndex`. */
  private readonly middle: RegExp[];
  /** Finds the last segment ending at the end (whole) or at a boundary (word); null if empty. */
  private readonly last: RegExp | null;

  constructor(
    readonly pattern: string,
    readonly mode: GlobMode,
    segments: string[],
  ) {
    const firstSrc = segments[0] ?? '';
    const lastSrc = segments[segments.length - 1] ?? '';
    this.first =
      firstSrc === '' ? null : mode === 'whole' ? new RegExp(firstSrc, FLAGS + 'y') : new RegExp(BOUNDARY + firstSrc, FLAGS + 'g');
    // Empty middle segments (from `**`) match anywhere and are dropped.
    this.middle = segments
      .slice(1, -1)
      .filter((s) => s !== '')
      .map((s) => new RegExp(s, FLAGS + 'g'));
    this.last = lastSrc === '' ? null : new RegExp(mode === 'whole' ? `(?:${lastSrc})$` : `(?:${lastSrc})${BOUNDARY}`, FLAGS + 'g');
  }

  test(value: string): boolean {
    let cursor = 0;
    if (this.first) {
      // Word mode: only the leftmost admissible start needs trying. Starting later can only push
      // every following segment further right, so if the leftmost start fails, all later ones do.
      this.first.lastIndex = 0;
      if (this.mode === 'whole') {
        if (!this.first.test(value)) return false;
        cursor = this.first.lastIndex;
      } else {
        const m = this.first.exec(value);
        if (!m) return false;
        cursor = m.index + m[0].length;
      }
    }
    for (const re of this.middle) {
      re.lastIndex = cursor;
      const m = re.exec(value);
      if (!m) return false;
      cursor = m.index + m[0].length;
    }
    // A trailing `*` absorbs the rest; the end of the value is a word boundary too.
    if (!this.last) return true;
    this.last.lastIndex = cursor;
    return this.last.test(value);
  }
}

function compile(pattern: string, mode: GlobMode, literal: boolean): CompiledGlob {
  if (literal || !pattern.includes('*')) {
    const fixedAscii = literal ? isAscii(pattern) : isAscii(pattern) && !pattern.includes('?');
    return new StarlessGlob(pattern, mode, segmentSource(pattern, literal), fixedAscii);
  }
  return new StarGlob(
    pattern,
    mode,
    pattern.split('*').map((s) => segmentSource(s, false)),
  );
}

// Compiled globs are cached by mode and pattern. Push rules repeat the same few patterns for every
// event and user; the bound only stops unbounded growth from many distinct user patterns.
const CACHE_LIMIT = 10_000;
const cache = new Map<string, CompiledGlob>();

function cached(key: string, make: () => CompiledGlob): CompiledGlob {
  let g = cache.get(key);
  if (g === undefined) {
    if (cache.size >= CACHE_LIMIT) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    g = make();
    cache.set(key, g);
  }
  return g;
}

/** Compiles (or fetches from the cache) a glob with `*` and `?` wildcards. */
export function compileGlob(pattern: string, mode: GlobMode): CompiledGlob {
  return cached((mode === 'whole' ? 'w:' : 'b:') + pattern, () => compile(pattern, mode, false));
}

/** Like compileGlob, but `*` and `?` in `text` are ordinary characters (for display names). */
export function compileLiteral(text: string, mode: GlobMode): CompiledGlob {
  return cached((mode === 'whole' ? 'W:' : 'B:') + text, () => compile(text, mode, true));
}

export function globMatches(pattern: string, value: string, mode: GlobMode): boolean {
  return compileGlob(pattern, mode).test(value);
}
