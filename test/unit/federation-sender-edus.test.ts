// EDUs out through the federation sender: typing, receipts and presence from the ephemeral services
// (memory-only, batched, newest wins), to-device messages and device list / signing key updates
// from the E2EE service (persisted), each routed to the servers that must hear it.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildReceiptEdu } from '../../src/federation/sender/index.js';
import { crossSigningKey, deviceKeysOf, type Device } from '../http/e2ee-harness.js';
import { gate, LOCAL, REMOTE1, REMOTE2, senderHarness, until, type SenderHarness } from './federation-sender-harness.js';

let h: SenderHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const alice = `@alice:${LOCAL}`;
const dave = `@dave:${LOCAL}`;
const bob = `@bob:${REMOTE1}`;
const carol = `@carol:${REMOTE2}`;

/** alice's room with bob (remote1); carol (remote2) only when asked. */
async function room(x: SenderHarness, withCarol = true): Promise<string> {
  const roomId = await x.room(alice);
  await x.remoteJoin(roomId, bob);
  if (withCarol) await x.remoteJoin(roomId, carol);
  await x.sender.whenIdle();
  return roomId;
}

async function settle(x: SenderHarness): Promise<void> {
  await x.sources.deviceLists?.settled();
  await new Promise((r) => setImmediate(r));
  await x.sender.whenIdle();
}

describe('receipt EDU shape', () => {
  it('groups receipts by room, type and user, with ts and thread_id in data', () => {
    const { edu, deferred } = buildReceiptEdu([
      { roomId: '!a:x', userId: '@u:x', receiptType: 'm.read', threadId: null, eventId: '$1', ts: 10 },
      { roomId: '!a:x', userId: '@v:x', receiptType: 'm.read', threadId: '$t', eventId: '$2', ts: 11 },
      { roomId: '!b:x', userId: '@u:x', receiptType: 'm.read', threadId: null, eventId: '$3', ts: 12 },
      // A second thread of the same user in the same room waits for the next EDU.
      { roomId: '!a:x', userId: '@u:x', receiptType: 'm.read', threadId: '$t', eventId: '$4', ts: 9 },
    ]);
    expect(edu).toEqual({
      edu_type: 'm.receipt',
      content: {
        '!a:x': { 'm.read': { '@u:x': { event_ids: ['$1'], data: { ts: 10 } }, '@v:x': { event_ids: ['$2'], data: { ts: 11, thread_id: '$t' } } } },
        '!b:x': { 'm.read': { '@u:x': { event_ids: ['$3'], data: { ts: 12 } } } },
      },
    });
    expect(deferred.map((r) => r.eventId)).toEqual(['$4']);
  });
});

describe('ephemeral EDUs', () => {
  it('sends m.typing to the other servers of the room', async () => {
    h = await senderHarness();
    await h.account('alice');
    const roomId = await room(h);
    await h.typing.setTyping(alice, roomId, alice, { typing: true, timeout: 20_000 });
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.typing').length > 0 && h!.client.edusDeliveredTo(REMOTE2, 'm.typing').length > 0);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.typing')[0]!.content).toEqual({ room_id: roomId, user_id: alice, typing: true });
    expect(h.client.to(LOCAL)).toEqual([]);
  });

  it('keeps only the newest typing state of a user while the destination is busy', async () => {
    h = await senderHarness();
    const roomId = await room(h, false);
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return {};
    });
    h.sender.enqueueEdu(REMOTE1, { edu_type: 'org.example.busy', content: {} }, { persist: true });
    await until(() => h!.client.to(REMOTE1).length === 1);
    await h.typing.setTyping(alice, roomId, alice, { typing: true, timeout: 20_000 });
    await h.typing.setTyping(alice, roomId, alice, { typing: false });
    hold.open();
    await until(() => h!.client.deliveredTo(REMOTE1).length === 2);
    await settle(h);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.typing').map((e) => e.content.typing)).toEqual([false]);
  });

  it('sends public read receipts as m.receipt, never private ones', async () => {
    h = await senderHarness();
    const req = await h.account('alice');
    const roomId = await room(h);
    const eventId = await h.send(roomId, alice, 'read me');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(eventId));
    await h.receipts.sendReceipt(req, roomId, 'm.read.private', eventId, {});
    await settle(h);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.receipt')).toEqual([]);
    await h.receipts.sendReceipt(req, roomId, 'm.read', eventId, {});
    await until(() => h!.client.edusDeliveredTo(REMOTE2, 'm.receipt').length > 0);
    const edu = h.client.edusDeliveredTo(REMOTE1, 'm.receipt')[0]!;
    const entry = (((edu.content as JsonObject)[roomId] as JsonObject)['m.read'] as JsonObject)[alice] as JsonObject;
    expect(entry.event_ids).toEqual([eventId]);
    expect(typeof (entry.data as JsonObject).ts).toBe('number');
  });

  it('batches several receipts for one destination into one m.receipt EDU', async () => {
    h = await senderHarness();
    const reqA = await h.account('alice');
    const reqD = await h.account('dave');
    const r1 = await room(h, false);
    const r2 = await h.room(alice, [dave]);
    await h.remoteJoin(r2, bob);
    await h.state(r1, dave, 'm.room.member', { membership: 'join' }, dave);
    const e1 = await h.send(r1, alice, 'one');
    const e2 = await h.send(r2, alice, 'two');
    await settle(h);
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return {};
    });
    h.sender.enqueueEdu(REMOTE1, { edu_type: 'org.example.busy', content: {} }, { persist: true });
    await until(() => h!.client.to(REMOTE1).some((t) => t.body.edus.some((e) => e.edu_type === 'org.example.busy')));
    await h.receipts.sendReceipt(reqA, r1, 'm.read', e1, {});
    await h.receipts.sendReceipt(reqD, r1, 'm.read', e1, {});
    await h.receipts.sendReceipt(reqA, r2, 'm.read', e2, {});
    hold.open();
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.receipt').length > 0);
    await settle(h);
    const receipts = h.client.edusDeliveredTo(REMOTE1, 'm.receipt');
    expect(receipts).toHaveLength(1);
    const c = receipts[0]!.content as Record<string, Record<string, Record<string, JsonObject>>>;
    expect(Object.keys(c[r1]!['m.read']!).sort()).toEqual([alice, dave].sort());
    expect(c[r2]!['m.read']![alice]!.event_ids).toEqual([e2]);
  });

  it('sends m.presence to the servers sharing a room with the user, batched per destination', async () => {
    h = await senderHarness();
    await h.account('alice');
    await h.account('dave');
    const roomId = await room(h, false);
    await h.state(roomId, dave, 'm.room.member', { membership: 'join' }, dave);
    await settle(h);
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return {};
    });
    h.sender.enqueueEdu(REMOTE1, { edu_type: 'org.example.busy', content: {} }, { persist: true });
    await until(() => h!.client.to(REMOTE1).length > 0);
    await h.presence.setPresence(alice, alice, { presence: 'online', status_msg: 'here' });
    await h.presence.setPresence(dave, dave, { presence: 'unavailable' });
    await h.presence.setPresence(alice, alice, { presence: 'online', status_msg: 'still here' });
    hold.open();
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.presence').length > 0);
    await settle(h);
    const edus = h.client.edusDeliveredTo(REMOTE1, 'm.presence');
    expect(edus).toHaveLength(1);
    const push = edus[0]!.content.push as JsonObject[];
    expect(push.map((p) => p.user_id).sort()).toEqual([alice, dave].sort());
    const a = push.find((p) => p.user_id === alice)!;
    expect(a).toMatchObject({ presence: 'online', status_msg: 'still here' });
    expect(typeof a.currently_active).toBe('boolean');
    // remote2 shares no room with them.
    expect(h.client.edusDeliveredTo(REMOTE2, 'm.presence')).toEqual([]);
  });

  it("sends our users' presence to a server whose first user joins, and a joining user's presence to the room's servers", async () => {
    h = await senderHarness();
    await h.account('alice');
    await h.account('dave');
    await h.presence.setPresence(alice, alice, { presence: 'online', status_msg: 'around' });
    await h.presence.setPresence(dave, dave, { presence: 'unavailable' });
    const roomId = await h.room(alice);
    await settle(h);
    await h.remoteJoin(roomId, bob);
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.presence').length > 0);
    const first = h.client.edusDeliveredTo(REMOTE1, 'm.presence').flatMap((e) => e.content.push as JsonObject[]);
    expect(first.map((p) => p.user_id)).toEqual([alice]);
    expect(first[0]).toMatchObject({ presence: 'online', status_msg: 'around', currently_active: true });
    // A second user of the same server: nothing new to tell it.
    await h.remoteJoin(roomId, `@bob2:${REMOTE1}`);
    await settle(h);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.presence')).toHaveLength(1);
    // A local user joins: remote1 hears of them.
    await h.state(roomId, dave, 'm.room.member', { membership: 'join' }, dave);
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.presence').some((e) => (e.content.push as JsonObject[]).some((p) => p.user_id === dave)));
    const daves = h.client.edusDeliveredTo(REMOTE1, 'm.presence').flatMap((e) => e.content.push as JsonObject[]).filter((p) => p.user_id === dave);
    expect(daves[0]).toMatchObject({ presence: 'unavailable', currently_active: false });
  });
});

describe('E2EE EDUs', () => {
  async function device(x: SenderHarness, localpart: string) {
    const req = await x.account(localpart);
    const d: Device = {
      user_id: req.userId,
      device_id: req.deviceId,
      access_token: '',
      key: generateSigningKey(req.deviceId),
      curve25519: 'c'.repeat(43),
    };
    return { req, d };
  }

  it('sends to-device messages for remote users as persisted m.direct_to_device EDUs', async () => {
    h = await senderHarness();
    const { req } = await device(h, 'alice');
    await room(h);
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return {};
    });
    await h.e2ee.sendToDevice(req, 'm.room.encrypted', 'txn1', { messages: { [bob]: { BOBDEV: { ciphertext: 'x' } }, [carol]: { '*': { ciphertext: 'y' } } } });
    await until(() => h!.client.edusDeliveredTo(REMOTE2, 'm.direct_to_device').length > 0);
    const toCarol = h.client.edusDeliveredTo(REMOTE2, 'm.direct_to_device')[0]!.content;
    expect(toCarol).toMatchObject({ sender: alice, type: 'm.room.encrypted', messages: { [carol]: { '*': { ciphertext: 'y' } } } });
    expect(typeof toCarol.message_id).toBe('string');
    // Held for remote1: stored in SQLite until delivered.
    await until(() => h!.client.to(REMOTE1).length > 0);
    expect(h.sender.destinationStatus(REMOTE1).pendingPersistedEdus).toBe(1);
    hold.open();
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.direct_to_device').length > 0);
    await settle(h);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.direct_to_device')[0]!.content).toMatchObject({ messages: { [bob]: { BOBDEV: { ciphertext: 'x' } } } });
    expect(h.sender.destinationStatus(REMOTE1).pendingPersistedEdus).toBe(0);
  });

  it('sends m.device_list_update for new, changed and deleted devices with a prev_id chain', async () => {
    h = await senderHarness();
    const { req, d } = await device(h, 'alice');
    await room(h);
    await settle(h);
    // The login created a device (no keys yet): announced when the list changes.
    await h.e2ee.uploadKeys(req, { device_keys: deviceKeysOf(d) });
    await settle(h);
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.device_list_update').length > 0);
    const first = h.client.edusDeliveredTo(REMOTE1, 'm.device_list_update');
    const upd = first.at(-1)!.content;
    expect(upd).toMatchObject({ user_id: alice, device_id: d.device_id, prev_id: [] });
    expect(typeof upd.stream_id).toBe('number');
    expect((upd.keys as JsonObject).device_id).toBe(d.device_id);
    expect(h.client.edusDeliveredTo(REMOTE2, 'm.device_list_update').at(-1)!.content.stream_id).toBe(upd.stream_id);

    // A second device, then the first one deleted: each update names the previous one.
    const second = await device(h, 'alice');
    await h.e2ee.uploadKeys(second.req, { device_keys: deviceKeysOf(second.d) });
    await settle(h);
    await h.users.removeDevices(alice, [d.device_id]);
    await settle(h);
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.device_list_update').some((e) => e.content.deleted === true));
    const all = h.client.edusDeliveredTo(REMOTE1, 'm.device_list_update').map((e) => e.content);
    for (let i = 1; i < all.length; i++) expect(all[i]!.prev_id).toEqual([all[i - 1]!.stream_id]);
    const deleted = all.find((e) => e.deleted === true)!;
    expect(deleted.device_id).toBe(d.device_id);
    expect(deleted.keys).toBeUndefined();
    expect(all.some((e) => e.device_id === second.d.device_id && (e.keys as JsonObject | undefined)?.device_id === second.d.device_id)).toBe(true);
    // Nothing changed: nothing is sent.
    const count = all.length;
    h.e2eeHooks.localDeviceListChanged!(alice);
    await settle(h);
    expect(h.client.edusDeliveredTo(REMOTE1, 'm.device_list_update')).toHaveLength(count);
  });

  it('sends m.signing_key_update when cross-signing keys change, to servers sharing a room only', async () => {
    h = await senderHarness();
    const { req } = await device(h, 'alice');
    await room(h, false);
    const master = generateSigningKey('m');
    const selfSigning = generateSigningKey('s');
    const userSigning = generateSigningKey('u');
    const masterKey = crossSigningKey(alice, 'master', master);
    const r = await h.e2ee.uploadCrossSigningKeys(
      req,
      {
        master_key: masterKey,
        self_signing_key: crossSigningKey(alice, 'self_signing', selfSigning, master),
        user_signing_key: crossSigningKey(alice, 'user_signing', userSigning, master),
      },
      'test',
    );
    expect(r).toEqual({ result: {} });
    await settle(h);
    await until(() => h!.client.edusDeliveredTo(REMOTE1, 'm.signing_key_update').length > 0);
    const c = h.client.edusDeliveredTo(REMOTE1, 'm.signing_key_update')[0]!.content;
    expect(c.user_id).toBe(alice);
    expect((c.master_key as JsonObject).keys).toEqual(masterKey.keys);
    expect((c.self_signing_key as JsonObject).usage).toEqual(['self_signing']);
    // The user-signing key never leaves the server.
    expect(c.user_signing_key).toBeUndefined();
    expect(h.client.edusDeliveredTo(REMOTE2, 'm.signing_key_update')).toEqual([]);
  });
});
