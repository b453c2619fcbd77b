// The E2EE parts of GET /sync end to end: to_device delivered once and deleted only when the next
// token acknowledges it (in batches of 100), device_lists changed/left, one-time key counts and
// unused fallback key types, and a waiting sync woken by a key upload.
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { e2eeHarness, signedKey, V3, type Device, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<E2eeHarness> {
  const h = await e2eeHarness();
  harnesses.push(h);
  return h;
}

async function sync(h: E2eeHarness, d: Device, since?: string, timeout = 0) {
  const q = new URLSearchParams({ timeout: String(timeout) });
  if (since) q.set('since', since);
  const r = await h.req('GET', `${V3}/sync?${q}`, { token: d.access_token });
  expect(r.status).toBe(200);
  return r.body;
}

const inboxSize = (h: E2eeHarness) => (h.db.prepare('SELECT COUNT(*) AS n FROM e2e_device_inbox').get() as { n: number }).n;

describe('/sync and E2EE', () => {
  it('delivers to-device messages once, keeps them until the next token acknowledges them', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    await h.req('PUT', `${V3}/sendToDevice/m.test/1`, { token: alice.access_token, body: { messages: { [bob.user_id]: { [bob.device_id]: { n: 1 } } } } });

    const first = await sync(h, bob);
    expect(first.to_device.events).toEqual([{ content: { n: 1 }, sender: alice.user_id, type: 'm.test' }]);
    // The answer was lost: the same request gets the message again.
    expect((await sync(h, bob)).to_device.events.length).toBe(1);
    expect(inboxSize(h)).toBe(1);
    // Syncing with the token acknowledges it: not delivered again, and deleted.
    const second = await sync(h, bob, first.next_batch);
    expect(second.to_device?.events ?? []).toEqual([]);
    expect(inboxSize(h)).toBe(0);
  });

  it('delivers at most 100 to-device messages per sync, the rest next time', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    for (let i = 0; i < 130; i++) {
      await h.req('PUT', `${V3}/sendToDevice/m.test/${i}`, { token: alice.access_token, body: { messages: { [bob.user_id]: { [bob.device_id]: { i } } } } });
    }
    const first = await sync(h, bob);
    expect(first.to_device.events.length).toBe(100);
    const second = await sync(h, bob, first.next_batch);
    expect(second.to_device.events.map((e: JsonObject) => (e.content as JsonObject).i)).toEqual(Array.from({ length: 30 }, (_, k) => 100 + k));
    await sync(h, bob, second.next_batch);
    expect(inboxSize(h)).toBe(0);
  });

  it('reports one-time key counts, unused fallback key types and device list changes', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    const room = await h.sharedRoom(alice.user_id, bob.user_id, carol.user_id);
    await h.req('POST', `${V3}/keys/upload`, {
      token: alice.access_token,
      body: { one_time_keys: { 'signed_curve25519:A': signedKey(alice), 'signed_curve25519:B': signedKey(alice) }, fallback_keys: { 'signed_curve25519:F': signedKey(alice, true) } },
    });
    const initial = await sync(h, alice);
    expect(initial.device_one_time_keys_count).toEqual({ signed_curve25519: 2 });
    expect(initial.device_unused_fallback_key_types).toEqual(['signed_curve25519']);

    await h.uploadDeviceKeys(bob);
    await h.leave(room, carol.user_id);
    const next = await sync(h, alice, initial.next_batch);
    expect(next.device_lists).toEqual({ changed: [bob.user_id], left: [carol.user_id] });
  });

  it('a waiting sync is woken by the key upload of someone sharing a room', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    await h.sharedRoom(alice.user_id, bob.user_id);
    const initial = await sync(h, alice);
    const t0 = Date.now();
    const waiting = sync(h, alice, initial.next_batch, 10_000);
    await new Promise((r) => setTimeout(r, 50));
    await h.uploadDeviceKeys(bob);
    const woken = await waiting;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(woken.device_lists.changed).toEqual([bob.user_id]);
  });
});
