// Profile changes reach the member events of joined rooms, and deactivation leaves every room,
// through the real rooms writer (src/rooms) on the same database.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { SERVER, usersHarness, type UsersHarness } from './users-harness.js';

const V3 = '/_matrix/client/v3';
const harnesses: UsersHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(): Promise<{ h: UsersHarness; rooms: RoomsService; errors: unknown[] }> {
  const h = await usersHarness();
  harnesses.push(h);
  const rooms = createRoomsService({ db: h.db, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: () => h.clock.now });
  const errors: unknown[] = [];
  connectUsersToRooms(h.users, rooms, { onRoomError: (roomId, userId, err) => errors.push([roomId, userId, err]) });
  return { h, rooms, errors };
}

async function roomWithMember(rooms: RoomsService, version: string, userId: string): Promise<string> {
  const { roomId } = await rooms.createRoom(version, userId);
  await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: userId, content: { membership: 'join', displayname: 'old' }, sender: userId });
  return roomId;
}

async function memberContent(rooms: RoomsService, roomId: string, userId: string) {
  return (await rooms.store.getCurrentStateEvent(roomId, 'm.room.member', userId))?.event.content;
}

describe('profile propagation', () => {
  it('a new display name or avatar is sent as a member event to every joined room', async () => {
    const { h, rooms, errors } = await setup();
    const s = await h.register('ann');
    const me = `@ann:${SERVER}`;
    const r12 = await roomWithMember(rooms, '12', me);
    const r10 = await roomWithMember(rooms, '10', me);
    const before = rooms.store.currentStreamPosition();

    await h.req('PUT', `${V3}/profile/${me}/displayname`, { token: s.access_token, body: { displayname: 'Ann B.' } });
    await h.req('PUT', `${V3}/profile/${me}/avatar_url`, { token: s.access_token, body: { avatar_url: 'mxc://test.local/pic' } });
    for (const roomId of [r12, r10]) {
      expect(await memberContent(rooms, roomId, me)).toEqual({ membership: 'join', displayname: 'Ann B.', avatar_url: 'mxc://test.local/pic' });
    }
    // Four new events (two rooms x two changes); the same name again sends nothing.
    expect(rooms.store.currentStreamPosition()).toBe(before + 4);
    await h.req('PUT', `${V3}/profile/${me}/displayname`, { token: s.access_token, body: { displayname: 'Ann B.' } });
    expect(rooms.store.currentStreamPosition()).toBe(before + 4);

    await h.req('PUT', `${V3}/profile/${me}/avatar_url`, { token: s.access_token, body: { avatar_url: '' } });
    expect(await memberContent(rooms, r10, me)).toEqual({ membership: 'join', displayname: 'Ann B.' });
    // Custom fields do not touch member events.
    await h.req('PUT', `${V3}/profile/${me}/m.tz`, { token: s.access_token, body: { 'm.tz': 'UTC' } });
    expect(rooms.store.currentStreamPosition()).toBe(before + 6);
    expect(errors).toEqual([]);
  });

  it('deactivation leaves every room', async () => {
    const { h, rooms, errors } = await setup();
    const s = await h.register('bo', 'pw');
    const me = `@bo:${SERVER}`;
    const roomId = await roomWithMember(rooms, '12', me);
    const r = await h.req('POST', `${V3}/account/deactivate`, {
      token: s.access_token,
      body: { auth: { type: 'm.login.password', user: 'bo', password: 'pw' } },
    });
    expect(r.status).toBe(200);
    expect((await memberContent(rooms, roomId, me))?.membership).toBe('leave');
    expect(await rooms.store.getRoomsForUser(me, 'join')).toEqual([]);
    expect(errors).toEqual([]);
  });
});
