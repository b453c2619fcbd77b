// GET /sync with the other areas' streams: to-device messages (delivered, acknowledged by the next
// token), one-time key counts and fallback key types, device list changes, presence, unread counts.
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { b64, signAs } from './e2ee-harness.js';
import { syncHarness, V3 } from './sync-harness.js';

describe('sync: E2EE extensions', () => {
  it('to-device messages wake the long-poll, are redelivered until acknowledged, then gone', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const s0 = await h.sync(alice);
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const sent = await h.req('PUT', `${V3}/sendToDevice/m.test/txn1`, {
      token: bob.access_token,
      body: { messages: { [alice.user_id]: { [alice.device_id]: { hello: 'alice' } } } },
    });
    expect(sent.status).toBe(200);
    const s1 = await waiting;
    expect(s1.to_device.events).toEqual([{ type: 'm.test', sender: bob.user_id, content: { hello: 'alice' } }]);
    // The client retries with the old token: not acknowledged, so delivered again.
    const retry = await h.sync(alice, { since: s0.next_batch });
    expect(retry.to_device.events.length).toBe(1);
    // Using the new token acknowledges it.
    const s2 = await h.sync(alice, { since: s1.next_batch });
    expect(s2.to_device.events).toEqual([]);
    const again = await h.sync(alice, { since: s1.next_batch });
    expect(again.to_device.events).toEqual([]);
  });

  it('one-time key counts and unused fallback key types of the device', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const key = generateSigningKey();
    const signed = (fallback: boolean) => signAs({ key: b64(), ...(fallback ? { fallback: true } : {}) }, alice.user_id, `ed25519:${alice.device_id}`, key);
    const s0 = await h.sync(alice);
    expect(s0.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(s0.device_unused_fallback_key_types).toEqual([]);
    const up = await h.req('POST', `${V3}/keys/upload`, {
      token: alice.access_token,
      body: {
        one_time_keys: { 'signed_curve25519:AAAA': signed(false), 'signed_curve25519:AAAB': signed(false) },
        fallback_keys: { 'signed_curve25519:FFFF': signed(true) },
      },
    });
    expect(up.status).toBe(200);
    const s1 = await h.sync(alice, { since: s0.next_batch });
    expect(s1.device_one_time_keys_count.signed_curve25519).toBe(2);
    expect(s1.device_unused_fallback_key_types).toEqual(['signed_curve25519']);
  });

  it('device_lists.changed names a room-mate whose devices changed', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(alice);
    const key = generateSigningKey();
    const deviceKeys = signAs(
      {
        user_id: bob.user_id,
        device_id: bob.device_id,
        algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
        keys: { [`curve25519:${bob.device_id}`]: b64(), [`ed25519:${bob.device_id}`]: key.publicKey },
      },
      bob.user_id,
      `ed25519:${bob.device_id}`,
      key,
    );
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const up = await h.req('POST', `${V3}/keys/upload`, { token: bob.access_token, body: { device_keys: deviceKeys } });
    expect(up.status).toBe(200);
    const s1 = await waiting;
    expect(s1.device_lists.changed).toContain(bob.user_id);
  });
});

describe('sync: presence and unread counts', () => {
  it('set_presence marks the user online for room-mates; offline leaves it alone', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    await h.sync(alice, { set_presence: 'online' });
    const seen = await h.sync(bob);
    const p = seen.presence.events.find((e: any) => e.sender === alice.user_id);
    expect(p).toMatchObject({ type: 'm.presence', sender: alice.user_id });
    expect(p.content.presence).toBe('online');
    const filtered = await h.sync(bob, { filter: JSON.stringify({ presence: { not_senders: [alice.user_id] } }) });
    expect(filtered.presence.events.find((e: any) => e.sender === alice.user_id)).toBeUndefined();
    const carol = await h.register('carol');
    await h.join(carol, roomId);
    await h.sync(carol, { set_presence: 'offline' });
    const later = await h.sync(alice, { set_presence: 'offline' });
    expect(later.presence.events.find((e: any) => e.sender === carol.user_id && e.content.presence === 'online')).toBeUndefined();
  });

  it('unread notification counts come from push', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(alice);
    await h.send(bob, roomId, 'ping');
    await h.send(bob, roomId, 'hey alice, are you there?');
    const s1 = await h.sync(alice, { since: s0.next_batch });
    expect(s1.rooms.join[roomId].unread_notifications.notification_count).toBe(2);
  });
});
