// Turns a user's search term into a safe SQLite FTS5 MATCH expression (pure; no I/O).
//
// Supported, as Synapse's web-search-like syntax: words (implicitly ANDed, each matched as a word
// prefix), "quoted phrases", `or` between alternatives, and `-word` to exclude. Every word is
// emitted as a double-quoted FTS5 string, so characters that mean something to FTS5 (`*`, `^`,
// `:`, `(`, `NEAR`, `AND`, column names...) in user input are plain text and can never cause a
// syntax error.

/** One alternative of the query: every `include` must match and no `exclude` may. */
interface Conjunction {
  include: string[];
  exclude: string[];
}

export interface ParsedSearchQuery {
  /** The FTS5 MATCH expression, or null when the term holds no searchable word. */
  readonly match: string | null;
  /** The words and phrases searched for (the spec's `highlights`), lower-cased, without duplicates. */
  readonly highlights: string[];
}

/**
 * What FTS5's unicode61 tokenizer keeps as token characters: letters, numbers and private-use
 * characters; everything else separates words. Splitting the same way here means a quoted word
 * never contains a separator the tokenizer would split on differently.
 */
const WORD_RE = /[\p{L}\p{N}\p{M}\p{Co}]+/gu;

/** Longest search term considered (longer input is cut); keeps pathological queries cheap. */
export const MAX_SEARCH_TERM_LENGTH = 1000;
/** At most this many words take part in the query. */
const MAX_WORDS = 32;

function words(text: string): string[] {
  return text.match(WORD_RE) ?? [];
}

/** A word or phrase as an FTS5 string; phrases are not prefix-matched. */
function ftsString(ws: readonly string[], prefix: boolean): string {
  // The tokens hold no `"` (not a token character), so no escaping is needed; double any anyway.
  const s = `"${ws.join(' ').replace(/"/g, '""')}"`;
  return prefix ? `${s}*` : s;
}

/**
 * Parses a search term. Words and phrases become `"word"*` / `"a phrase"`; terms within an
 * alternative are joined with AND, alternatives with OR, exclusions with NOT (FTS5's NOT is
 * binary, so an alternative made only of exclusions is dropped: there is nothing to subtract from).
 */
export function parseSearchQuery(term: string, opts: { prefix?: boolean } = {}): ParsedSearchQuery {
  const prefix = opts.prefix ?? true;
  const text = term.length > MAX_SEARCH_TERM_LENGTH ? term.slice(0, MAX_SEARCH_TERM_LENGTH) : term;
  const alternatives: Conjunction[] = [{ include: [], exclude: [] }];
  const highlights = new Set<string>();
  let negateNext = false;
  let count = 0;

  const add = (item: string, highlight: string) => {
    if (count >= MAX_WORDS) return;
    count++;
    const cur = alternatives[alternatives.length - 1]!;
    if (negateNext) cur.exclude.push(item);
    else {
      cur.include.push(item);
      highlights.add(highlight);
    }
    negateNext = false;
  };

  // Odd-numbered parts of a split on `"` are inside quotes (an unclosed quote runs to the end).
  const parts = text.split('"');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1) {
      const ws = words(part).map((w) => w.toLowerCase());
      if (ws.length > 0) add(ftsString(ws, false), ws.join(' '));
      else negateNext = false;
      continue;
    }
    // Outside quotes: split on whitespace to see `-` prefixes and `or`, then into words.
    for (const raw of part.split(/\s+/)) {
      if (raw.length === 0) continue;
      if (raw.toLowerCase() === 'or') {
        if (alternatives[alternatives.length - 1]!.include.length > 0) alternatives.push({ include: [], exclude: [] });
        negateNext = false;
        continue;
      }
      if (raw.toLowerCase() === 'and') continue;
      const negated = raw.startsWith('-');
      const ws = words(raw).map((w) => w.toLowerCase());
      if (negated) negateNext = true;
      if (ws.length === 0) continue;
      // "body:near" or "e-mail" hold several words: each must match (as Synapse splits them), except
      // after a `-`, where the words are excluded together, as a phrase.
      if (ws.length === 1) add(ftsString(ws, prefix), ws[0]!);
      else if (negateNext) add(ftsString(ws, false), ws.join(' '));
      else for (const w of ws) add(ftsString([w], prefix), w);
    }
    // A trailing "-" before a quote negates the phrase: `-"foo bar"`.
    if (!/-\s*$/.test(part)) negateNext = false;
  }

  const clauses: string[] = [];
  for (const alt of alternatives) {
    if (alt.include.length === 0) continue;
    let clause = alt.include.join(' AND ');
    if (alt.exclude.length > 0) clause = `(${clause}) NOT ${alt.exclude.map((x) => x).join(' NOT ')}`;
    clauses.push(clauses.length === 0 && alternatives.length === 1 ? clause : `(${clause})`);
  }
  if (clauses.length === 0) return { match: null, highlights: [] };
  return { match: clauses.join(' OR '), highlights: [...highlights] };
}

/** Restricts a MATCH expression to some columns (FTS5 column filter `{a b} : (...)`). */
export function withColumns(match: string, columns: readonly string[]): string {
  return `{${columns.join(' ')}} : (${match})`;
}

/**
 * The user directory's query: every word of the term must start a word of the user ID or the
 * display name (`"ali"* AND "smi"*`), as Synapse matches it. Null when the term has no word.
 */
export function prefixWordsQuery(term: string): string | null {
  const text = term.length > MAX_SEARCH_TERM_LENGTH ? term.slice(0, MAX_SEARCH_TERM_LENGTH) : term;
  const ws = words(text).slice(0, MAX_WORDS);
  if (ws.length === 0) return null;
  return ws.map((w) => ftsString([w.toLowerCase()], true)).join(' AND ');
}
