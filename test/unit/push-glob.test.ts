// Glob matching and dotted property paths used by push rule conditions.
import { describe, expect, it } from 'vitest';
import { compileGlob, compileLiteral, globMatches } from '../../src/push/glob.js';
import { lookupDotted, parseDottedPath } from '../../src/push/property-path.js';

describe('glob, whole-value mode', () => {
  // [pattern, value, expected]
  const cases: [string, string, boolean][] = [
    // The spec's own example (event_match on content.topic, pattern lunc?*).
    ['lunc?*', 'Lunch plans', true],
    ['lunc?*', 'LUNCH', true],
    ['lunc?*', ' lunch', false],
    ['lunc?*', 'lunc', false],
    // Literals, case-insensitively.
    ['m.room.message', 'm.room.message', true],
    ['m.room.message', 'M.Room.Message', true],
    ['m.room.message', 'm.room.messages', false],
    ['m.room.member', 'm.room.message', false],
    ['', '', true],
    ['', 'x', false],
    // Regex syntax in a pattern is literal text.
    ['a.c', 'abc', false],
    ['a.c', 'a.c', true],
    ['(x)|y', '(x)|y', true],
    ['(x)|y', 'y', false],
    ['[a]', 'a', false],
    ['[a]', '[a]', true],
    ['a+b', 'aab', false],
    ['a+b', 'a+b', true],
    ['a\\d', 'a\\d', true],
    ['a\\d', 'a1', false],
    ['^$', '^$', true],
    ['{1}', '{1}', true],
    // `*` matches zero or more characters, `?` exactly one.
    ['*', '', true],
    ['*', 'anything at all', true],
    ['?', '', false],
    ['?', 'x', true],
    ['?', 'xy', false],
    ['a*', 'a', true],
    ['*a', 'ba', true],
    ['*a', 'ab', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['a**b', 'ab', true],
    ['a**b', 'a--b', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'acb', false],
    ['a*b*c', 'abcx', false],
    ['*ab*ab', 'abab', true],
    ['*ab*ab', 'aab', false],
    ['*ab*ab*', 'xxabyyabzz', true],
    ['a?c*', 'abc', true],
    ['a?c*', 'ac', false],
    ['??*??', 'abcd', true],
    ['??*??', 'abc', false],
    // `?` is one character: a newline, or a whole astral code point (not half a surrogate pair).
    ['a?c', 'a\nc', true],
    ['a?c', 'a😀c', true],
    ['a?c', 'a😀😀c', false],
    ['a??c', 'a😀c', false],
    // Non-ASCII case-insensitivity (Unicode simple case folding).
    ['école', 'ÉCOLE', true],
    ['straße', 'STRASSE', false],
    ['ΟΔΟΣ', 'οδος', true],
    ['ΟΔΟΣ', 'οδοσ', true],
  ];
  it.each(cases)('%j against %j -> %s', (pattern, value, expected) => {
    expect(globMatches(pattern, value, 'whole')).toBe(expected);
  });
});

describe('glob, word mode (content.body)', () => {
  const cases: [string, string, boolean][] = [
    // The spec's example: ex*ple in content.body.
    ['ex*ple', 'An example event.', true],
    ['ex*ple', 'exple', true],
    ['ex*ple', 'An exciting triple-whammy', true],
    ['ex*ple', 'examples', false],
    ['ex*ple', 'texample', false],
    // Whole words only; `_` and digits are word characters.
    ['cake', 'I like cake!', true],
    ['cake', 'CAKE', true],
    ['cake', 'cupcake', false],
    ['cake', 'cakes', false],
    ['cake', 'cake_walk', false],
    ['cake', 'cake2', false],
    ['cake', 'cake-walk', true],
    ['cake', '(cake)', true],
    ['cake', 'a\ncake\n', true],
    // Only [A-Za-z0-9_] are word characters, so a letter with a diacritic is a boundary.
    ['caf', 'café', true],
    // A match may start or end with a non-word character.
    ['@room', '@room', true],
    ['@room', 'hello @room!', true],
    ['@room', 'hi@room', true],
    ['@room', '@roomy', false],
    ['room', '@room', true],
    ['!', 'wow!', true],
    // Multi-word literal patterns.
    ['alice liddell', 'Hello Alice Liddell.', true],
    ['alice liddell', 'Hello Alice  Liddell.', false],
    // Stars span words; each end must sit on a boundary.
    ['foo*bar', 'x foo and bar.', true],
    ['foo*bar', 'xfoo bar', false],
    ['foo*bar', 'foo barx', false],
    ['foo*bar', 'foo barx bar', true],
    ['foo*bar', 'xfoo foo bar', true],
    ['a*b', 'xa a b', true],
    ['a*b', 'xa ab', true],
    ['a*b', 'xa xb', false],
    ['*bar', 'foobar', true],
    ['*bar', 'barfoo', false],
    ['foo*', 'foobar', true],
    ['foo*', 'xfoobar', false],
    ['*', '', true],
    ['*', 'anything', true],
    ['', 'anything', true],
    ['?', 'a b', true],
    ['??', 'a b', true],
    ['??', 'abc', false],
    ['b?', 'ab c', false],
  ];
  it.each(cases)('%j in %j -> %s', (pattern, value, expected) => {
    expect(globMatches(pattern, value, 'word')).toBe(expected);
  });
});

describe('literal matching (display names)', () => {
  it('treats * and ? as ordinary characters', () => {
    expect(compileLiteral('A*', 'word').test('Abc')).toBe(false);
    expect(compileLiteral('A*', 'word').test('hi a*!')).toBe(true);
    expect(compileLiteral('who?', 'word').test('whom')).toBe(false);
    expect(compileLiteral('who?', 'word').test('Who? me')).toBe(true);
    expect(compileLiteral('x.y', 'whole').test('x.y')).toBe(true);
    expect(compileLiteral('x.y', 'whole').test('xzy')).toBe(false);
  });
});

describe('glob compilation', () => {
  it('caches compiled globs per pattern and mode', () => {
    expect(compileGlob('abc*', 'whole')).toBe(compileGlob('abc*', 'whole'));
    expect(compileGlob('abc*', 'whole')).not.toBe(compileGlob('abc*', 'word'));
    expect(compileGlob('a*', 'whole')).not.toBe(compileLiteral('a*', 'whole'));
  });

  it('gives the same answer when a cached glob is reused on different values', () => {
    const g = compileGlob('x*y*z', 'word');
    expect(g.test('x y z')).toBe(true);
    expect(g.test('x y')).toBe(false);
    expect(g.test('ax y z')).toBe(false);
    expect(g.test('xx y z')).toBe(true);
    expect(g.test('a x . y . z b')).toBe(true);
  });

  it('stays fast on patterns that make backtracking regexes explode', () => {
    const body = 'a'.repeat(65_536);
    const started = performance.now();
    expect(globMatches('*a*a*a*a*a*a*a*a*a*a*b', body, 'whole')).toBe(false);
    expect(globMatches('a*a*a*a*a*a*a*a*a*a*b', body, 'word')).toBe(false);
    expect(globMatches('?*?*?*?*?*?*?*?*b', body, 'word')).toBe(false);
    const spaced = 'a '.repeat(32_768);
    expect(globMatches('a*a*a*a*a*a*a*a*b', spaced, 'word')).toBe(false);
    expect(globMatches('a*a*a*a*a*a*a*a*a', spaced, 'word')).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('dot-separated property paths', () => {
  const cases: [string, string[]][] = [
    ['content.body', ['content', 'body']],
    ['type', ['type']],
    ['content.m\\.mentions.user_ids', ['content', 'm.mentions', 'user_ids']],
    ['content.m\\.relates_to.rel_type', ['content', 'm.relates_to', 'rel_type']],
    // `\\` is one backslash: the appendix's `content.m\\foo`.
    ['content.m\\\\foo', ['content', 'm\\foo']],
    ['content.m\\\\.foo', ['content', 'm\\', 'foo']],
    // Other escapes stay as written.
    ['content.m\\xfoo', ['content', 'm\\xfoo']],
    ['a\\', ['a\\']],
    ['a..b', ['a', '', 'b']],
    ['', ['']],
  ];
  it.each(cases)('%j -> %j', (path, parts) => {
    expect(parseDottedPath(path)).toEqual(parts);
  });

  it('looks up own properties of nested objects only', () => {
    const event = {
      type: 'm.room.message',
      content: { 'm.relates_to': { rel_type: 'm.replace' }, m: { relates_to: 'nested' }, list: ['x'], 'm\\foo': 1 },
    };
    expect(lookupDotted(event, 'content.m\\.relates_to.rel_type')).toBe('m.replace');
    expect(lookupDotted(event, 'content.m.relates_to')).toBe('nested');
    expect(lookupDotted(event, 'content.m\\\\foo')).toBe(1);
    expect(lookupDotted(event, 'content.list.0')).toBeUndefined();
    expect(lookupDotted(event, 'content.constructor')).toBeUndefined();
    expect(lookupDotted(event, 'content.__proto__')).toBeUndefined();
    expect(lookupDotted(event, 'type.length')).toBeUndefined();
    expect(lookupDotted(event, 'missing')).toBeUndefined();
  });
});

describe('glob agrees with a brute-force reference', () => {
  // Reference: plain recursive glob over characters; word mode tries every substring whose ends
  // are word boundaries. Exponential, so only for short strings.
  const isWord = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  const isBoundary = (s: string, i: number) => !(isWord(s[i - 1]) && isWord(s[i]));
  function wholeRef(p: string, s: string): boolean {
    if (p === '') return s === '';
    if (p[0] === '*') return wholeRef(p.slice(1), s) || (s !== '' && wholeRef(p, s.slice(1)));
    if (s === '') return false;
    return (p[0] === '?' || p[0]!.toLowerCase() === s[0]!.toLowerCase()) && wholeRef(p.slice(1), s.slice(1));
  }
  function wordRef(p: string, s: string): boolean {
    for (let i = 0; i <= s.length; i++) {
      if (!isBoundary(s, i)) continue;
      for (let j = i; j <= s.length; j++) if (isBoundary(s, j) && wholeRef(p, s.slice(i, j))) return true;
    }
    return false;
  }
  // A small deterministic PRNG so failures reproduce.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = (alphabet: string, max: number) => {
    let out = '';
    const len = rand(max + 1);
    for (let i = 0; i < len; i++) out += alphabet[rand(alphabet.length)];
    return out;
  };

  it('on 4000 random patterns and values', () => {
    for (let n = 0; n < 4000; n++) {
      const pattern = pick('abA *?-', 6);
      const value = pick('abB -_', 9);
      expect(globMatches(pattern, value, 'whole'), `whole ${JSON.stringify(pattern)} ${JSON.stringify(value)}`).toBe(wholeRef(pattern, value));
      expect(globMatches(pattern, value, 'word'), `word ${JSON.stringify(pattern)} ${JSON.stringify(value)}`).toBe(wordRef(pattern, value));
    }
  });
});
