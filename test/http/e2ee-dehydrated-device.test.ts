// Dehydrated devices (MSC3814, /unstable/org.matrix.msc3814.v1/dehydrated_device as Element calls
// it): upload with keys, to-device messages queued for it, fetching them in batches, replacement
// and deletion.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { b64, deviceKeysOf, e2eeHarness, signedKey, V3, type Device, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<E2eeHarness> {
  const h = await e2eeHarness();
  harnesses.push(h);
  return h;
}

const URL = '/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device';
const DEVICE_DATA = { algorithm: 'org.matrix.msc3814.v2', device_pickle: 'encrypted-pickle', nonce: 'n' };

/** The dehydrated device as the client builds it: its own ID and identity key. */
function dehydrated(owner: Device, deviceId: string): Device {
  return { ...owner, device_id: deviceId, key: generateSigningKey(), curve25519: b64() };
}

function putBody(d: Device, extra: JsonObject = {}): JsonObject {
  return {
    device_id: d.device_id,
    device_data: DEVICE_DATA,
    initial_device_display_name: 'Dehydrated device',
    device_keys: deviceKeysOf(d, { dehydrated: true }),
    one_time_keys: { 'signed_curve25519:AAAA': signedKey(d) },
    fallback_keys: { 'signed_curve25519:FB': signedKey(d, true) },
    ...extra,
  };
}

describe('dehydrated devices (MSC3814)', () => {
  it('stores the device with its keys; others can claim its keys and send it to-device messages', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    let r = await h.req('GET', URL, { token: alice.access_token });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);

    const dd = dehydrated(alice, 'DEHYDRATED1');
    r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dd) });
    expect([r.status, r.body]).toEqual([200, { device_id: 'DEHYDRATED1' }]);
    r = await h.req('GET', URL, { token: alice.access_token });
    expect(r.body).toEqual({ device_id: 'DEHYDRATED1', device_data: DEVICE_DATA });

    // Its keys are public like any device's.
    const q = await h.req('POST', `${V3}/keys/query`, { token: bob.access_token, body: { device_keys: { [alice.user_id]: ['DEHYDRATED1'] } } });
    expect(q.body.device_keys[alice.user_id].DEHYDRATED1).toEqual({ ...deviceKeysOf(dd, { dehydrated: true }), unsigned: { device_display_name: 'Dehydrated device' } });
    const c = await h.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { [alice.user_id]: { DEHYDRATED1: 'signed_curve25519' } } } });
    expect(Object.keys(c.body.one_time_keys[alice.user_id].DEHYDRATED1)).toEqual(['signed_curve25519:AAAA']);

    // Messages for it wait until a new device of Alice fetches them.
    for (let i = 0; i < 3; i++) {
      await h.req('PUT', `${V3}/sendToDevice/m.room.encrypted/t${i}`, {
        token: bob.access_token,
        body: { messages: { [alice.user_id]: { DEHYDRATED1: { ciphertext: `c${i}` } } } },
      });
    }
    const events = `${URL}/DEHYDRATED1/events`;
    let page = await h.req('GET', `${events}?limit=2`, { token: alice.access_token });
    expect(page.status).toBe(200);
    expect(page.body.events.map((e: JsonObject) => (e.content as JsonObject).ciphertext)).toEqual(['c0', 'c1']);
    expect(page.body.events[0]).toEqual({ content: { ciphertext: 'c0' }, sender: bob.user_id, type: 'm.room.encrypted' });
    page = await h.req('GET', `${events}?limit=2&from=${page.body.next_batch}`, { token: alice.access_token });
    expect(page.body.events.map((e: JsonObject) => (e.content as JsonObject).ciphertext)).toEqual(['c2']);
    // The earlier draft's POST with next_batch in the body.
    page = await h.req('POST', events, { token: alice.access_token, body: { next_batch: page.body.next_batch } });
    expect(page.body.events).toEqual([]);
    // Fetched batches were acknowledged by asking for the next one.
    const n = h.db.prepare('SELECT COUNT(*) AS n FROM e2e_device_inbox').get() as { n: number };
    expect(n.n).toBe(0);
  });

  it('a new dehydrated device replaces the old one; DELETE removes it with its keys', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    await h.req('PUT', URL, { token: alice.access_token, body: putBody(dehydrated(alice, 'OLDDEHYDRATED')) });
    const r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dehydrated(alice, 'NEWDEHYDRATED')) });
    expect(r.body).toEqual({ device_id: 'NEWDEHYDRATED' });
    const devices = (await h.req('GET', `${V3}/devices`, { token: alice.access_token })).body.devices.map((d: JsonObject) => d.device_id);
    expect(devices).toContain('NEWDEHYDRATED');
    expect(devices).not.toContain('OLDDEHYDRATED');
    let q = await h.req('POST', `${V3}/keys/query`, { token: alice.access_token, body: { device_keys: { [alice.user_id]: [] } } });
    expect(Object.keys(q.body.device_keys[alice.user_id])).toEqual(['NEWDEHYDRATED']);

    const del = await h.req('DELETE', URL, { token: alice.access_token });
    expect([del.status, del.body]).toEqual([200, { device_id: 'NEWDEHYDRATED' }]);
    q = await h.req('POST', `${V3}/keys/query`, { token: alice.access_token, body: { device_keys: { [alice.user_id]: [] } } });
    expect(q.body.device_keys[alice.user_id]).toEqual({});
    expect((await h.req('GET', URL, { token: alice.access_token })).status).toBe(404);
    expect((await h.req('DELETE', URL, { token: alice.access_token })).status).toBe(404);
  });

  it('refuses missing or badly signed keys, taken device IDs, and fetching another device', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const dd = dehydrated(alice, 'DEHYDRATED1');
    let r = await h.req('PUT', URL, { token: alice.access_token, body: { device_id: 'X', device_data: DEVICE_DATA } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dd, { device_keys: deviceKeysOf({ ...dd, device_id: 'OTHER' }) }) });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dd, { device_keys: { ...deviceKeysOf(dd), algorithms: ['changed'] } }) });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_SIGNATURE']);
    r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dd, { device_data: 'x' }) });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    // The ID of Alice's own logged-in device.
    r = await h.req('PUT', URL, { token: alice.access_token, body: putBody(dehydrated(alice, alice.device_id)) });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    expect((await h.req('GET', URL, { token: alice.access_token })).status).toBe(404);

    r = await h.req('GET', `${URL}/DEHYDRATED1/events`, { token: alice.access_token });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    await h.req('PUT', URL, { token: alice.access_token, body: putBody(dd) });
    r = await h.req('GET', `${URL}/${alice.device_id}/events`, { token: alice.access_token });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await h.req('GET', `${URL}/DEHYDRATED1/events?from=garbage`, { token: alice.access_token });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('GET', `${URL}/DEHYDRATED1/events?limit=0`, { token: alice.access_token });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });
});
