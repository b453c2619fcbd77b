// The key ring behind request and event authentication: key response checks, our own keys without
// HTTP (rotation), caching in memory and SQLite, fetch coalescing and the refetch limit, the notary
// fallback and its signature checks, batch event signature checks with key validity, and the
// notary answers it gives. Remote servers are a fake federation client.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { signJson, verifyJsonSignature } from '../../src/core/crypto/signing.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import type { ServerKeys } from '../../src/http/app.js';
import { signedServerKeys } from '../../src/http/keys/server.js';
import { FederationError, type FederationClient } from '../../src/federation/client.js';
import { createKeyRing, MAX_KEY_VALIDITY_MS, MIN_REFETCH_INTERVAL_MS, processKeyResponse } from '../../src/federation/keys.js';
import { openDatabase, type Database } from '../../src/store/db.js';

const US = 'us.test';
const NOW = 1_700_000_000_000;
const DAY = 24 * 3600_000;

interface FakeServer {
  keys: ServerKeys;
  validUntil: number;
  up: boolean;
  /** Replaces the served document. */
  doc?: () => JsonObject;
}

const dbs: Database[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

function setup(o: { notaries?: { server_name: string; verify_keys?: Record<string, string> }[]; db?: Database; notaryDeadlineMs?: number } = {}) {
  const servers = new Map<string, FakeServer>();
  const calls: string[] = [];
  /** Answers of notaries, per notary name. */
  const notaryAnswers = new Map<string, (body: JsonObject) => JsonObject>();
  const clock = { now: NOW };
  const client: FederationClient = {
    async request<T>(destination: string, method: string, path: string, body?: JsonValue): Promise<T> {
      calls.push(`${method} ${destination}${path}`);
      await new Promise((r) => setTimeout(r, 5));
      // A tarpit: answers only after a minute.
      if (destination.startsWith('slow')) await new Promise((r) => setTimeout(r, 60_000).unref());
      if (path === '/_matrix/key/v2/server') {
        const s = servers.get(destination);
        if (!s || !s.up) throw new FederationError(destination, 0, 'connection refused');
        return (s.doc ? s.doc() : signedServerKeys(destination, s.keys, s.validUntil)) as T;
      }
      if (path === '/_matrix/key/v2/query' && method === 'POST') {
        const answer = notaryAnswers.get(destination);
        if (!answer) throw new FederationError(destination, 404, 'no', { errcode: 'M_UNRECOGNIZED' });
        return answer(body as JsonObject) as T;
      }
      throw new FederationError(destination, 404, 'unknown path');
    },
    async requestRaw() {
      throw new Error('unused');
    },
    async close() {},
  };
  const config = parseConfig({ server_name: US, trusted_key_servers: o.notaries ?? [] }, { cwd: '/nonexistent' }).config;
  const db = o.db ?? openDatabase(':memory:');
  if (!o.db) dbs.push(db);
  const ourKeys: ServerKeys = { current: generateSigningKey('now'), old: [{ keyId: 'ed25519:before', publicKey: generateSigningKey().publicKey, expiredTs: NOW - DAY }] };
  const ring = createKeyRing({ db, client, config, serverName: US, serverKeys: ourKeys, clock: () => clock.now, ...(o.notaryDeadlineMs !== undefined ? { notaryDeadlineMs: o.notaryDeadlineMs } : {}) });
  function addServer(name: string, key = generateSigningKey('k1')): FakeServer {
    const s: FakeServer = { keys: { current: key, old: [] }, validUntil: NOW + DAY, up: true };
    servers.set(name, s);
    return s;
  }
  return { ring, calls, clock, servers, addServer, notaryAnswers, ourKeys, db, config };
}

describe('processKeyResponse', () => {
  const key = generateSigningKey('a');
  const doc = (over: Partial<JsonObject> = {}, signer: SigningKey = key): JsonObject =>
    signJson({ server_name: 'o.test', valid_until_ts: NOW + DAY, verify_keys: { [key.keyId]: { key: key.publicKey } }, old_verify_keys: {}, ...over }, 'o.test', signer);

  it('accepts a self-signed response and lists current and old keys', () => {
    const old = generateSigningKey('old');
    const r = processKeyResponse(doc({ old_verify_keys: { [old.keyId]: { key: old.publicKey, expired_ts: NOW - 5 } } }), 'o.test', NOW);
    expect(r.validUntilTs).toBe(NOW + DAY);
    expect(r.keys).toEqual([
      { keyId: 'ed25519:a', publicKey: key.publicKey, validUntilTs: NOW + DAY, expiredTs: null },
      { keyId: 'ed25519:old', publicKey: old.publicKey, validUntilTs: null, expiredTs: NOW - 5 },
    ]);
  });
  it('caps the validity of current keys at 7 days from now', () => {
    const r = processKeyResponse(doc({ valid_until_ts: NOW + 30 * DAY }), 'o.test', NOW);
    expect(r.validUntilTs).toBe(NOW + 30 * DAY);
    expect(r.keys[0]!.validUntilTs).toBe(NOW + MAX_KEY_VALIDITY_MS);
  });
  it('ignores keys that are not ed25519 or not 32 bytes, and entries without expired_ts', () => {
    const r = processKeyResponse(
      doc({
        verify_keys: { [key.keyId]: { key: key.publicKey }, 'curve25519:x': { key: key.publicKey }, 'ed25519:short': { key: 'AAAA' } },
        old_verify_keys: { 'ed25519:noexp': { key: key.publicKey } },
      }),
      'o.test',
      NOW,
    );
    expect(r.keys.map((k) => k.keyId)).toEqual(['ed25519:a']);
  });
  it.each([
    ['another server_name', () => doc({ server_name: 'x.test' }), /names "x.test"/],
    ['no valid_until_ts', () => doc({ valid_until_ts: 'soon' }), /valid_until_ts/],
    ['no verify_keys', () => doc({ verify_keys: null }), /verify_keys/],
    ['unsigned', () => {
      const { signatures: _s, ...rest } = doc();
      return rest;
    }, /not signed/],
    ['signed only by a key not in verify_keys', () => doc({}, generateSigningKey('other')), /not signed/],
    ['a bad signature by a listed key', () => ({ ...doc(), valid_until_ts: NOW + 2 * DAY }), /bad signature/],
    ['not an object', () => [] as unknown as JsonObject, /not a JSON object/],
  ] as [string, () => JsonObject, RegExp][])('refuses %s', (_name, make, err) => {
    expect(() => processKeyResponse(make(), 'o.test', NOW)).toThrow(err);
  });
});

describe('our own keys', () => {
  it('are answered from the configured keys, without HTTP; old keys only before they expired', async () => {
    const { ring, calls, ourKeys } = setup();
    expect(await ring.serverKey(US, ourKeys.current.keyId, { validAtTs: NOW })).toBe(ourKeys.current.publicKey);
    expect(await ring.serverKey(US, 'ed25519:before')).toBe(ourKeys.old[0]!.publicKey);
    expect(await ring.serverKey(US, 'ed25519:before', { validAtTs: NOW - 2 * DAY })).toBe(ourKeys.old[0]!.publicKey);
    expect(await ring.serverKey(US, 'ed25519:before', { validAtTs: NOW })).toBeUndefined();
    expect(await ring.serverKey(US, 'ed25519:unknown')).toBeUndefined();
    expect(calls).toEqual([]);
  });
});

describe('remote keys', () => {
  it('fetches from the origin once, caches, and persists across key rings', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW })).toBe(a.keys.current.publicKey);
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW })).toBe(a.keys.current.publicKey);
    expect(t.calls).toEqual(['GET a.test/_matrix/key/v2/server']);
    // A new key ring on the same database knows the key without fetching.
    const t2 = setup({ db: t.db });
    expect(await t2.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW })).toBe(a.keys.current.publicKey);
    expect(t2.calls).toEqual([]);
  });

  it('coalesces concurrent fetches for one server', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const results = await Promise.all(Array.from({ length: 10 }, () => t.ring.serverKey('a.test', 'ed25519:k1')));
    expect(new Set(results)).toEqual(new Set([a.keys.current.publicKey]));
    expect(t.calls).toHaveLength(1);
  });

  it('does not ask a server again for a missing key within the refetch interval', async () => {
    const t = setup();
    t.addServer('a.test');
    expect(await t.ring.serverKey('a.test', 'ed25519:missing')).toBeUndefined();
    expect(await t.ring.serverKey('a.test', 'ed25519:missing')).toBeUndefined();
    expect(t.calls).toHaveLength(1);
    t.clock.now += MIN_REFETCH_INTERVAL_MS + 1;
    expect(await t.ring.serverKey('a.test', 'ed25519:missing')).toBeUndefined();
    expect(t.calls).toHaveLength(2);
  });

  it('refetches a key whose validity has run out, and picks up a rotation', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const k1 = a.keys.current;
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW })).toBe(k1.publicKey);
    // The server rotates: k1 is now an old key, k2 current.
    const k2 = generateSigningKey('k2');
    a.keys = { current: k2, old: [{ keyId: k1.keyId, publicKey: k1.publicKey, expiredTs: NOW + 2 * DAY }] };
    a.validUntil = NOW + 10 * DAY;
    t.clock.now = NOW + 3 * DAY;
    // k1 was valid until NOW + 1 day: asking for a later time fetches again and learns it expired.
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: t.clock.now })).toBeUndefined();
    expect(t.calls).toHaveLength(2);
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW + DAY })).toBe(k1.publicKey);
    expect(await t.ring.serverKey('a.test', 'ed25519:k2', { validAtTs: t.clock.now })).toBe(k2.publicKey);
    expect(t.calls).toHaveLength(2);
  });

  it('refuses a response the origin did not sign or that names another server', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    a.doc = () => signJson({ server_name: 'a.test', valid_until_ts: NOW + DAY, verify_keys: { 'ed25519:k1': { key: a.keys.current.publicKey } } }, 'a.test', generateSigningKey('k1'));
    expect(await t.ring.serverKey('a.test', 'ed25519:k1')).toBeUndefined();
    const b = t.addServer('b.test');
    b.doc = () => signedServerKeys('a.test', b.keys, NOW + DAY);
    expect(await t.ring.serverKey('b.test', 'ed25519:k1')).toBeUndefined();
  });

  it('verifySignedJson checks a signature with a known key of that server', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const obj = signJson({ hello: 'world' }, 'a.test', a.keys.current);
    expect(await t.ring.verifySignedJson(obj, 'a.test')).toBe(true);
    expect(await t.ring.verifySignedJson({ ...obj, hello: 'there' }, 'a.test')).toBe(false);
    expect(await t.ring.verifySignedJson(obj, 'b.test')).toBe(false);
    expect(await t.ring.verifySignedJson({ hello: 'world' }, 'a.test')).toBe(false);
    const forged = signJson({ hello: 'world' }, 'a.test', generateSigningKey('k1'));
    expect(await t.ring.verifySignedJson(forged, 'a.test')).toBe(false);
  });
});

describe('notary fallback (trusted_key_servers)', () => {
  const notaryKey = generateSigningKey('n1');

  function notarise(t: ReturnType<typeof setup>, from: string, signer: SigningKey | null = notaryKey) {
    t.notaryAnswers.set(from, (body) => {
      const asked = Object.keys((body.server_keys as JsonObject) ?? {});
      const list: JsonObject[] = [];
      for (const name of asked) {
        const s = t.servers.get(name);
        if (!s) continue;
        const doc = signedServerKeys(name, s.keys, s.validUntil);
        list.push(signer ? signJson(doc, from, signer) : doc);
      }
      return { server_keys: list };
    });
  }

  it('asks the notary when the origin is down, checking the notary and origin signatures', async () => {
    const t = setup({ notaries: [{ server_name: 'notary.test', verify_keys: { [notaryKey.keyId]: notaryKey.publicKey } }] });
    const a = t.addServer('a.test');
    a.up = false;
    notarise(t, 'notary.test');
    expect(await t.ring.serverKey('a.test', 'ed25519:k1', { validAtTs: NOW })).toBe(a.keys.current.publicKey);
    expect(t.calls).toEqual(['GET a.test/_matrix/key/v2/server', 'POST notary.test/_matrix/key/v2/query']);
  });

  it('refuses notary answers without a valid notary signature', async () => {
    const t = setup({ notaries: [{ server_name: 'notary.test', verify_keys: { [notaryKey.keyId]: notaryKey.publicKey } }] });
    t.addServer('a.test').up = false;
    notarise(t, 'notary.test', generateSigningKey('n1'));
    expect(await t.ring.serverKey('a.test', 'ed25519:k1')).toBeUndefined();
    const t2 = setup({ notaries: [{ server_name: 'notary.test', verify_keys: { [notaryKey.keyId]: notaryKey.publicKey } }] });
    t2.addServer('a.test').up = false;
    notarise(t2, 'notary.test', null);
    expect(await t2.ring.serverKey('a.test', 'ed25519:k1')).toBeUndefined();
  });

  it('refuses a notary-signed response the origin did not sign', async () => {
    const t = setup({ notaries: [{ server_name: 'notary.test', verify_keys: { [notaryKey.keyId]: notaryKey.publicKey } }] });
    const a = t.addServer('a.test');
    a.up = false;
    const impostor = generateSigningKey('k1');
    t.notaryAnswers.set('notary.test', () => ({
      server_keys: [signJson(signJson({ server_name: 'a.test', valid_until_ts: NOW + DAY, verify_keys: { 'ed25519:k1': { key: a.keys.current.publicKey } } }, 'a.test', impostor), 'notary.test', notaryKey)],
    }));
    expect(await t.ring.serverKey('a.test', 'ed25519:k1')).toBeUndefined();
  });

  it('without configured verify_keys, checks the notary signature with the notary own published key', async () => {
    const t = setup({ notaries: [{ server_name: 'notary.test' }] });
    t.addServer('notary.test', notaryKey);
    const a = t.addServer('a.test');
    a.up = false;
    notarise(t, 'notary.test');
    expect(await t.ring.serverKey('a.test', 'ed25519:k1')).toBe(a.keys.current.publicKey);
    expect(t.calls).toContain('GET notary.test/_matrix/key/v2/server');
  });
});

describe('verifyEventSignatures', () => {
  function event(origin: string, key: SigningKey, ts: number, version = '10', over: JsonObject = {}): JsonObject {
    const pdu: JsonObject = {
      type: 'm.room.message',
      room_id: '!r:a.test',
      sender: `@alice:${origin}`,
      content: { body: 'hi' },
      origin_server_ts: ts,
      depth: 3,
      prev_events: [],
      auth_events: [],
      ...over,
    };
    return hashAndSignEvent(pdu, origin, key, requireRoomVersion(version));
  }

  it('verifies a batch, fetching each server once', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const b = t.addServer('b.test:8448');
    const v = requireRoomVersion('10');
    const items = [
      ...Array.from({ length: 20 }, (_, i) => ({ pdu: event('a.test', a.keys.current, NOW - i), version: v })),
      ...Array.from({ length: 5 }, (_, i) => ({ pdu: event('b.test:8448', b.keys.current, NOW - i), version: v })),
    ];
    const results = await t.ring.verifyEventSignatures(items);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(t.calls.sort()).toEqual(['GET a.test/_matrix/key/v2/server', 'GET b.test:8448/_matrix/key/v2/server']);
  });

  it('reports bad signatures, unsigned events, forged senders and unknown keys per event', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    t.addServer('b.test');
    const v = requireRoomVersion('10');
    const good = event('a.test', a.keys.current, NOW);
    const tampered = { ...good, origin_server_ts: NOW + 1 };
    const { signatures: _s, ...unsigned } = good;
    // Claims a sender on b.test but is signed by a.test only (a forged leave, say).
    const forged = event('a.test', a.keys.current, NOW, '10', { sender: '@bob:b.test', type: 'm.room.member', state_key: '@bob:b.test', content: { membership: 'leave' } });
    const unknownKey = event('a.test', generateSigningKey('zz'), NOW);
    const results = await t.ring.verifyEventSignatures([good, tampered, unsigned, forged, unknownKey].map((pdu) => ({ pdu, version: v })));
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, reason: expect.stringMatching(/bad signature by a\.test/) });
    expect(results[2]).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by a\.test/) });
    expect(results[3]).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by b\.test/) });
    expect(results[4]).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown key of a\.test/) });
  });

  it('v5+: the key must be valid at origin_server_ts; v4 does not care', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    a.validUntil = NOW + DAY;
    const late = NOW + 2 * DAY;
    const [v10] = await t.ring.verifyEventSignatures([{ pdu: event('a.test', a.keys.current, late), version: requireRoomVersion('10') }]);
    expect(v10).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid at the event's origin_server_ts/) });
    const [v4] = await t.ring.verifyEventSignatures([{ pdu: event('a.test', a.keys.current, late, '4'), version: requireRoomVersion('4') }]);
    expect(v4).toEqual({ ok: true });
  });

  it('v1 events also need the signature of the event ID server', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const b = t.addServer('b.test');
    const v1 = requireRoomVersion('1');
    const pdu = event('a.test', a.keys.current, NOW, '1', { event_id: '$x:b.test', prev_events: [], auth_events: [] });
    const [alone] = await t.ring.verifyEventSignatures([{ pdu, version: v1 }]);
    expect(alone).toMatchObject({ ok: false, reason: expect.stringMatching(/b\.test/) });
    const both = hashAndSignEvent(pdu, 'b.test', b.keys.current, v1);
    const [ok] = await t.ring.verifyEventSignatures([{ pdu: both, version: v1 }]);
    expect(ok).toEqual({ ok: true });
  });
});

describe('notaryQuery', () => {
  it('answers with the origin-signed response plus our signature, fetching when missing', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    const [resp, ...rest] = await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: [] }]);
    expect(rest).toEqual([]);
    expect(resp!.server_name).toBe('a.test');
    expect(verifyJsonSignature(resp!, 'a.test', 'ed25519:k1', a.keys.current.publicKey)).toBe(true);
    expect(verifyJsonSignature(resp!, US, t.ourKeys.current.keyId, t.ourKeys.current.publicKey)).toBe(true);
    expect(t.calls).toHaveLength(1);
    // Cached: no second fetch while the response is valid.
    await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: ['ed25519:k1'], minimumValidUntilTs: NOW + 1000 }]);
    expect(t.calls).toHaveLength(1);
  });

  it('keeps serving the last response when the origin is gone', async () => {
    const t = setup();
    const a = t.addServer('a.test');
    await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: [] }]);
    a.up = false;
    t.clock.now = NOW + 5 * DAY;
    const [resp] = await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: [] }]);
    expect(resp?.valid_until_ts).toBe(NOW + DAY);
    expect(t.calls).toHaveLength(2);
  });

  it('answers for ourselves, and nothing for unknown or invalid servers', async () => {
    const t = setup();
    const [own] = await t.ring.notaryQuery([{ serverName: US, keyIds: [] }]);
    expect(own!.server_name).toBe(US);
    expect(own!.old_verify_keys).toHaveProperty(['ed25519:before']);
    expect(verifyJsonSignature(own!, US, t.ourKeys.current.keyId, t.ourKeys.current.publicKey)).toBe(true);
    expect(await t.ring.notaryQuery([{ serverName: 'gone.test', keyIds: [] }, { serverName: 'bad name', keyIds: [] }])).toEqual([]);
  });

  it('answers by its deadline with what it knows when the servers named are slow, and starts no more fetches', async () => {
    const t = setup({ notaryDeadlineMs: 200 });
    t.addServer('a.test');
    await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: [] }]);
    t.calls.length = 0;
    const slow = Array.from({ length: 50 }, (_, i) => ({ serverName: `slow${i}.test`, keyIds: [] }));
    const started = Date.now();
    const answer = await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: [] }, ...slow, { serverName: US, keyIds: [] }]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(answer.map((r) => r.server_name)).toEqual(['a.test', US]);
    // Ten fetches at a time: the first ten slow servers, none of the others.
    expect(t.calls).toHaveLength(10);
  });

  it('drops other notaries signatures from what it serves', async () => {
    const notaryKey = generateSigningKey('n1');
    const t = setup({ notaries: [{ server_name: 'notary.test', verify_keys: { [notaryKey.keyId]: notaryKey.publicKey } }] });
    const a = t.addServer('a.test');
    a.up = false;
    t.notaryAnswers.set('notary.test', () => ({ server_keys: [signJson(signedServerKeys('a.test', a.keys, NOW + DAY), 'notary.test', notaryKey)] }));
    const [resp] = await t.ring.notaryQuery([{ serverName: 'a.test', keyIds: ['ed25519:k1'] }]);
    expect(Object.keys(resp!.signatures as JsonObject).sort()).toEqual(['a.test', US].sort());
  });
});
