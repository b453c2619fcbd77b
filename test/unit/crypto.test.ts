// Ed25519 keys and JSON signing (src/core/crypto) against the spec vectors and tweetnacl.
import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from '../../src/core/json/canonical.js';
import { decodeBase64, encodeBase64 } from '../../src/core/json/base64.js';
import { parseJsonObject } from '../../src/core/json/parse.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import {
  formatSigningKeyFile,
  generateSigningKey,
  isValidKeyVersion,
  parseSigningKeyFile,
  SigningKeyError,
  signingKeyFromSeed,
  verifyEd25519,
  type SigningKey,
} from '../../src/core/crypto/ed25519.js';
import {
  computeJsonSignature,
  jsonSigningBytes,
  listSignatureKeyIds,
  signJson,
  verifyJsonSignature,
} from '../../src/core/crypto/signing.js';

interface Vector {
  name: string;
  category: string;
  input: Record<string, unknown>;
  expected: Record<string, unknown>;
  signing_bytes?: string;
  intermediate?: Record<string, string>;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/test-vectors.json', import.meta.url), 'utf8')) as {
  about: { signing_key: { seed_base64: string; server_name: string; key_id: string; public_key_base64: string } };
  vectors: Vector[];
};
const specKey = fixture.about.signing_key;
const byCategory = (c: string): Vector[] => fixture.vectors.filter((v) => v.category === c);

function keyFromVector(input: Record<string, unknown>): SigningKey {
  const keyId = input.key_id as string;
  expect(keyId.startsWith('ed25519:')).toBe(true);
  return signingKeyFromSeed(keyId.slice('ed25519:'.length), input.seed_base64 as string);
}

/** Deterministic pseudo-random numbers so failures can be replayed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

const KEY_CHARS = ['a', 'z', 'A', '_', '0', 'é', 'ß', '日', '本', '\u{1F600}', '\u{10FFFF}', '\uFF61', '\u2028', '\u0000', '\n', '"', '\\', ' '];

function randomString(rnd: (n: number) => number, max = 8): string {
  let s = '';
  for (let i = rnd(max); i > 0; i--) s += KEY_CHARS[rnd(KEY_CHARS.length)];
  return s;
}

function randomValue(rnd: (n: number) => number, depth: number): JsonValue {
  switch (depth > 3 ? rnd(4) : rnd(6)) {
    case 0:
      return rnd(2) ? rnd(2 ** 31) - 2 ** 30 : (rnd(2) ? 1 : -1) * (Number.MAX_SAFE_INTEGER - rnd(1000));
    case 1:
      return randomString(rnd, 20);
    case 2:
      return [true, false, null][rnd(3)]!;
    case 3:
      return rnd(2) ? 0 : -0;
    case 4:
      return Array.from({ length: rnd(5) }, () => randomValue(rnd, depth + 1));
    default:
      return randomObject(rnd, depth + 1);
  }
}

function randomObject(rnd: (n: number) => number, depth: number): JsonObject {
  const o: JsonObject = {};
  for (let i = rnd(6); i > 0; i--) o[randomString(rnd)] = randomValue(rnd, depth);
  return o;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

describe('signing key vectors', () => {
  it('derives the spec public key from the spec seed', () => {
    const vectors = byCategory('signing_key');
    expect(vectors.length).toBeGreaterThan(0);
    for (const v of vectors) {
      const key = keyFromVector(v.input);
      expect(key.publicKey).toBe((v.expected as { public_key_base64: string }).public_key_base64);
      expect(key.keyId).toBe(v.input.key_id);
      expect(key.algorithm).toBe('ed25519');
    }
    expect(signingKeyFromSeed('1', specKey.seed_base64).publicKey).toBe(specKey.public_key_base64);
  });

  it('agrees with tweetnacl on the public key for random seeds', () => {
    for (let i = 0; i < 50; i++) {
      const key = generateSigningKey();
      expect(key.publicKey).toBe(encodeBase64(nacl.sign.keyPair.fromSeed(key.seed).publicKey));
    }
  });
});

describe('JSON signing vectors (appendices#signing-json)', () => {
  const vectors = byCategory('json_signing');

  it('the fixture has them', () => expect(vectors.length).toBeGreaterThanOrEqual(2));

  for (const v of vectors) {
    it(v.name, () => {
      const key = keyFromVector(v.input);
      const obj = deepFreeze(structuredClone(v.input.object as JsonObject));
      const entity = v.input.server_name as string;
      expect(jsonSigningBytes(obj).toString('utf8')).toBe(v.signing_bytes);
      const signed = signJson(obj, entity, key);
      expect(signed).toEqual(v.expected);
      // Key order of the result does not matter; its canonical form must match the vector's.
      expect(canonicalJson(signed)).toBe(canonicalJson(v.expected));
      expect(verifyJsonSignature(signed, entity, key.keyId, key.publicKey)).toBe(true);
      expect(verifyJsonSignature(v.expected as JsonObject, entity, key.keyId, specKey.public_key_base64)).toBe(true);
      expect(listSignatureKeyIds(signed, entity)).toEqual([key.keyId]);
    });
  }
});

describe('event signing vectors: the signature over the redacted form given in the vector', () => {
  // Hashing and redaction belong to src/core/events; here only the signature step is checked, over
  // the redacted signing input the vector spells out.
  const vectors = byCategory('event_signing').filter((v) => v.intermediate?.redacted_signing_input_v1_rules);

  it('the fixture has them', () => expect(vectors.length).toBeGreaterThanOrEqual(2));

  for (const v of vectors) {
    it(v.name, () => {
      const key = keyFromVector(v.input);
      const entity = v.input.server_name as string;
      const redacted = parseJsonObject(v.intermediate!.redacted_signing_input_v1_rules!, { strictNumbers: true });
      const expectedSig = ((v.expected.signatures as JsonObject)[entity] as JsonObject)[key.keyId] as string;
      // The intermediate text is already canonical.
      expect(canonicalJson(redacted)).toBe(v.intermediate!.redacted_signing_input_v1_rules);
      expect(computeJsonSignature(redacted, key)).toBe(expectedSig);
      expect(signJson(redacted, entity, key).signatures).toEqual(v.expected.signatures);
      expect(verifyEd25519(key.publicKey, canonicalJsonBytes(redacted), expectedSig)).toBe(true);
    });
  }
});

describe('interoperability with tweetnacl', () => {
  it('our signatures verify with tweetnacl and tweetnacl signatures verify with ours (300 random objects)', () => {
    const rnd = rng(0x5eed);
    const ours = generateSigningKey();
    const theirs = nacl.sign.keyPair();
    const theirsB64 = encodeBase64(theirs.publicKey);
    for (let i = 0; i < 300; i++) {
      const obj = randomObject(rnd, 0);
      if (rnd(3) === 0) obj.unsigned = { age: rnd(1000) };
      const bytes = jsonSigningBytes(obj);

      const signed = signJson(obj, 'ours.example', ours);
      const ourSig = decodeBase64(((signed.signatures as JsonObject)['ours.example'] as JsonObject)[ours.keyId] as string);
      expect(nacl.sign.detached.verify(bytes, ourSig, decodeBase64(ours.publicKey))).toBe(true);
      // Deterministic signatures: both libraries produce the same bytes for the same key.
      const naclOfOurs = nacl.sign.detached(bytes, nacl.sign.keyPair.fromSeed(ours.seed).secretKey);
      expect(encodeBase64(naclOfOurs)).toBe(encodeBase64(ourSig));

      const theirSig = encodeBase64(nacl.sign.detached(bytes, theirs.secretKey));
      const withTheirs: JsonObject = {
        ...signed,
        signatures: { ...(signed.signatures as JsonObject), 'theirs.example': { 'ed25519:t': theirSig } },
      };
      expect(verifyJsonSignature(withTheirs, 'theirs.example', 'ed25519:t', theirsB64)).toBe(true);
      expect(verifyJsonSignature(withTheirs, 'ours.example', ours.keyId, ours.publicKey)).toBe(true);
      // And a round trip through text, as it travels.
      const reparsed = parseJsonObject(JSON.stringify(withTheirs), { strictNumbers: true, duplicateKeys: 'reject' });
      expect(verifyJsonSignature(reparsed, 'theirs.example', 'ed25519:t', theirsB64)).toBe(true);
    }
  });

  it('raw verifyEd25519 agrees with tweetnacl on valid and corrupted signatures', () => {
    const rnd = rng(99);
    const kp = nacl.sign.keyPair();
    const pk = encodeBase64(kp.publicKey);
    for (let i = 0; i < 200; i++) {
      const msg = Uint8Array.from({ length: rnd(300) }, () => rnd(256));
      const sig = nacl.sign.detached(msg, kp.secretKey);
      expect(verifyEd25519(pk, msg, encodeBase64(sig))).toBe(true);
      const bad = Uint8Array.from(sig);
      bad[rnd(64)]! ^= 1 << rnd(8);
      expect(verifyEd25519(pk, msg, encodeBase64(bad))).toBe(nacl.sign.detached.verify(msg, bad, kp.publicKey));
    }
  });
});

describe('verifyJsonSignature and signJson behaviour', () => {
  const key = signingKeyFromSeed('1', specKey.seed_base64);
  const other = generateSigningKey('other');
  const base = deepFreeze({
    type: 'm.test',
    content: { body: 'hello 日本 \u{1F600}', n: 42, list: [1, 'two', null, { x: true }] },
    unsigned: { age_ts: 5 },
  }) as JsonObject;
  const signed = signJson(base, 'domain', key);

  it('does not mutate its input, keeps unsigned, and does not cover unsigned', () => {
    expect(base.signatures).toBeUndefined();
    expect(signed.unsigned).toEqual({ age_ts: 5 });
    expect(verifyJsonSignature({ ...signed, unsigned: { age_ts: 999, extra: 'x' } }, 'domain', key.keyId, key.publicKey)).toBe(true);
    const { unsigned: _u, ...withoutUnsigned } = signed;
    expect(verifyJsonSignature(withoutUnsigned, 'domain', key.keyId, key.publicKey)).toBe(true);
  });

  it('merges signatures from several servers and key IDs, each verifiable', () => {
    const k2 = generateSigningKey();
    let obj = signJson(signed, 'domain', k2);
    obj = signJson(obj, 'other.example', other);
    obj = deepFreeze(obj);
    const twice = signJson(obj, 'domain', key); // re-signing with the same key is idempotent
    expect(twice).toEqual(obj);
    expect(listSignatureKeyIds(obj, 'domain').sort()).toEqual([key.keyId, k2.keyId].sort());
    expect(listSignatureKeyIds(obj, 'other.example')).toEqual(['ed25519:other']);
    expect(listSignatureKeyIds(obj, 'nobody.example')).toEqual([]);
    expect(verifyJsonSignature(obj, 'domain', key.keyId, key.publicKey)).toBe(true);
    expect(verifyJsonSignature(obj, 'domain', k2.keyId, k2.publicKey)).toBe(true);
    expect(verifyJsonSignature(obj, 'other.example', 'ed25519:other', other.publicKey)).toBe(true);
    // Adding signatures never changes what an earlier signature covers.
    expect(jsonSigningBytes(obj)).toEqual(jsonSigningBytes(base));
  });

  it('fails on a tampered object, signature, key, entity or key ID', () => {
    const sig = ((signed.signatures as JsonObject).domain as JsonObject)[key.keyId] as string;
    const withSig = (s: string): JsonObject => ({ ...signed, signatures: { domain: { [key.keyId]: s } } });
    expect(verifyJsonSignature({ ...signed, type: 'm.other' }, 'domain', key.keyId, key.publicKey)).toBe(false);
    expect(verifyJsonSignature({ ...signed, extra: 1 }, 'domain', key.keyId, key.publicKey)).toBe(false);
    expect(
      verifyJsonSignature({ ...signed, content: { ...(signed.content as JsonObject), n: 43 } }, 'domain', key.keyId, key.publicKey),
    ).toBe(false);
    const flipped = (sig[10] === 'A' ? 'B' : 'A');
    expect(verifyJsonSignature(withSig(sig.slice(0, 10) + flipped + sig.slice(11)), 'domain', key.keyId, key.publicKey)).toBe(false);
    expect(verifyJsonSignature(signed, 'domain', key.keyId, other.publicKey)).toBe(false);
    expect(verifyJsonSignature(signed, 'other.example', key.keyId, key.publicKey)).toBe(false);
    expect(verifyJsonSignature(signed, 'domain', 'ed25519:2', key.publicKey)).toBe(false);
  });

  it('returns false, never throws, on malformed input', () => {
    const pk = key.publicKey;
    const id = key.keyId;
    const sig = ((signed.signatures as JsonObject).domain as JsonObject)[id] as string;
    const withSig = (s: JsonValue): JsonObject => ({ ...signed, signatures: { domain: { [id]: s } } });
    const cases: [JsonObject, string, string, string][] = [
      [withSig('!!!not base64!!!'), 'domain', id, pk],
      [withSig(''), 'domain', id, pk],
      [withSig(sig.slice(0, 80)), 'domain', id, pk], // too short
      [withSig(sig + 'AAAA'), 'domain', id, pk], // too long
      [withSig(sig.replace(/\+/g, '-').replace(/\//g, '_') + (/[+/]/.test(sig) ? '' : '-')), 'domain', id, pk],
      [withSig(42), 'domain', id, pk],
      [withSig(null), 'domain', id, pk],
      [withSig({ nested: sig }), 'domain', id, pk],
      [{ ...signed, signatures: 'nope' }, 'domain', id, pk],
      [{ ...signed, signatures: [] }, 'domain', id, pk],
      [{ ...signed, signatures: { domain: 'x' } }, 'domain', id, pk],
      [{ ...signed, signatures: null }, 'domain', id, pk],
      [{ type: 'x' }, 'domain', id, pk],
      [signed, 'domain', id, '!!!'],
      [signed, 'domain', id, ''],
      [signed, 'domain', id, encodeBase64(new Uint8Array(31))],
      [signed, 'domain', id, encodeBase64(new Uint8Array(33))],
      [signed, 'domain', 'curve25519:1', pk],
      [signed, 'domain', 'ed25519', pk],
      [signed, '__proto__', id, pk],
      [signed, 'constructor', id, pk],
      [{ ...signed, float: 1.5 }, 'domain', id, pk], // cannot be canonicalised
      [{ ...signed, big: 2 ** 60 }, 'domain', id, pk],
      [{ ...signed, lone: '\ud800' }, 'domain', id, pk],
    ];
    for (const [obj, entity, keyId, publicKey] of cases) {
      expect(() => verifyJsonSignature(obj, entity, keyId, publicKey)).not.toThrow();
      expect(verifyJsonSignature(obj, entity, keyId, publicKey)).toBe(false);
    }
    // Not even with values the types forbid.
    const anyVerify = verifyJsonSignature as (...args: unknown[]) => boolean;
    for (const args of [[null, 'domain', id, pk], [signed, 'domain', undefined, pk], [signed, 'domain', id, undefined], [signed, 'domain', id, 7]]) {
      expect(anyVerify(...args)).toBe(false);
    }
    const anyEd = verifyEd25519 as (...args: unknown[]) => boolean;
    expect(anyEd(undefined, new Uint8Array(1), sig)).toBe(false);
    expect(anyEd(pk, new Uint8Array(1), undefined)).toBe(false);
  });

  it('accepts padded base64 signatures and keys, as the spec asks of receivers', () => {
    const sig = ((signed.signatures as JsonObject).domain as JsonObject)[key.keyId] as string;
    const padded = { ...signed, signatures: { domain: { [key.keyId]: sig + '==' } } };
    expect(verifyJsonSignature(padded, 'domain', key.keyId, key.publicKey + '=')).toBe(true);
  });

  it('an entity or key ID named like an Object.prototype member stays an own property', () => {
    const obj: JsonObject = signJson({ a: 1 }, '__proto__', key);
    expect(Object.keys(obj.signatures as JsonObject)).toEqual(['__proto__']);
    expect(verifyJsonSignature(obj, '__proto__', key.keyId, key.publicKey)).toBe(true);
    expect(listSignatureKeyIds(obj, '__proto__')).toEqual([key.keyId]);
  });

  it('signJson refuses a malformed signatures member instead of dropping it', () => {
    expect(() => signJson({ signatures: 'x' } as JsonObject, 'domain', key)).toThrow(TypeError);
    expect(() => signJson({ signatures: { domain: [] } } as JsonObject, 'domain', key)).toThrow(TypeError);
    expect(() => signJson({ f: 0.5 }, 'domain', key)).toThrow(/non-integer/);
  });

  it('listSignatureKeyIds ignores unknown algorithms and non-string values', () => {
    const obj: JsonObject = {
      signatures: { s: { 'ed25519:a': 'x', 'ed25519:b': 1, 'curve25519:c': 'y', 'ed25519_x:d': 'z', ed25519: 'w' } },
    };
    expect(listSignatureKeyIds(obj, 's')).toEqual(['ed25519:a']);
    expect(listSignatureKeyIds({ signatures: [] }, 's')).toEqual([]);
    expect(listSignatureKeyIds({}, 's')).toEqual([]);
  });
});

describe('signing keys', () => {
  it('generates Synapse-style versions a_XXXX with fresh seeds', () => {
    const a = generateSigningKey();
    const b = generateSigningKey();
    expect(a.version).toMatch(/^a_[A-Za-z0-9]{4}$/);
    expect(a.keyId).toBe(`ed25519:${a.version}`);
    expect(a.seed).toHaveLength(32);
    expect(a.seed.equals(b.seed)).toBe(false);
    expect(decodeBase64(a.publicKey)).toHaveLength(32);
    expect(a.publicKey).not.toMatch(/=/);
    expect(generateSigningKey('my_key_1').keyId).toBe('ed25519:my_key_1');
  });

  it('signs with unpadded base64 and verifies', () => {
    const k = generateSigningKey();
    const msg = Buffer.from('hello');
    const sig = k.sign(msg);
    expect(sig).toMatch(/^[A-Za-z0-9+/]{86}$/);
    expect(verifyEd25519(k.publicKey, msg, sig)).toBe(true);
    expect(verifyEd25519(k.publicKey, Buffer.from('hellO'), sig)).toBe(false);
    // Works for a Uint8Array view into a larger buffer too.
    const big = new Uint8Array(20);
    big.set(msg, 7);
    expect(verifyEd25519(k.publicKey, big.subarray(7, 12), sig)).toBe(true);
    expect(k.sign(big.subarray(7, 12))).toBe(sig);
  });

  it('rejects versions outside [A-Za-z0-9_] with a clear error', () => {
    for (const bad of ['', 'a:b', 'a-b', 'a b', 'é', 'a.b', 'a/b', '\u{1F600}']) {
      expect(isValidKeyVersion(bad)).toBe(false);
      expect(() => generateSigningKey(bad)).toThrow(SigningKeyError);
      expect(() => signingKeyFromSeed(bad, new Uint8Array(32))).toThrow(/\[A-Za-z0-9_\]/);
    }
    expect(isValidKeyVersion('a_Z9')).toBe(true);
  });

  it('rejects seeds that are not 32 bytes or not base64', () => {
    expect(() => signingKeyFromSeed('1', new Uint8Array(31))).toThrow(/32 bytes/);
    expect(() => signingKeyFromSeed('1', new Uint8Array(64))).toThrow(/32 bytes/);
    expect(() => signingKeyFromSeed('1', 'not base64!')).toThrow(SigningKeyError);
    expect(() => signingKeyFromSeed('1', 'AAAA')).toThrow(/32 bytes/);
    // Padded base64 is accepted.
    expect(signingKeyFromSeed('1', specKey.seed_base64 + '=').publicKey).toBe(specKey.public_key_base64);
  });

  it('copies a seed given as bytes', () => {
    const seed = new Uint8Array(decodeBase64(specKey.seed_base64));
    const k = signingKeyFromSeed('1', seed);
    const copy = Buffer.from(seed);
    seed.fill(0);
    expect(k.seed.equals(copy)).toBe(true);
    expect(k.publicKey).toBe(specKey.public_key_base64);
  });
});

describe('signing key file (Synapse signing.key format)', () => {
  it('round-trips', () => {
    const keys = [generateSigningKey(), generateSigningKey('old_1'), signingKeyFromSeed('1', specKey.seed_base64)];
    const text = formatSigningKeyFile(keys);
    expect(text.split('\n')).toHaveLength(4);
    expect(text).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n/);
    // The spec's seed text has non-zero trailing bits in its last character ('1'); we write the
    // canonical encoding of the same 32 bytes, which decodes identically.
    const canonicalSeed = encodeBase64(decodeBase64(specKey.seed_base64));
    expect(decodeBase64(canonicalSeed).equals(decodeBase64(specKey.seed_base64))).toBe(true);
    expect(text.endsWith(`ed25519 1 ${canonicalSeed}\n`)).toBe(true);
    const back = parseSigningKeyFile(text);
    expect(back.map((k) => [k.keyId, k.publicKey, encodeBase64(k.seed)])).toEqual(
      keys.map((k) => [k.keyId, k.publicKey, encodeBase64(k.seed)]),
    );
    expect(formatSigningKeyFile(back)).toBe(text);
  });

  it('reads a file with blank lines, CRLF and extra spaces', () => {
    const text = `\r\n  ed25519   a_AbCd   ${specKey.seed_base64}  \r\n\n`;
    const [k, ...rest] = parseSigningKeyFile(text);
    expect(rest).toEqual([]);
    expect(k!.keyId).toBe('ed25519:a_AbCd');
    expect(k!.publicKey).toBe(specKey.public_key_base64);
    expect(parseSigningKeyFile('')).toEqual([]);
  });

  it('names the line of a malformed entry', () => {
    const good = `ed25519 a ${specKey.seed_base64}\n`;
    expect(() => parseSigningKeyFile(good + `curve25519 b ${specKey.seed_base64}\n`)).toThrow(/line 2: unsupported algorithm/);
    expect(() => parseSigningKeyFile(good + 'ed25519 b\n')).toThrow(/line 2/);
    expect(() => parseSigningKeyFile(`ed25519 a:b ${specKey.seed_base64}`)).toThrow(/line 1: invalid signing key version/);
    expect(() => parseSigningKeyFile('ed25519 a AAAA')).toThrow(/line 1: .*32 bytes/);
    expect(() => parseSigningKeyFile(`ed25519 a ${specKey.seed_base64} extra`)).toThrow(SigningKeyError);
  });
});
