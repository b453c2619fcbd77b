// PUT /sendToDevice and the ToDeviceSource /sync reads: delivery to one device or `*`,
// transaction-ID idempotency, batches with the rest next time, deletion only on acknowledgement.
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { e2eeHarness, SERVER, V3, type Device, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(opts?: Parameters<typeof e2eeHarness>[0]): Promise<E2eeHarness> {
  const h = await e2eeHarness(opts);
  harnesses.push(h);
  return h;
}

function send(h: E2eeHarness, from: Device, type: string, txnId: string, messages: JsonObject) {
  return h.req('PUT', `${V3}/sendToDevice/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`, { token: from.access_token, body: { messages } });
}

/** What a sync from 0 would deliver to the device now. */
function inbox(h: E2eeHarness, d: Device, since = 0, limit = 100) {
  return h.e2ee.toDevice.messagesFor(d.user_id, d.device_id, since, h.e2ee.toDevice.position(), limit);
}

describe('PUT /sendToDevice', () => {
  it('delivers to one device with sender and type, wakes the recipient, and moves the stream', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob1 = await h.device('bob');
    const bob2 = await h.device('bob');
    const before = h.e2ee.toDevice.position();
    h.wakes.length = 0;
    const r = await send(h, alice, 'm.room_key_request', 't1', { [bob1.user_id]: { [bob1.device_id]: { action: 'request', n: [1, 2] } } });
    expect([r.status, r.body]).toEqual([200, {}]);
    expect(h.e2ee.toDevice.position()).toBe(before + 1);
    expect(h.wakes).toEqual([[bob1.user_id]]);
    expect(inbox(h, bob1).events).toEqual([{ content: { action: 'request', n: [1, 2] }, sender: alice.user_id, type: 'm.room_key_request' }]);
    expect(inbox(h, bob2).events).toEqual([]);
  });

  it('delivers `*` to every device of the user, an explicit device entry taking precedence', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob1 = await h.device('bob');
    const bob2 = await h.device('bob');
    const bob3 = await h.device('bob');
    await send(h, alice, 'm.test', 't1', { [bob1.user_id]: { '*': { to: 'all' }, [bob2.device_id]: { to: 'two' } } });
    expect(inbox(h, bob1).events.map((e) => e.content)).toEqual([{ to: 'all' }]);
    expect(inbox(h, bob2).events.map((e) => e.content)).toEqual([{ to: 'two' }]);
    expect(inbox(h, bob3).events.map((e) => e.content)).toEqual([{ to: 'all' }]);
  });

  it('is idempotent per sending device and transaction ID', async () => {
    const h = await setup();
    const alice1 = await h.device('alice');
    const alice2 = await h.device('alice');
    const bob = await h.device('bob');
    const msg = { [bob.user_id]: { [bob.device_id]: { x: 1 } } };
    await send(h, alice1, 'm.test', 'same', msg);
    const pos = h.e2ee.toDevice.position();
    h.wakes.length = 0;
    const again = await send(h, alice1, 'm.test', 'same', msg);
    expect([again.status, again.body]).toEqual([200, {}]);
    expect(h.e2ee.toDevice.position()).toBe(pos);
    expect(h.wakes).toEqual([]);
    expect(inbox(h, bob).events.length).toBe(1);
    // Another transaction ID, or the same one from another device, is a new message.
    await send(h, alice1, 'm.test', 'other', msg);
    await send(h, alice2, 'm.test', 'same', msg);
    expect(inbox(h, bob).events.length).toBe(3);
  });

  it('drops unknown devices, unknown users and invalid user IDs; remote users need federation', async () => {
    const edus: unknown[] = [];
    const h = await setup({ federation: { sendToDevice: (server, edu) => edus.push({ server, ...edu }) } });
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const r = await send(h, alice, 'm.test', 't', {
      [bob.user_id]: { NOSUCHDEVICE: { a: 1 } },
      [`@ghost:${SERVER}`]: { '*': { a: 2 } },
      'not a user': { D: { a: 3 } },
      '@carol:remote.example': { CDEV: { a: 4 } },
    });
    expect(r.status).toBe(200);
    expect(inbox(h, bob).events).toEqual([]);
    expect(edus).toEqual([
      { server: 'remote.example', sender: alice.user_id, type: 'm.test', message_id: expect.any(String), messages: { '@carol:remote.example': { CDEV: { a: 4 } } } },
    ]);
  });

  it('refuses bad bodies and oversized messages', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    let r = await h.req('PUT', `${V3}/sendToDevice/m.test/t1`, { token: alice.access_token, body: {} });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    r = await send(h, alice, 'm.test', 't2', [] as unknown as JsonObject);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    r = await send(h, alice, 'm.test', 't3', { [bob.user_id]: { [bob.device_id]: 'text' } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    r = await send(h, alice, 'm.test', 't4', { [bob.user_id]: { [bob.device_id]: { big: 'x'.repeat(70_000) } } });
    expect([r.status, r.body.errcode]).toEqual([413, 'M_TOO_LARGE']);
    r = await h.req('PUT', `${V3}/sendToDevice/m.test/t5`, { body: { messages: {} } });
    expect(r.status).toBe(401);
    expect(inbox(h, bob).events).toEqual([]);
  });
});

describe('ToDeviceSource (what /sync reads)', () => {
  it('delivers in batches, oldest first, and keeps messages until they are acknowledged', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    for (let i = 0; i < 5; i++) await send(h, alice, 'm.test', `t${i}`, { [bob.user_id]: { [bob.device_id]: { i } } });
    const upTo = h.e2ee.toDevice.position();

    const first = h.e2ee.toDevice.messagesFor(bob.user_id, bob.device_id, 0, upTo, 2);
    expect(first.events.map((e) => (e.content as JsonObject).i)).toEqual([0, 1]);
    expect(first.nextPosition).toBeLessThan(upTo);
    // Not acknowledged yet: the same batch again (a sync whose answer was lost).
    expect(h.e2ee.toDevice.messagesFor(bob.user_id, bob.device_id, 0, upTo, 2).events.length).toBe(2);

    // The next sync carries first.nextPosition: it acknowledges the first batch and gets the rest.
    h.e2ee.toDevice.acknowledge(bob.user_id, bob.device_id, first.nextPosition);
    const second = h.e2ee.toDevice.messagesFor(bob.user_id, bob.device_id, first.nextPosition, upTo, 100);
    expect(second.events.map((e) => (e.content as JsonObject).i)).toEqual([2, 3, 4]);
    expect(second.nextPosition).toBe(upTo);
    // Acknowledged messages are gone for good, unacknowledged ones stay.
    expect(inbox(h, bob).events.map((e) => (e.content as JsonObject).i)).toEqual([2, 3, 4]);
    h.e2ee.toDevice.acknowledge(bob.user_id, bob.device_id, second.nextPosition);
    expect(inbox(h, bob).events).toEqual([]);
    const n = h.db.prepare('SELECT COUNT(*) AS n FROM e2e_device_inbox').get() as { n: number };
    expect(n.n).toBe(0);
  });

  it('does not deliver messages past upTo, and drops the inbox of a deleted device', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    await send(h, alice, 'm.test', 'a', { [bob.user_id]: { [bob.device_id]: { n: 1 } } });
    const upTo = h.e2ee.toDevice.position();
    await send(h, alice, 'm.test', 'b', { [bob.user_id]: { [bob.device_id]: { n: 2 } } });
    const r = h.e2ee.toDevice.messagesFor(bob.user_id, bob.device_id, 0, upTo, 100);
    expect(r.events.map((e) => (e.content as JsonObject).n)).toEqual([1]);
    expect(r.nextPosition).toBe(upTo);
    await h.req('POST', `${V3}/logout`, { token: bob.access_token });
    const n = h.db.prepare('SELECT COUNT(*) AS n FROM e2e_device_inbox').get() as { n: number };
    expect(n.n).toBe(0);
  });
});
