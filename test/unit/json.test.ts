// Canonical JSON against the spec's test vectors, and the strict JSON parser (src/core/json/parse.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes, compareCodePoints } from '../../src/core/json/canonical.js';
import {
  DEFAULT_MAX_DEPTH,
  JsonParseError,
  parseJson,
  parseJsonBytes,
  parseJsonObject,
  type ParseJsonOptions,
} from '../../src/core/json/parse.js';
import type { JsonValue } from '../../src/core/json/types.js';

interface CanonicalVector {
  name: string;
  category: string;
  source: 'spec' | 'extra' | string;
  input_json: string;
  expected: string | { result: 'ok' | 'reject'; canonical?: string; canonical_utf8_hex?: string };
  expected_utf8_hex?: string;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/test-vectors.json', import.meta.url), 'utf8')) as {
  vectors: CanonicalVector[];
};
const canonicalVectors = fixture.vectors.filter((v) => v.category === 'canonical_json');
const specVectors = canonicalVectors.filter((v) => v.source === 'spec');
const extraVectors = canonicalVectors.filter((v) => v.source === 'extra');

const STRICT: ParseJsonOptions = { strictNumbers: true };

/** Parses with our parser and encodes canonically; returns the text or the error thrown. */
function pipeline(input: string, opts: ParseJsonOptions): { ok: true; text: string; hex: string } | { ok: false; error: unknown } {
  try {
    const value = parseJson(input, opts);
    return { ok: true, text: canonicalJson(value), hex: canonicalJsonBytes(value).toString('hex') };
  } catch (error) {
    return { ok: false, error };
  }
}

function parseError(fn: () => unknown): JsonParseError {
  try {
    fn();
  } catch (e) {
    if (e instanceof JsonParseError) return e;
    throw new Error(`expected JsonParseError, got ${String(e)}`);
  }
  throw new Error('expected JsonParseError, nothing was thrown');
}

describe('canonical JSON: spec examples (appendices#canonical-json)', () => {
  it('the fixture has the spec examples and the extra traps', () => {
    expect(specVectors.length).toBeGreaterThanOrEqual(10);
    expect(extraVectors.length).toBeGreaterThanOrEqual(29);
  });

  for (const v of specVectors) {
    it(`${v.name} (lenient parse)`, () => {
      const r = pipeline(v.input_json, {});
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.text).toBe(v.expected);
      expect(r.hex).toBe(v.expected_utf8_hex);
    });
  }

  // The spec's `-0` / `1e10` example only works with lenient number parsing (room versions 1-5);
  // the vector's notes say a strict (v6+) parser rejects the exponent. Every other example is
  // strict-clean and must give the same bytes under strict parsing.
  for (const v of specVectors) {
    const exponentExample = v.name === 'canonical_json/spec/negative_zero_and_exponent';
    it(`${v.name} (strict parse ${exponentExample ? 'rejects the exponent' : 'agrees'})`, () => {
      const r = pipeline(v.input_json, STRICT);
      if (exponentExample) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect((r.error as JsonParseError).kind).toBe('value');
      } else {
        expect(r.ok && r.hex).toBe(v.expected_utf8_hex);
      }
    });
  }
});

describe('canonical JSON: extra traps', () => {
  for (const v of extraVectors) {
    const expected = v.expected as { result: 'ok' | 'reject'; canonical?: string; canonical_utf8_hex?: string };
    it(`${v.name} -> ${expected.result}`, () => {
      const r = pipeline(v.input_json, STRICT);
      if (expected.result === 'ok') {
        expect(r.ok ? r.text : r.error).toBe(expected.canonical);
        expect(r.ok && r.hex).toBe(expected.canonical_utf8_hex);
      } else {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(JsonParseError);
      }
    });
  }

  it('classifies the rejections: NaN is not JSON, the rest are JSON with unacceptable values', () => {
    for (const v of extraVectors) {
      const expected = v.expected as { result: string };
      if (expected.result !== 'reject') continue;
      const err = parseError(() => parseJson(v.input_json, STRICT));
      const notJson = /NaN/.test(v.input_json);
      expect({ name: v.name, kind: err.kind }).toEqual({ name: v.name, kind: notJson ? 'syntax' : 'value' });
      expect(err.errcode).toBe(notJson ? 'M_NOT_JSON' : 'M_BAD_JSON');
    }
  });

  it('lenient parsing still refuses what cannot be canonical: out-of-range integers, true floats, lone surrogates', () => {
    expect(() => canonicalJson(parseJson('[9007199254740992]'))).toThrow(/outside/);
    expect(() => canonicalJson(parseJson('{"a": 123456789012345678901234567890}'))).toThrow(/outside/);
    expect(() => canonicalJson(parseJson('{"a": 1.5}'))).toThrow(/non-integer/);
    expect(parseError(() => parseJson('"\\ud800"')).kind).toBe('value');
  });

  it('lenient parsing normalises integer-valued floats the way the spec example does', () => {
    // Documented leniency for room versions 1-5: JSON.parse cannot tell 1.0 from 1.
    expect(canonicalJson(parseJson('{"a": 1.0, "b": 1e2, "c": -0.0}'))).toBe('{"a":1,"b":100,"c":0}');
  });

  it('duplicate keys: the last value wins by default, as in the vector; opt-in rejection', () => {
    const v = extraVectors.find((x) => x.name === 'canonical_json/extra/structure/duplicate_keys')!;
    expect(canonicalJson(parseJson(v.input_json, STRICT))).toBe('{"a":2}');
    expect(parseError(() => parseJson(v.input_json, { duplicateKeys: 'reject' })).kind).toBe('value');
  });
});

describe('compareCodePoints', () => {
  const byCodePoint = (a: string, b: string): number => {
    const ca = Array.from(a, (c) => c.codePointAt(0)!);
    const cb = Array.from(b, (c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
    return ca.length - cb.length;
  };

  it('orders astral characters after the BMP private-use and halfwidth ranges', () => {
    expect(compareCodePoints('\u{1F600}', '\uFF61')).toBeGreaterThan(0);
    expect(compareCodePoints('\uE000', '\u{10000}')).toBeLessThan(0);
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
    expect(compareCodePoints('', '')).toBe(0);
    expect(compareCodePoints('B', 'a')).toBeLessThan(0);
  });

  it('agrees in sign with a code-point-array comparison on random strings', () => {
    const pool = ['a', 'b', 'Z', '\u0000', '\u00e9', '\uD7FF', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}'];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const make = (): string => {
      let s = '';
      for (let i = rnd(5); i > 0; i--) s += pool[rnd(pool.length)];
      return s;
    };
    for (let i = 0; i < 3000; i++) {
      const a = make();
      const b = make();
      expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(byCodePoint(a, b)));
    }
  });
});

describe('parseJson: syntax errors are M_NOT_JSON', () => {
  const notJson = [
    '',
    '   ',
    '{',
    '{"a":1,}',
    '[1,]',
    '[01]',
    '[-]',
    '[1.]',
    '[.5]',
    '[+1]',
    'NaN',
    '[Infinity]',
    "{'a':1}",
    '{"a":1} x',
    '{a:1}',
    '"\\x"',
    '"\\u12"',
    '"a\u0001b"', // raw control character inside a string
    '\ufeff{}', // a BOM is not part of JSON text
    'tru',
    '[1 2]',
  ];
  for (const text of notJson) {
    it(JSON.stringify(text), () => {
      for (const opts of [{}, STRICT, { duplicateKeys: 'reject' as const }]) {
        const err = parseError(() => parseJson(text, opts));
        expect(err.kind).toBe('syntax');
        expect(err.errcode).toBe('M_NOT_JSON');
      }
    });
  }
});

describe('parseJson: strict numbers', () => {
  const rejected = [
    '1.0',
    '[1.5]',
    '{"a":1e2}',
    '{"a":1E2}',
    '{"a":1e-2}',
    '{"a":1E+2}',
    '-0.0',
    '[0.0]',
    '[9007199254740992]',
    '[-9007199254740992]',
    '[9999999999999999]',
    '[10000000000000000]',
    '[12345678901234567890]',
    '{"deep":[[{"x":[0, 1, 2.5]}]]}',
  ];
  for (const text of rejected) {
    it(`rejects ${text}`, () => {
      const err = parseError(() => parseJson(text, STRICT));
      expect(err.kind).toBe('value');
      expect(err.errcode).toBe('M_BAD_JSON');
      expect(typeof err.position).toBe('number');
      // The same text is fine leniently.
      expect(() => parseJson(text)).not.toThrow();
    });
  }

  const accepted: [string, JsonValue][] = [
    ['0', 0],
    ['-0', -0],
    ['[9007199254740991,-9007199254740991]', [9007199254740991, -9007199254740991]],
    ['[1000000000000000,8999999999999999]', [1000000000000000, 8999999999999999]],
    ['{"1.5":"2e10","-3.0":["9007199254740993"]}', { '1.5': '2e10', '-3.0': ['9007199254740993'] }],
    ['{"a\\"1.5":"\\\\", "b": 7}', { 'a"1.5': '\\', b: 7 }],
    ['[true,false,null,-12]', [true, false, null, -12]],
  ];
  for (const [text, value] of accepted) {
    it(`accepts ${text}`, () => {
      expect(parseJson(text, STRICT)).toEqual(value);
    });
  }

  it('finds a float after strings that end in escaped backslashes and quotes', () => {
    expect(parseError(() => parseJson('["a\\\\", 1.5]', STRICT)).position).toBe(8);
    expect(parseError(() => parseJson('["\\"\\\\\\"", 2, 3.25]', STRICT)).kind).toBe('value');
    expect(parseJson('["\\"1.5\\"", 2]', STRICT)).toEqual(['"1.5"', 2]);
  });

  it('reports the position of the offending number', () => {
    const text = '{"a": [1, 2, 30.5]}';
    const err = parseError(() => parseJson(text, STRICT));
    expect(text.slice(err.position)).toMatch(/^30\.5/);
  });
});

describe('parseJson: numbers that overflow a double', () => {
  for (const text of ['1e400', '[-1E+400]', '{"a":1.5e309}', `[${'9'.repeat(400)}]`, `[-${'2'.repeat(309)}]`]) {
    it(`rejects ${text.slice(0, 24)} in every mode`, () => {
      for (const opts of [{}, STRICT]) expect(parseError(() => parseJson(text, opts)).kind).toBe('value');
    });
  }

  it('accepts large finite and underflowing numbers leniently', () => {
    expect(parseJson('[1e308, -1.7976931348623157e308, 1e-400, 2.5E+3]')).toEqual([1e308, -1.7976931348623157e308, 0, 2500]);
    expect(parseJson(`[${'9'.repeat(300)}]`)).toEqual([Number('9'.repeat(300))]);
  });
});

describe('parseJson: surrogates', () => {
  it('accepts escaped and raw surrogate pairs', () => {
    expect(parseJson('"\\ud83d\\ude00"')).toBe('\u{1F600}');
    expect(parseJson('"\\uD83D\\uDE00"')).toBe('\u{1F600}');
    expect(parseJson('"\u{1F600}"')).toBe('\u{1F600}');
    expect(parseJson('{"\\udbff\\udfff": 1}')).toEqual({ '\u{10FFFF}': 1 });
  });

  const lone = [
    '"\\ud800"',
    '"\\udc00"',
    '"\\uDFFF"',
    '"\\ud800\\u0041"',
    '"\\ud800x"',
    '"\\ud800\\n"',
    '"\\ude00\\ud83d"',
    '{"\\ud800": 1}',
    '["ok", "\\ud83d\\ude00", "\\ud83d"]',
  ];
  for (const text of lone) {
    it(`rejects escaped ${text}`, () => {
      for (const opts of [{}, STRICT]) expect(parseError(() => parseJson(text, opts)).kind).toBe('value');
    });
  }

  it('rejects raw lone surrogates in the text and escape/raw mixtures', () => {
    expect(parseError(() => parseJson('"a\ud800b"')).kind).toBe('value');
    expect(parseError(() => parseJson('["\udc00"]')).kind).toBe('value');
    expect(parseError(() => parseJson('"\\ud83d\ude00"')).kind).toBe('value');
  });

  it('does not mistake an escaped backslash followed by "ud800" for an escape', () => {
    expect(parseJson('"\\\\ud800"')).toBe('\\ud800');
  });
});

describe('parseJson: depth', () => {
  const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n);

  it(`accepts ${DEFAULT_MAX_DEPTH} levels and refuses one more by default`, () => {
    const deepest = parseJson(nested(DEFAULT_MAX_DEPTH));
    expect(() => canonicalJson(deepest)).not.toThrow(); // whatever we accept, we can encode
    const err = parseError(() => parseJson(nested(DEFAULT_MAX_DEPTH + 1)));
    expect(err.kind).toBe('value');
  });

  it('honours maxDepth, counting objects and arrays alike', () => {
    expect(parseJson('{"a":[{"b":1}]}', { maxDepth: 3 })).toEqual({ a: [{ b: 1 }] });
    expect(parseError(() => parseJson('{"a":[{"b":[]}]}', { maxDepth: 3 })).kind).toBe('value');
    expect(parseJson('[[],[],[]]', { maxDepth: 2 })).toEqual([[], [], []]);
    expect(parseJson('"[[[[{{{{"', { maxDepth: 1 })).toBe('[[[[{{{{');
  });

  it('survives a very deep document without overflowing the stack', () => {
    expect(parseError(() => parseJson(nested(200_000))).kind).toBe('value');
  });
});

describe('parseJson: duplicate keys', () => {
  const REJECT: ParseJsonOptions = { duplicateKeys: 'reject' };

  it('keeps the last value by default', () => {
    expect(parseJson('{"a":1,"b":2,"a":3}')).toEqual({ a: 3, b: 2 });
  });

  const duplicated = [
    '{"a":1,"a":2}',
    '{"a" : 1 ,\n "a"\t:\r2}',
    '{"a":1,"\\u0061":2}',
    '{"x":{"k":[1,{"y":1}],"k":0}}',
    '[{"ok":1},{"b":1,"c":{},"b":2}]',
    '{"\\ud83d\\ude00":1,"\u{1F600}":2}',
    '{"":1,"":2}',
  ];
  for (const text of duplicated) {
    it(`rejects ${JSON.stringify(text)} when asked`, () => {
      expect(parseError(() => parseJson(text, REJECT)).kind).toBe('value');
      expect(() => parseJson(text)).not.toThrow();
    });
  }

  const distinct = [
    '{"a":{"a":{"a":1}}}',
    '[{"a":1},{"a":2}]',
    '{"a":"a","b":"a","c":["a","a"]}',
    '{"a":1,"A":2,"a\\u0000":3,"\\u00e9":4,"e\\u0301":5}',
    '{"a":[1,2],"b":{"a":1}}',
  ];
  for (const text of distinct) {
    it(`accepts ${JSON.stringify(text)} with rejection on`, () => {
      expect(parseJson(text, REJECT)).toEqual(JSON.parse(text));
    });
  }
});

describe('parseJson: values', () => {
  it('keeps "__proto__" as an ordinary own key', () => {
    const v = parseJson('{"__proto__":{"polluted":true},"a":1}', STRICT) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(canonicalJson(v)).toBe('{"__proto__":{"polluted":true},"a":1}');
  });

  it('agrees with JSON.parse on random documents', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const chars = ['a', 'é', '"', '\\', '\n', '\u0000', '\u2028', '\u{1F600}', '日', '/', ' ', '1.5', 'e'];
    const str = (): string => {
      let s = '';
      for (let i = rnd(6); i > 0; i--) s += chars[rnd(chars.length)];
      return s;
    };
    const value = (depth: number): JsonValue => {
      switch (depth > 4 ? rnd(4) : rnd(6)) {
        case 0:
          return rnd(2) === 0 ? rnd(1_000_000) - 500_000 : Number.MAX_SAFE_INTEGER - rnd(10);
        case 1:
          return str();
        case 2:
          return [true, false, null][rnd(3)]!;
        case 3:
          return -rnd(100);
        case 4:
          return Array.from({ length: rnd(4) }, () => value(depth + 1));
        default: {
          const o: Record<string, JsonValue> = {};
          for (let i = rnd(4); i > 0; i--) o[str()] = value(depth + 1);
          return o;
        }
      }
    };
    for (let i = 0; i < 500; i++) {
      const v = value(0);
      const text = JSON.stringify(v, null, rnd(2) ? 2 : undefined);
      expect(parseJson(text, { strictNumbers: true, duplicateKeys: 'reject' })).toEqual(JSON.parse(text));
    }
  });
});

describe('parseJson: differential check against a small recursive-descent reference', () => {
  // The reference reads the (valid) text token by token and lists every problem the options
  // should refuse; parseJson must refuse exactly the texts that have one.
  interface Issues {
    number: boolean;
    surrogate: boolean;
    duplicate: boolean;
    maxDepth: number;
  }
  function reference(text: string): Issues {
    const out: Issues = { number: false, surrogate: false, duplicate: false, maxDepth: 0 };
    let i = 0;
    const ws = (): void => {
      while (/[ \t\n\r]/.test(text[i] ?? '')) i++;
    };
    const str = (): string => {
      const start = i;
      i++;
      while (text[i] !== '"') i += text[i] === '\\' ? (text[i + 1] === 'u' ? 6 : 2) : 1;
      i++;
      const raw = text.slice(start, i);
      const units = [...raw.matchAll(/\\(u[0-9a-fA-F]{4}|.)/g)].map((m) => m[1]!);
      for (let k = 0; k < units.length; k++) {
        const u = units[k]!.length === 5 ? parseInt(units[k]!.slice(1), 16) : -1;
        if (u >= 0xd800 && u <= 0xdbff) {
          const next = units[k + 1]?.length === 5 ? parseInt(units[k + 1]!.slice(1), 16) : -1;
          const adjacent = raw.indexOf('\\' + units[k]! + '\\' + units[k + 1]) !== -1;
          if (next >= 0xdc00 && next <= 0xdfff && adjacent) k++;
          else out.surrogate = true;
        } else if (u >= 0xdc00 && u <= 0xdfff) out.surrogate = true;
      }
      return JSON.parse(raw) as string;
    };
    const value = (depth: number): void => {
      ws();
      const c = text[i]!;
      if (c === '{' || c === '[') {
        out.maxDepth = Math.max(out.maxDepth, depth + 1);
        i++;
        const keys = new Set<string>();
        ws();
        if (text[i] === (c === '{' ? '}' : ']')) {
          i++;
          return;
        }
        for (;;) {
          if (c === '{') {
            ws();
            const k = str();
            if (keys.has(k)) out.duplicate = true;
            keys.add(k);
            ws();
            i++; // colon
          }
          value(depth + 1);
          ws();
          if (text[i++] !== ',') return;
        }
      }
      if (c === '"') {
        str();
        return;
      }
      const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
      if (m) {
        i += m[0].length;
        if (m[1] || m[2] || !Number.isSafeInteger(Number(m[0]))) out.number = true;
        return;
      }
      i += text.startsWith('true', i) || text.startsWith('null', i) ? 4 : 5;
    };
    value(0);
    return out;
  }

  const numbers = ['0', '-0', '7', '-12', '1.0', '-0.0', '1e5', '2E-3', '9007199254740991', '-9007199254740991', '9007199254740992', '12345678901234567', '1000000000000000'];
  const pieces = ['a', 'é', '\\"', '\\\\', '\\/', '\\n', '\\u0041', '\\ud83d\\ude00', '\\uD83D\\uDE00', '\\ud800', '\\udfff', '\\ud800\\u0041', '\\\\ud800', '\u{1F600}', '1.5', '{', ']'];
  const keys = ['a', '\\u0061', 'b', 'ab', 'é', '\\u00e9', ''];

  it('agrees on 3000 random documents in every option combination', () => {
    let seed = 1234;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const sp = (): string => [' ', '', '', '\n  ', '\t'][rnd(5)]!;
    const gen = (depth: number): string => {
      switch (depth === 0 ? 3 + rnd(2) : depth > 5 ? rnd(3) : rnd(5)) {
        case 0:
          return numbers[rnd(numbers.length)]!;
        case 1: {
          let s = '"';
          for (let k = rnd(4); k > 0; k--) s += pieces[rnd(pieces.length)];
          return s + '"';
        }
        case 2:
          return ['true', 'false', 'null'][rnd(3)]!;
        case 3:
          return '[' + sp() + Array.from({ length: rnd(4) }, () => gen(depth + 1)).join(sp() + ',' + sp()) + sp() + ']';
        default:
          return '{' + sp() + Array.from({ length: rnd(4) }, () => `"${keys[rnd(keys.length)]}"${sp()}:${sp()}${gen(depth + 1)}`).join(',' + sp()) + '}';
      }
    };
    const seen = { number: 0, surrogate: 0, duplicate: 0, clean: 0 };
    for (let n = 0; n < 3000; n++) {
      const text = sp() + gen(0) + sp();
      const ref = reference(text);
      for (const strictNumbers of [false, true]) {
        for (const duplicateKeys of ['last', 'reject'] as const) {
          const maxDepth = 1 + rnd(6);
          const shouldFail =
            ref.surrogate || (strictNumbers && ref.number) || (duplicateKeys === 'reject' && ref.duplicate) || ref.maxDepth > maxDepth;
          let failed: JsonParseError | null = null;
          try {
            expect(parseJson(text, { strictNumbers, duplicateKeys, maxDepth })).toEqual(JSON.parse(text));
          } catch (e) {
            if (!(e instanceof JsonParseError)) throw e;
            failed = e;
          }
          expect({ text, strictNumbers, duplicateKeys, maxDepth, failed: failed !== null }).toEqual({
            text,
            strictNumbers,
            duplicateKeys,
            maxDepth,
            failed: shouldFail,
          });
          if (failed) expect(failed.kind).toBe('value');
        }
      }
      if (ref.number) seen.number++;
      if (ref.surrogate) seen.surrogate++;
      if (ref.duplicate) seen.duplicate++;
      if (!ref.number && !ref.surrogate && !ref.duplicate) seen.clean++;
    }
    // The generator must actually exercise each kind of problem, and clean documents too.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(50);
  });
});

describe('parseJsonObject and parseJsonBytes', () => {
  it('parseJsonObject requires an object', () => {
    expect(parseJsonObject('{"a":1}')).toEqual({ a: 1 });
    for (const text of ['[]', '1', '"s"', 'null', 'true']) {
      const err = parseError(() => parseJsonObject(text));
      expect(err.kind).toBe('value');
      expect(err.errcode).toBe('M_BAD_JSON');
    }
    expect(parseError(() => parseJsonObject('{')).kind).toBe('syntax');
    expect(parseError(() => parseJsonObject('{"a":1.5}', STRICT)).kind).toBe('value');
  });

  it('parseJsonBytes decodes strict UTF-8 and ignores a BOM', () => {
    expect(parseJsonBytes(Buffer.from('{"a":"日本"}'))).toEqual({ a: '日本' });
    expect(parseJsonBytes(Buffer.from('\ufeff[1]'))).toEqual([1]);
    expect(parseError(() => parseJsonBytes(Buffer.from([0x22, 0xff, 0x22]))).kind).toBe('syntax');
    // An encoded lone surrogate (CESU-style ED A0 80) is invalid UTF-8.
    expect(parseError(() => parseJsonBytes(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).kind).toBe('syntax');
    expect(parseError(() => parseJsonBytes(Buffer.from('[1.5]'), STRICT)).kind).toBe('value');
  });
});
