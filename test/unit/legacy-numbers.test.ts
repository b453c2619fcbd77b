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
import type { RoomVersion } from '../../src/core/events/room-versions.js';
import { canonicalJson, canonicallyEqual, firstNonCanonicalNumber, pythonNumber, PythonFloat } from '../../src/core/json/canonical.js';
import { parseJson } from '../../src/core/json/parse.js';
import { mayHoldPythonOnlyNumbers, parseJsonPreservingNumbers } from '../../src/core/json/preserving-parse.js';
import { checkPdus, type CheckedPdu } from '../../src/federation/inbound/pdu-checks.js';
import type { KeyRing } from '../../src/federation/keys.js';
import { authenticateFederationRequest } from '../../src/http/federation/route.js';
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

  it('encodes a JavaScript value as Python reads the JSON.stringify text of it (what we send)', () => {
    const value = { z: [1, 2.5, -3.75], a: { small: 1e-5, big: 1.5e16, huge: 9007199254740994, vast: 1e21 } };
    expect(JSON.stringify(value)).toBe('{"z":[1,2.5,-3.75],"a":{"small":0.00001,"big":15000000000000000,"huge":9007199254740994,"vast":1e+21}}');
    // Python 3 json.dumps(json.loads(that text), sort_keys=True, separators=(',', ':')):
    expect(canonicalJson(value, { legacyNumbers: true })).toBe(
      '{"a":{"big":15000000000000000,"huge":9007199254740994,"small":1e-05,"vast":1e+21},"z":[1,2.5,-3.75]}',
    );
  });

  it('encodes what parseJsonPreservingNumbers read from a Python text exactly as Python wrote it', () => {
    const text = '{"a":{"big":1.5e+16,"huge":9007199254740994.0,"small":1e-05},"z":[1,2.5,-3.75]}';
    expect(canonicalJson(parseJsonPreservingNumbers(text), { legacyNumbers: true })).toBe(text);
  });
});

// An event whose content hash Python computed over its json.dumps text:
// {"auth_events":[],"content":{"body":"fraction","nested":{"big":1.5e+16,"list":[1,2.5,-3.75],"small":1e-05},"ratio":0.25},...}
const FLOAT_EVENT = {
  auth_events: [],
  // 1.5e+16 is a float to Python; a JavaScript number that size would be sent (and read) as an int.
  content: { body: 'fraction', ratio: 0.25, nested: { small: 1e-5, big: new PythonFloat(1.5e16), list: [1, 2.5, -3.75] } },
  depth: 3,
  origin: 'example.org',
  origin_server_ts: 1600000000000,
  prev_events: [],
  room_id: '!r:example.org',
  sender: '@u:example.org',
  type: 'org.example.float',
} as unknown as JsonObject;
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
  // As a Python server sends it, read the way the federation route reads it when a signature fails.
  const bodyText = '{"pdus":[{"content":{"ratio":0.25,"tiny":1e-05,"big":1.5e+16}}]}';
  const body = parseJsonPreservingNumbers(bodyText) as JsonObject;

  it('verifies a signature Synapse would make (tweetnacl over the Python-encoded bytes)', () => {
    const pythonText =
      '{"content":{"pdus":[{"content":{"big":1.5e+16,"ratio":0.25,"tiny":1e-05}}]},"destination":"b.example","method":"PUT","origin":"a.example","uri":"/_matrix/federation/v1/send/1"}';
    const pair = nacl.sign.keyPair.fromSeed(seed);
    const sig = encodeBase64(nacl.sign.detached(Buffer.from(pythonText, 'utf8'), pair.secretKey));
    expect(encodeBase64(pair.publicKey)).toBe(key.publicKey);
    const params = { origin: 'a.example', destination: 'b.example', key: key.keyId, sig };
    const uri = '/_matrix/federation/v1/send/1';
    expect(verifyRequestSignature({ method: 'PUT', uri, content: body }, params, 'b.example', key.publicKey)).toBe(true);
    const other = parseJsonPreservingNumbers('{"pdus":[{"content":{"ratio":0.5,"tiny":1e-05,"big":1.5e+16}}]}') as JsonObject;
    expect(verifyRequestSignature({ method: 'PUT', uri, content: other }, params, 'b.example', key.publicKey)).toBe(false);
    expect(bodyText).toContain('1.5e+16');
  });

  it('signs a body of ours the way Synapse checks it (over Python\'s reading of the JSON we send)', () => {
    const ours = { pdus: [{ content: { ratio: 0.25, tiny: 1e-5, big: 1.5e16 } }] };
    expect(JSON.stringify(ours)).toBe('{"pdus":[{"content":{"ratio":0.25,"tiny":0.00001,"big":15000000000000000}}]}');
    const header = signRequest({ method: 'PUT', uri: '/_matrix/federation/v1/send/1', origin: 'a.example', destination: 'b.example', content: ours }, key);
    const params = parseXMatrixHeader(header);
    expect(params).toBeDefined();
    const pythonText =
      '{"content":{"pdus":[{"content":{"big":15000000000000000,"ratio":0.25,"tiny":1e-05}}]},"destination":"b.example","method":"PUT","origin":"a.example","uri":"/_matrix/federation/v1/send/1"}';
    const ok = nacl.sign.detached.verify(Buffer.from(pythonText, 'utf8'), decodeBase64(params!.sig), decodeBase64(key.publicKey));
    expect(ok).toBe(true);
  });
});

describe('parseJsonPreservingNumbers: numbers as Python reads them', () => {
  it('keeps floats written as floats, exact huge integers, and __proto__ as data; encodes like Python', () => {
    const text = '{"z":2.0,"b":1e5,"c":12345678901234567890,"d":-0,"e":[1.5,-2.50,3E-7],"__proto__":{"x":1},"s":"2.0"}';
    const v = parseJsonPreservingNumbers(text) as Record<string, unknown>;
    expect(v.z).toBeInstanceOf(PythonFloat);
    expect(v.c).toBe(12345678901234567890n);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toContain('__proto__');
    // Python 3: json.dumps(json.loads(text), sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    expect(canonicalJson(v, { legacyNumbers: true })).toBe('{"__proto__":{"x":1},"b":100000.0,"c":12345678901234567890,"d":0,"e":[1.5,-2.5,3e-07],"s":"2.0","z":2.0}');
    expect(() => canonicalJson(v)).toThrow();
  });

  it('agrees with JSON.parse on everything else, and refuses what is not JSON', () => {
    const text = '{"a":[1,-2,{"b":"\\u00e9\\n\\"q\\""},true,false,null,[]],"c":{},"a2":9007199254740991}';
    expect(parseJsonPreservingNumbers(text)).toEqual(JSON.parse(text));
    expect(parseJsonPreservingNumbers('{"k":1,"k":2}')).toEqual({ k: 2 });
    for (const bad of ['', '{', '{"a":}', '[1,]', '01', '{"a":1}x', '"\u0001"', 'nul']) expect(() => parseJsonPreservingNumbers(bad), bad).toThrow();
    expect(() => parseJsonPreservingNumbers('['.repeat(600) + ']'.repeat(600))).toThrow(/deep/);
  });

  it('mayHoldPythonOnlyNumbers is a cheap pre-check without false negatives', () => {
    expect(mayHoldPythonOnlyNumbers('{"a":2.0}')).toBe(true);
    expect(mayHoldPythonOnlyNumbers('{"a":1e5}')).toBe(true);
    expect(mayHoldPythonOnlyNumbers('{"a":12345678901234567890}')).toBe(true);
    expect(mayHoldPythonOnlyNumbers('{"a":12,"b":"x"}')).toBe(false);
  });
});

describe('v1-v5 PDUs and request bodies holding "5.0" or huge integers', () => {
  const key = signingKeyFromSeed('1', Buffer.alloc(32, 5));
  const keyRing = {
    verifyEventSignatures: async (items: { pdu: JsonObject; version: RoomVersion }[]) =>
      items.map(({ pdu, version }) => (verifyEventSignature(pdu, 'example.org', key.keyId, key.publicKey, version) ? { ok: true as const } : { ok: false as const, reason: 'bad signature' })),
  } as unknown as KeyRing;

  /** A PDU as a Python server builds it: hashed and signed over Python's reading, sent as its JSON. */
  function pythonPdu(obj: Record<string, unknown>, version: RoomVersion): string {
    const signed = hashAndSignEvent(obj as JsonObject, 'example.org', key, version);
    return canonicalJson(signed, { legacyNumbers: true });
  }

  it('matches the content hash Python computes', () => {
    const v5 = requireRoomVersion('5');
    const text = '{"auth_events":[],"content":{"body":"x","duration":5.0,"big":12345678901234567890},"depth":3,"origin":"example.org","origin_server_ts":1600000000000,"prev_events":[],"room_id":"!r:example.org","sender":"@u:example.org","type":"org.example.float"}';
    expect(computeContentHash(parseJsonPreservingNumbers(text) as JsonObject, v5)).toBe('2uwJjRbSdIuaxZgJvRNcpQiRU8EGffilb0mtVgCGjOo');
  });

  it('checkPdus: event ID, signature and content hash are taken over the PDU as sent; the event is not redacted', async () => {
    const v5 = requireRoomVersion('5');
    const text = pythonPdu(
      {
        ...FLOAT_EVENT,
        type: 'm.room.power_levels',
        state_key: '',
        content: { users: { '@u:example.org': 100, '@v:example.org': new PythonFloat(50) }, big: 12345678901234567890n },
      },
      v5,
    );
    expect(text).toContain('"@v:example.org":50.0');
    const parsed = JSON.parse(text) as JsonObject;
    const [c] = await checkPdus(keyRing, [{ pdu: parsed, text }], v5);
    expect(c!.ok).toBe(true);
    const checked = c as CheckedPdu;
    expect(checked.redacted).toBe(false);
    expect(checked.eventId).toBe(computeEventId(parseJsonPreservingNumbers(text) as JsonObject, v5));
    expect(checked.eventId).not.toBe(computeEventId(parsed, v5)); // what JSON.parse alone would give
    expect(checked.jsonText).toBe(text);
    // The same PDU in a v10 room is refused at the format step.
    const [strict] = await checkPdus(keyRing, [{ pdu: parsed, text }], requireRoomVersion('10'));
    expect(strict!.ok).toBe(false);
  });

  it('authenticateFederationRequest: a body signed over "5.0" verifies against the bytes sent', async () => {
    const seed = Buffer.alloc(32, 8);
    const origin = signingKeyFromSeed('o', seed);
    const bodyText = '{"pdus":[],"edus":[{"edu_type":"org.example","content":{"ratio":5.0,"n":1e2}}],"origin":"a.example","origin_server_ts":1}';
    const pythonSigned =
      '{"content":{"edus":[{"content":{"n":100.0,"ratio":5.0},"edu_type":"org.example"}],"origin":"a.example","origin_server_ts":1,"pdus":[]},"destination":"b.example","method":"PUT","origin":"a.example","uri":"/_matrix/federation/v1/send/t"}';
    const sig = encodeBase64(nacl.sign.detached(Buffer.from(pythonSigned, 'utf8'), nacl.sign.keyPair.fromSeed(seed).secretKey));
    const header = `X-Matrix origin="a.example",destination="b.example",key="${origin.keyId}",sig="${sig}"`;
    const ring = { serverKey: async () => origin.publicKey } as unknown as KeyRing;
    const req = { method: 'PUT', url: '/_matrix/federation/v1/send/t', headers: [header], body: JSON.parse(bodyText) };
    await expect(authenticateFederationRequest({ ...req, rawBody: Buffer.from(bodyText) }, 'b.example', ring, 0)).resolves.toBe('a.example');
    // Without the bytes sent, the parsed body ("5", "100") does not match the signature.
    await expect(authenticateFederationRequest(req, 'b.example', ring, 0)).rejects.toMatchObject({ errcode: 'M_UNAUTHORIZED' });
  });
});

describe('canonicallyEqual and firstNonCanonicalNumber', () => {
  it('compares by canonical JSON, fractions included; what cannot be encoded is never equal', () => {
    expect(canonicallyEqual({ b: 1, a: [0.25] }, { a: [0.25], b: 1 })).toBe(true);
    expect(canonicallyEqual({ a: 0.25 }, { a: 0.5 })).toBe(false);
    expect(canonicallyEqual({ a: Number.NaN }, { a: Number.NaN })).toBe(false);
  });

  it('finds the first fraction or out-of-range integer at any depth', () => {
    expect(firstNonCanonicalNumber({ a: [1, { b: 2 }], c: 'x' })).toBeUndefined();
    expect(firstNonCanonicalNumber({ a: [1, { b: 2.5 }] })).toBe(2.5);
    expect(firstNonCanonicalNumber([2 ** 60])).toBe(2 ** 60);
  });
});
