// Device lists for /sync (DeviceKeysSource): who is told that whose devices or keys changed, who
// newly shares a room, who left; driven by real key uploads, logins, device deletions and real
// membership events through the rooms writer.
import { afterEach, describe, expect, it } from 'vitest';
import { e2eeHarness, V3, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<E2eeHarness> {
  const h = await e2eeHarness();
  harnesses.push(h);
  return h;
}

/** Changes seen by `userId` since `since` up to now, sorted. */
function changes(h: E2eeHarness, userId: string, since: number) {
  const r = h.e2ee.deviceKeys.deviceListChanges(userId, since, h.e2ee.deviceKeys.position());
  return { changed: [...r.changed].sort(), left: [...r.left].sort() };
}

describe('device_lists.changed', () => {
  it('tells users sharing a room (and the user) about new keys, logins, renames and deletions; nobody else', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    await h.sharedRoom(alice.user_id, bob.user_id);

    let since = h.e2ee.deviceKeys.position();
    h.wakes.length = 0;
    await h.uploadDeviceKeys(bob);
    expect(changes(h, alice.user_id, since)).toEqual({ changed: [bob.user_id], left: [] });
    expect(changes(h, bob.user_id, since)).toEqual({ changed: [bob.user_id], left: [] });
    expect(changes(h, carol.user_id, since)).toEqual({ changed: [], left: [] });
    // The waiting syncs of Alice and Bob are woken, Carol's not.
    expect(h.wakes.flat().sort()).toEqual([alice.user_id, bob.user_id]);

    // Uploading the same keys again changes nothing.
    since = h.e2ee.deviceKeys.position();
    await h.uploadDeviceKeys(bob);
    expect(changes(h, alice.user_id, since).changed).toEqual([]);

    // A new login (a new device) and a rename.
    since = h.e2ee.deviceKeys.position();
    const bob2 = await h.device('bob');
    expect(changes(h, alice.user_id, since).changed).toEqual([bob.user_id]);
    since = h.e2ee.deviceKeys.position();
    await h.req('PUT', `${V3}/devices/${bob2.device_id}`, { token: bob2.access_token, body: { display_name: 'laptop' } });
    expect(changes(h, alice.user_id, since).changed).toEqual([bob.user_id]);

    // Deleting a device (logout).
    since = h.e2ee.deviceKeys.position();
    await h.req('POST', `${V3}/logout`, { token: bob2.access_token });
    expect(changes(h, alice.user_id, since).changed).toEqual([bob.user_id]);
    expect(changes(h, carol.user_id, since).changed).toEqual([]);
  });

  it('lists users who newly share a room, on both sides, and only changes inside (since, upTo]', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    const roomId = await h.sharedRoom(alice.user_id, bob.user_id);
    const before = h.e2ee.deviceKeys.position();
    await h.join(roomId, carol.user_id);
    const afterJoin = h.e2ee.deviceKeys.position();
    expect(afterJoin).toBeGreaterThan(before);
    // Alice and Bob learn of Carol; Carol learns of everyone in the room she joined.
    expect(changes(h, alice.user_id, before)).toEqual({ changed: [carol.user_id], left: [] });
    expect(changes(h, carol.user_id, before)).toEqual({ changed: [alice.user_id, bob.user_id], left: [] });
    // Outside the range: nothing.
    expect(h.e2ee.deviceKeys.deviceListChanges(alice.user_id, afterJoin, afterJoin)).toEqual({ changed: [], left: [] });
    // Messages and other state do not move the stream.
    await h.rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { body: 'hi', msgtype: 'm.text' }, sender: alice.user_id });
    await h.rooms.sendLocalEvent(roomId, { type: 'm.room.topic', stateKey: '', content: { topic: 't' }, sender: alice.user_id });
    expect(h.e2ee.deviceKeys.position()).toBe(afterJoin);
  });
});

describe('device_lists.left', () => {
  it('lists users who no longer share any room, on both sides, but not those still sharing another room', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    const room1 = await h.sharedRoom(alice.user_id, bob.user_id, carol.user_id);
    await h.sharedRoom(alice.user_id, bob.user_id);

    const since = h.e2ee.deviceKeys.position();
    await h.leave(room1, carol.user_id);
    await h.leave(room1, bob.user_id);
    // Carol shares nothing with Alice any more; Bob still shares the second room.
    expect(changes(h, alice.user_id, since)).toEqual({ changed: [], left: [carol.user_id] });
    expect(changes(h, carol.user_id, since)).toEqual({ changed: [], left: [alice.user_id, bob.user_id] });
    expect(changes(h, bob.user_id, since)).toEqual({ changed: [], left: [carol.user_id] });

    // Key changes of someone no longer sharing a room are not reported.
    const later = h.e2ee.deviceKeys.position();
    await h.uploadDeviceKeys(carol);
    expect(changes(h, alice.user_id, later)).toEqual({ changed: [], left: [] });
  });

  it('a user who joins again is changed, not left', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const room = await h.sharedRoom(alice.user_id, bob.user_id);
    const since = h.e2ee.deviceKeys.position();
    await h.leave(room, bob.user_id);
    await h.join(room, bob.user_id);
    expect(changes(h, alice.user_id, since)).toEqual({ changed: [bob.user_id], left: [] });
  });
});

describe('federation hook', () => {
  it('remoteDeviceListChanged records the change and wakes the local users sharing a room', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const carol = await h.device('carol');
    await h.sharedRoom(alice.user_id, bob.user_id);
    const since = h.e2ee.deviceKeys.position();
    h.wakes.length = 0;
    await h.e2ee.remoteDeviceListChanged([bob.user_id]);
    expect(changes(h, alice.user_id, since).changed).toEqual([bob.user_id]);
    expect(changes(h, carol.user_id, since).changed).toEqual([]);
    expect(h.wakes.flat().sort()).toEqual([alice.user_id, bob.user_id]);
  });
});
