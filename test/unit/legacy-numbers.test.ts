// Numbers canonical JSON has no room for (fractions, integers beyond ±(2^53-1)) in room versions 1-5
// and in federation request bodies: encoded as Synapse's Python json module writes them, so that
// hashes and signatures over such events match, and refused as before everywhere else. Expected
// texts and digests were produced with Python 3's json.dumps(sort_keys=True,
// separators=(',', ':'), ensure_ascii=False), which is what Synapse's canonicaljson runs.
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { addContentHash, checkContentHash, computeContentHash, computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent, verifyEventSignature } from '../../src/core/events/signing.js';
import { decodeBase64, encodeBase64 } from '../../src/core/json/base64.js';
import { canonicalJson, pythonNumber } from '../../src/core/json/canonical.js';
import { parseJson } from '../../src/core/json/parse.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { parseXMatrixHeader, signRequest, verifyRequestSignature } from '../../src/federation/x-matrix.js';

/** [JSON number text as Python wrote it, Python's json.dumps of the parsed value]. */
const PYTHON_FLOATS: [string, string][] = [
  ['1.5', '1.5'],
  ['0.1', '0.1'],
  ['-0.5', '-0.5'],
  ['1e-05', '1e-05'],
  ['0.0001', '0.0001'],
  ['0.0001234', '0.0001234'],
  ['1e-07', '1e-07'],
  ['1e+16', '1e+16'],
  ['1.5e+16', '1.5e+16'],
  ['1234567890123456.8', '1234567890123456.8'],
  ['1000000000000000.5', '1000000000000000.5'],
  ['9007199254740994.0', '9007199254740994.0'],
  ['1e+300', '1e+300'],
  ['-2.5e-10', '-2.5e-10'],
  ['123.456', '123.456'],
  ['5e-324', '5e-324'],
  ['1.7976931348623157e+308', '1.7976931348623157e+308'],
  ['0.30000000000000004', '0.30000000000000004'],
  ['1e+22', '1e+22'],
  ['1e+21', '1e+21'],
  ['12345678.9', '12345678.9'],
  ['99999999999999.98', '99999999999999.98'],
];

describe('pythonNumber', () => {
  it.each(PYTHON_FLOATS)('%s is written as Python writes it', (text, python) => {
    expect(pythonNumber(Number(text))).toBe(python);
  });

  it('agrees however JavaScript spells the same double (1e-7, 1e21, 0.00001)', () => {
    expect(pythonNumber(1e-7)).toBe('1e-07');
    expect(pythonNumber(1e21)).toBe('1e+21');
    expect(pythonNumber(0.00001)).toBe('1e-05');
    expect(pythonNumber(-1e16)).toBe('-1e+16');
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => pythonNumber(Number.NaN)).toThrow();
    expect(() => pythonNumber(Number.POSITIVE_INFINITY)).toThrow();
  });
});

describe('canonicalJson with legacyNumbers', () => {
  it('is unchanged for canonical values and still strict without the option', () => {
    const value = { b: [1, -2, 9007199254740991], a: 'x', c: { z: null, y: true } };
    expect(canonicalJson(value, { legacyNumbers: true })).toBe(canonicalJson(value));
    expect(() => canonicalJson({ a: 1.5 })).toThrow(/non-integer/);
    expect(() => canonicalJson({ a: 2 ** 60 })).toThrow(/outside/);
  });

  it('encodes nested fractions and huge numbers as Python does', () => {
    const value = parseJson('{"z":[1,2.5,-3.75],"a":{"small":1e-05,"big":1.5e+16,"huge":9007199254740994.0}}');
    expect(canonicalJson(value, { legacyNumbers: true })).toBe(
      '{"a":{"big":1.5e+16,"huge":9007199254740994.0,"small":1e-05},"z":[1,2.5,-3.75]}',
    );
  });
});

// An event whose content hash Python computed over its json.dumps text:
// {"auth_events":[],"content":{"body":"fraction","nested":{"big":1.5e+16,"list":[1,2.5,-3.75],"small":1e-05},"ratio":0.25},...}
const FLOAT_EVENT: JsonObject = {
  auth_events: [],
  content: { body: 'fraction', ratio: 0.25, nested: { small: 1e-5, big: 1.5e16, list: [1, 2.5, -3.75] } },
  depth: 3,
  origin: 'example.org',
  origin_server_ts: 1600000000000,
  prev_events: [],
  room_id: '!r:example.org',
  sender: '@u:example.org',
  type: 'org.example.float',
};
const PYTHON_CONTENT_HASH = 'dOr9b6gHZ5BkkVN0hS8sy3pV1K2Wbdzp0WRl+idUA9A';

describe('events with fractions', () => {
  const key = signingKeyFromSeed('1', Buffer.alloc(32, 9));

  it.each(['1', '2', '3', '4', '5'])('room version %s: the content hash matches the one Synapse computes', (id) => {
    const version = requireRoomVersion(id);
    expect(computeContentHash(FLOAT_EVENT, version)).toBe(PYTHON_CONTENT_HASH);
    expect(checkContentHash({ ...FLOAT_EVENT, hashes: { sha256: PYTHON_CONTENT_HASH } }, version)).toBe(true);
    expect(checkContentHash({ ...FLOAT_EVENT, content: { ratio: 0.5 }, hashes: { sha256: PYTHON_CONTENT_HASH } }, version)).toBe(false);
  });

  it.each(['6', '10', '11', '12'])('room version %s: a fraction cannot be hashed, and a claimed hash does not match', (id) => {
    const version = requireRoomVersion(id);
    expect(() => computeContentHash(FLOAT_EVENT, version)).toThrow(/outside ±\(2\^53-1\)|non-integer/);
    expect(checkContentHash({ ...FLOAT_EVENT, hashes: { sha256: PYTHON_CONTENT_HASH } }, version)).toBe(false);
  });

  it('room version 5: signing, verifying and the event ID work when a fraction survives redaction', () => {
    const v5 = requireRoomVersion('5');
    // Power levels keep their `users` map through redaction, so the fraction is in what is signed.
    const pl: JsonObject = {
      ...FLOAT_EVENT,
      type: 'm.room.power_levels',
      state_key: '',
      content: { users: { '@u:example.org': 100, '@v:example.org': 50.5 } },
    };
    const signed = hashAndSignEvent(pl, 'example.org', key, v5);
    expect(verifyEventSignature(signed, 'example.org', key.keyId, key.publicKey, v5)).toBe(true);
    expect(verifyEventSignature({ ...signed, content: { users: { '@u:example.org': 100, '@v:example.org': 50.25 } } }, 'example.org', key.keyId, key.publicKey, v5)).toBe(false);
    expect(computeEventId(signed, v5)).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(checkContentHash(signed, v5)).toBe(true);
    expect(addContentHash(pl, v5).hashes.sha256).toBe(signed.hashes.sha256);
  });
});

describe('X-Matrix request signatures over bodies with fractions', () => {
  const seed = Buffer.alloc(32, 3);
  const key = signingKeyFromSeed('a', seed);
  const body = parseJson('{"pdus":[{"content":{"ratio":0.25,"tiny":1e-05,"big":1.5e+16}}]}');
  const request = { method: 'PUT', uri: '/_matrix/federation/v1/send/1', origin: 'a.example', destination: 'b.example', content: body };

  it('verifies a signature Synapse would make (tweetnacl over the Python-encoded bytes)', () => {
    const pythonText =
      '{"content":{"pdus":[{"content":{"big":1.5e+16,"ratio":0.25,"tiny":1e-05}}]},"destination":"b.example","method":"PUT","origin":"a.example","uri":"/_matrix/federation/v1/send/1"}';
    const pair = nacl.sign.keyPair.fromSeed(seed);
    const sig = encodeBase64(nacl.sign.detached(Buffer.from(pythonText, 'utf8'), pair.secretKey));
    expect(encodeBase64(pair.publicKey)).toBe(key.publicKey);
    const params = { origin: 'a.example', destination: 'b.example', key: key.keyId, sig };
    expect(verifyRequestSignature({ method: 'PUT', uri: request.uri, content: body }, params, 'b.example', key.publicKey)).toBe(true);
    const other = parseJson('{"pdus":[{"content":{"ratio":0.5,"tiny":1e-05,"big":1.5e+16}}]}');
    expect(verifyRequestSignature({ method: 'PUT', uri: request.uri, content: other }, params, 'b.example', key.publicKey)).toBe(false);
  });

  it('signs such a body the way Synapse checks it', () => {
    const header = signRequest(request, key);
    const params = parseXMatrixHeader(header);
    expect(params).toBeDefined();
    const pythonText =
      '{"content":{"pdus":[{"content":{"big":1.5e+16,"ratio":0.25,"tiny":1e-05}}]},"destination":"b.example","method":"PUT","origin":"a.example","uri":"/_matrix/federation/v1/send/1"}';
    const ok = nacl.sign.detached.verify(Buffer.from(pythonText, 'utf8'), decodeBase64(params!.sig), decodeBase64(key.publicKey));
    expect(ok).toBe(true);
  });
});
