// /keys/upload, /keys/query, /keys/claim and /keys/changes through Fastify on a real database:
// validation of device keys (user, device, signature), one-time and fallback keys, claims that
// hand each key out once, and key changes between two sync tokens.
import { afterEach, describe, expect, it } from 'vitest';
import { verifyJsonSignature } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { formatSyncToken } from '../../src/sync/token.js';
import { b64, deviceKeysOf, e2eeHarness, SERVER, signAs, signedKey, V3, type Device, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(opts?: Parameters<typeof e2eeHarness>[0]): Promise<E2eeHarness> {
  const h = await e2eeHarness(opts);
  harnesses.push(h);
  return h;
}

const token = (deviceLists: number) =>
  formatSyncToken({ events: 0, accountData: 0, typing: 0, receipts: 0, presence: 0, toDevice: 0, deviceLists });

async function query(h: E2eeHarness, d: Device, deviceKeys: JsonObject) {
  return h.req('POST', `${V3}/keys/query`, { token: d.access_token, body: { device_keys: deviceKeys } });
}

async function uploadOtks(h: E2eeHarness, d: Device, keys: Record<string, unknown>, extra: JsonObject = {}) {
  return h.req('POST', `${V3}/keys/upload`, { token: d.access_token, body: { one_time_keys: keys, ...extra } });
}

describe('POST /keys/upload: device keys', () => {
  it('stores signed device keys exactly as uploaded and serves them in /keys/query', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    // An extra field the server does not know must survive (it is covered by the signature).
    const keys = deviceKeysOf(alice, { 'org.example.extra': { nested: [1, 'two', null] } });
    const r = await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { device_keys: keys } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ one_time_key_counts: { signed_curve25519: 0 } });

    await h.req('PUT', `${V3}/devices/${alice.device_id}`, { token: alice.access_token, body: { display_name: 'Alice phone' } });
    const bob = await h.device('bob');
    const q = await query(h, bob, { [alice.user_id]: [] });
    expect(q.status).toBe(200);
    const got = q.body.device_keys[alice.user_id][alice.device_id];
    expect(got).toEqual({ ...keys, unsigned: { device_display_name: 'Alice phone' } });
    // The copy served verifies with the device key: nothing was re-serialised in a way that breaks it.
    expect(verifyJsonSignature(got, alice.user_id, `ed25519:${alice.device_id}`, alice.key.publicKey)).toBe(true);
    expect(q.body.failures).toEqual({});
  });

  it('rejects device keys naming another user or device, unsigned or wrongly signed, or malformed', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const upload = (device_keys: unknown) => h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { device_keys } });

    // Another user's name, even correctly signed by that other device.
    let r = await upload(deviceKeysOf({ ...alice, user_id: bob.user_id }));
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    r = await upload(deviceKeysOf({ ...alice, device_id: 'OTHERDEVICE' }));
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);

    // No signature, a signature by another key, a tampered object.
    const { signatures: _s, ...unsigned } = deviceKeysOf(alice);
    r = await upload({ ...unsigned, signatures: {} });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_SIGNATURE']);
    // Alice's ed25519 key in `keys`, but signed with another key.
    const forged = signAs(unsigned, alice.user_id, `ed25519:${alice.device_id}`, bob.key);
    r = await upload(forged);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_SIGNATURE']);
    const tampered = { ...deviceKeysOf(alice), keys: { ...(unsigned.keys as JsonObject), [`curve25519:${alice.device_id}`]: b64() } };
    r = await upload(tampered);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_SIGNATURE']);

    // No ed25519 key for the device.
    const noEd = signAs({ ...unsigned, keys: { [`curve25519:${alice.device_id}`]: b64() } }, alice.user_id, `ed25519:${alice.device_id}`, alice.key);
    r = await upload(noEd);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);

    // Shapes (CVE-2025-61672): null, wrong types.
    for (const bad of [null, 'x', { ...deviceKeysOf(alice), algorithms: 'm.olm' }, { ...deviceKeysOf(alice), keys: { a: 1 } }, { ...deviceKeysOf(alice), signatures: { x: 'y' } }, { ...deviceKeysOf(alice), user_id: 5 }]) {
      r = await upload(bad);
      expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    }
    // Nothing was stored.
    const q = await query(h, bob, { [alice.user_id]: [] });
    expect(q.body.device_keys[alice.user_id]).toEqual({});
  });

  it('answers 401 without a token and M_NOT_JSON / M_BAD_JSON for bodies that are not objects', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    expect((await h.req('POST', `${V3}/keys/upload`, { body: {} })).status).toBe(401);
    const r = await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, rawBody: '[1]' });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const r2 = await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, rawBody: '{nope' });
    expect([r2.status, r2.body.errcode]).toEqual([400, 'M_NOT_JSON']);
  });
});

describe('POST /keys/upload: one-time and fallback keys', () => {
  it('counts one-time keys, accepts the same key again, refuses a different key under a used ID', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const k1 = signedKey(alice);
    let r = await uploadOtks(h, alice, { 'signed_curve25519:AAAAAQ': k1, 'signed_curve25519:AAAAAg': signedKey(alice), 'curve25519:AAAAAw': b64() });
    expect(r.status).toBe(200);
    expect(r.body.one_time_key_counts).toEqual({ signed_curve25519: 2, curve25519: 1 });
    // A retried upload: same key, even with a different signature, is fine.
    r = await uploadOtks(h, alice, { 'signed_curve25519:AAAAAQ': signAs({ key: k1.key as string }, alice.user_id, 'ed25519:OTHER', alice.key) });
    expect([r.status, r.body.one_time_key_counts.signed_curve25519]).toEqual([200, 2]);
    r = await uploadOtks(h, alice, { 'signed_curve25519:AAAAAQ': signedKey(alice) });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_UNKNOWN']);
    // The same counts reach /sync through the DeviceKeysSource.
    expect(h.e2ee.deviceKeys.oneTimeKeyCounts(alice.user_id, alice.device_id)).toEqual({ signed_curve25519: 2, curve25519: 1 });
  });

  it('refuses malformed key maps', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    for (const keys of [{ signed_curve25519: signedKey(alice) }, { 'a:b:c': b64() }, { 'signed_curve25519:X': { key: b64() } }, { 'signed_curve25519:X': 5 }, { 'signed_curve25519:X': { key: 5, signatures: {} } }]) {
      const r = await uploadOtks(h, alice, keys);
      expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    }
    const r = await h.req('POST', `${V3}/keys/upload`, {
      token: alice.access_token,
      body: { fallback_keys: { 'signed_curve25519:A': signedKey(alice, true), 'signed_curve25519:B': signedKey(alice, true) } },
    });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    expect(h.e2ee.deviceKeys.oneTimeKeyCounts(alice.user_id, alice.device_id)).toEqual({ signed_curve25519: 0 });
  });

  it('reports unused fallback key types; a claimed fallback is marked used until a new one is uploaded', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const fb = signedKey(alice, true);
    await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { fallback_keys: { 'signed_curve25519:FB1': fb } } });
    const src = h.e2ee.deviceKeys;
    expect(src.unusedFallbackKeyTypes(alice.user_id, alice.device_id)).toEqual(['signed_curve25519']);

    const claim = () =>
      h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { [alice.user_id]: { [alice.device_id]: 'signed_curve25519' } } } });
    let r = await claim();
    expect(r.body.one_time_keys).toEqual({ [alice.user_id]: { [alice.device_id]: { 'signed_curve25519:FB1': fb } } });
    expect(src.unusedFallbackKeyTypes(alice.user_id, alice.device_id)).toEqual([]);
    // The fallback key is not consumed: it is handed out again.
    r = await claim();
    expect(r.body.one_time_keys[alice.user_id][alice.device_id]).toEqual({ 'signed_curve25519:FB1': fb });
    // Uploading the same fallback key again does not mark it unused.
    await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { fallback_keys: { 'signed_curve25519:FB1': fb } } });
    expect(src.unusedFallbackKeyTypes(alice.user_id, alice.device_id)).toEqual([]);
    await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { fallback_keys: { 'signed_curve25519:FB2': signedKey(alice, true) } } });
    expect(src.unusedFallbackKeyTypes(alice.user_id, alice.device_id)).toEqual(['signed_curve25519']);
  });
});

describe('POST /keys/claim', () => {
  it('hands one-time keys out oldest upload first, each exactly once, then the fallback key', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const first = signedKey(alice);
    await uploadOtks(h, alice, { 'signed_curve25519:ZZZ': first });
    await uploadOtks(h, alice, { 'signed_curve25519:AAA': signedKey(alice) });
    const fb = signedKey(alice, true);
    await h.req('POST', `${V3}/keys/upload`, { token: alice.access_token, body: { fallback_keys: { 'signed_curve25519:FB': fb } } });
    const body = { one_time_keys: { [alice.user_id]: { [alice.device_id]: 'signed_curve25519' } } };
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body });
      expect(r.status).toBe(200);
      names.push(...Object.keys(r.body.one_time_keys[alice.user_id][alice.device_id]));
      if (i === 0) expect(r.body.one_time_keys[alice.user_id][alice.device_id]['signed_curve25519:ZZZ']).toEqual(first);
    }
    expect(names).toEqual(['signed_curve25519:ZZZ', 'signed_curve25519:AAA', 'signed_curve25519:FB']);
    expect(h.e2ee.deviceKeys.oneTimeKeyCounts(alice.user_id, alice.device_id)).toEqual({ signed_curve25519: 0 });
  });

  it('never returns the same key to concurrent claims', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const keys: Record<string, JsonObject> = {};
    for (let i = 0; i < 25; i++) keys[`signed_curve25519:K${i}`] = signedKey(alice);
    await uploadOtks(h, alice, keys);
    const body = { one_time_keys: { [alice.user_id]: { [alice.device_id]: 'signed_curve25519' } } };
    const answers = await Promise.all(Array.from({ length: 40 }, () => h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body })));
    const claimed = answers.flatMap((r) => Object.keys(r.body.one_time_keys[alice.user_id]?.[alice.device_id] ?? {}));
    expect(claimed.length).toBe(25);
    expect(new Set(claimed).size).toBe(25);
    expect(answers.filter((r) => Object.keys(r.body.one_time_keys).length === 0).length).toBe(15);
  });

  it('leaves unknown users and devices out, reports remote servers as failures, and checks the body', async () => {
    const h = await setup();
    const bob = await h.device('bob');
    const r = await h.req('POST', `${V3}/keys/claim`, {
      token: bob.access_token,
      body: { one_time_keys: { [`@nobody:${SERVER}`]: { DEV: 'signed_curve25519' }, [bob.user_id]: { NOSUCHDEVICE: 'signed_curve25519' }, '@carol:remote.example': { D: 'signed_curve25519' } } },
    });
    expect(r.status).toBe(200);
    expect(r.body.one_time_keys).toEqual({});
    expect(Object.keys(r.body.failures)).toEqual(['remote.example']);
    let bad = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: {} });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    bad = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { [bob.user_id]: { D: 5 } } } });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    bad = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { 'not-a-user': { D: 'x' } } } });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });

  it('asks the federation hook for remote keys when there is one', async () => {
    const h = await setup({
      federation: {
        claimKeys: async (server, q) => ({ one_time_keys: { '@carol:remote.example': { D: { 'signed_curve25519:R': { key: 'k', server } } }, '@intruder:elsewhere': {} }, q }),
        queryKeys: async () => ({ device_keys: { '@carol:remote.example': { D: { device_id: 'D' } } } }),
      },
    });
    const bob = await h.device('bob');
    const r = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { '@carol:remote.example': { D: 'signed_curve25519' } } } });
    expect(r.body).toEqual({ one_time_keys: { '@carol:remote.example': { D: { 'signed_curve25519:R': { key: 'k', server: 'remote.example' } } } }, failures: {} });
    const q = await query(h, bob, { '@carol:remote.example': [] });
    expect(q.body.device_keys).toEqual({ '@carol:remote.example': { D: { device_id: 'D' } } });
    expect(q.body.failures).toEqual({});
  });
});

describe('POST /keys/query', () => {
  it('returns all or some devices, {} for unknown users, failures for remote servers, and checks the body', async () => {
    const h = await setup();
    const alice1 = await h.device('alice');
    const alice2 = await h.device('alice');
    await h.uploadDeviceKeys(alice1);
    await h.uploadDeviceKeys(alice2);
    const q = await query(h, alice1, { [alice1.user_id]: [], [`@ghost:${SERVER}`]: [], '@x:remote.example': [] });
    expect(Object.keys(q.body.device_keys[alice1.user_id]).sort()).toEqual([alice1.device_id, alice2.device_id].sort());
    expect(q.body.device_keys[`@ghost:${SERVER}`]).toEqual({});
    expect(q.body.failures['remote.example'].status).toBe(503);
    const one = await query(h, alice1, { [alice1.user_id]: [alice2.device_id, 'NOPE'] });
    expect(Object.keys(one.body.device_keys[alice1.user_id])).toEqual([alice2.device_id]);

    let bad = await h.req('POST', `${V3}/keys/query`, { token: alice1.access_token, body: {} });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    bad = await query(h, alice1, { [alice1.user_id]: 'all' } as JsonObject);
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    bad = await query(h, alice1, { nobody: [] });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });

  it('drops the keys of a deleted device', async () => {
    const h = await setup();
    const alice1 = await h.device('alice');
    const alice2 = await h.device('alice');
    await h.uploadDeviceKeys(alice2);
    await uploadOtks(h, alice2, { 'signed_curve25519:A': signedKey(alice2) });
    const del = await h.req('POST', `${V3}/logout`, { token: alice2.access_token });
    expect(del.status).toBe(200);
    const q = await query(h, alice1, { [alice1.user_id]: [] });
    expect(q.body.device_keys[alice1.user_id]).toEqual({});
    expect(h.e2ee.deviceKeys.oneTimeKeyCounts(alice2.user_id, alice2.device_id)).toEqual({ signed_curve25519: 0 });
  });
});

describe('GET /keys/changes', () => {
  it('lists users sharing a room whose keys changed between the tokens, and checks the tokens', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    await h.sharedRoom(alice.user_id, bob.user_id);
    const from = token(h.e2ee.deviceKeys.position());
    await h.uploadDeviceKeys(bob);
    await h.uploadDeviceKeys(carol);
    const to = token(h.e2ee.deviceKeys.position());
    const r = await h.req('GET', `${V3}/keys/changes?from=${from}&to=${to}`, { token: alice.access_token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ changed: [bob.user_id], left: [] });
    // Nothing after `to`.
    const later = await h.req('GET', `${V3}/keys/changes?from=${to}&to=${to}`, { token: alice.access_token });
    expect(later.body).toEqual({ changed: [], left: [] });

    let bad = await h.req('GET', `${V3}/keys/changes?to=${to}`, { token: alice.access_token });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    bad = await h.req('GET', `${V3}/keys/changes?from=garbage&to=${to}`, { token: alice.access_token });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });
});
