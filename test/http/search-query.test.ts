// The search-term parser (src/search/query.ts): the MATCH expressions it builds, and a randomised
// check that no input, however full of FTS5 syntax, yields an expression SQLite refuses.
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { parseSearchQuery, prefixWordsQuery, withColumns } from '../../src/search/query.js';

describe('parseSearchQuery', () => {
  it.each([
    ['martians', '"martians"*', ['martians']],
    ['Martians  and MEN', '"martians"* AND "men"*', ['martians', 'men']],
    ['"martians and men"', '"martians and men"', ['martians and men']],
    ['cats or dogs', '("cats"*) OR ("dogs"*)', ['cats', 'dogs']],
    ['cats -dogs', '("cats"*) NOT "dogs"*', ['cats']],
    ['cats -"big dogs"', '("cats"*) NOT "big dogs"', ['cats']],
    ['body:near', '"body"* AND "near"*', ['body', 'near']],
    ['near*', '"near"*', ['near']],
    ['NEAR(a b)', '"near"* AND "a"* AND "b"*', ['near', 'a', 'b']],
    ['Crème', '"crème"*', ['crème']],
  ])('%j -> %s', (term, match, highlights) => {
    const q = parseSearchQuery(term);
    expect(q.match).toBe(match);
    expect(q.highlights).toEqual(highlights);
  });

  it.each(['', '   ', '***', '"', '-', '-dogs', 'or', 'OR or', '()', '\u0000'])('%j has no searchable word', (term) => {
    expect(parseSearchQuery(term).match).toBeNull();
  });

  it('phrases are not prefix-matched and words can be exact', () => {
    expect(parseSearchQuery('cat', { prefix: false }).match).toBe('"cat"');
  });

  it('caps the number of words', () => {
    const q = parseSearchQuery(Array.from({ length: 100 }, (_, i) => `w${i}`).join(' '));
    expect(q.match!.split(' AND ')).toHaveLength(32);
  });

  it('the user directory query prefix-matches every word', () => {
    expect(prefixWordsQuery('@Alice:example.org')).toBe('"alice"* AND "example"* AND "org"*');
    expect(prefixWordsQuery('!!')).toBeNull();
  });

  it('no input makes SQLite refuse the expression', () => {
    const db = new BetterSqlite3(':memory:');
    db.exec("CREATE VIRTUAL TABLE t USING fts5(body, name, topic, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')");
    db.prepare('INSERT INTO t (rowid, body) VALUES (1, ?)').run('near body and or not star');
    const run = db.prepare('SELECT rowid FROM t WHERE t MATCH ?');
    const alphabet = ['a', 'b', 'near', 'NEAR', 'AND', 'OR', 'NOT', 'or', ' ', ' ', '"', '*', '-', '^', ':', '(', ')', '{', '}', ',', '+', '\\', "'", 'é', '😀', '\t', '.', '0'];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      let term = '';
      const len = 1 + rand(12);
      for (let j = 0; j < len; j++) term += alphabet[rand(alphabet.length)];
      const q = parseSearchQuery(term);
      if (q.match === null) continue;
      expect(() => run.all(q.match), term).not.toThrow();
      expect(() => run.all(withColumns(q.match!, ['body', 'topic'])), term).not.toThrow();
      const p = prefixWordsQuery(term);
      if (p !== null) expect(() => run.all(p), term).not.toThrow();
    }
    db.close();
  });
});
