// Membership endpoints through Fastify: join (ID, alias, /rooms/{id}/join), invite, leave, kick,
// ban, unban, knock (v7+ vs v6), forget, joined_rooms, guests, restricted rooms, and the hooks to
// federation for rooms this server is not in.
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { isRoomForgotten } from '../../src/rooms/lifecycle/index.js';
import { lifecycleHarness, enc, SERVER, V3, type LifecycleHarness } from './rooms-lifecycle-harness.js';
import type { Session } from './users-harness.js';

const harnesses: LifecycleHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(config: Record<string, unknown> = {}, opts: Parameters<typeof lifecycleHarness>[1] = {}): Promise<LifecycleHarness> {
  const h = await lifecycleHarness(config, opts);
  harnesses.push(h);
  return h;
}

function post(h: LifecycleHarness, who: Session, path: string, body: unknown = {}) {
  return h.req('POST', `${V3}${path}`, { token: who.access_token, body });
}

describe('join', () => {
  it('joins a public room by ID, by alias and through /rooms/{roomId}/join, keeping the profile', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob', { displayname: 'Bob B' });
    const carol = await h.register('carol');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat', room_alias_name: 'lobby', room_version: '10' });

    const byId = await post(h, bob, `/join/${enc(roomId)}`, { reason: 'hi' });
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual({ room_id: roomId });
    expect(await h.state(roomId, 'm.room.member', bob.user_id)).toEqual({ membership: 'join', displayname: 'Bob B', reason: 'hi' });

    const byAlias = await post(h, carol, `/join/${enc(`#lobby:${SERVER}`)}`);
    expect(byAlias.body).toEqual({ room_id: roomId });
    expect(await h.membership(roomId, carol.user_id)).toBe('join');

    // Joining again with the same content sends nothing new.
    const before = h.store.currentStreamPosition();
    expect((await post(h, carol, `/rooms/${enc(roomId)}/join`)).body).toEqual({ room_id: roomId });
    expect(h.store.currentStreamPosition()).toBe(before);
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: carol.access_token })).body).toEqual({ joined_rooms: [roomId] });
  });

  it('refuses invite-only rooms without an invite, unknown rooms and aliases, and bad identifiers', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token);
    const closed = await post(h, bob, `/join/${enc(roomId)}`);
    expect(closed.status).toBe(403);
    expect(closed.body.errcode).toBe('M_FORBIDDEN');

    const unknown = await post(h, bob, `/join/${enc('!nowhere:test.local')}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ errcode: 'M_NOT_FOUND', error: 'No known servers' });
    expect((await post(h, bob, `/join/${enc(`#nope:${SERVER}`)}`)).status).toBe(404);
    // Another server's alias cannot be resolved without federation.
    expect((await post(h, bob, `/join/${enc('#room:elsewhere.example')}`)).status).toBe(404);
    const bad = await post(h, bob, `/join/${enc('nonsense')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_INVALID_PARAM');
    expect((await post(h, bob, `/rooms/${enc('#lobby:test.local')}/join`)).status).toBe(400);
    expect((await post(h, bob, `/join/${enc(roomId)}`, { reason: 5 })).body.errcode).toBe('M_BAD_JSON');
    const huge = await post(h, ann, `/rooms/${enc(roomId)}/leave`, { reason: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(huge.body.errcode).toBe('M_TOO_LARGE');
    expect(await h.membership(roomId, ann.user_id)).toBe('join');
  });

  it('hands rooms this server is not in to the federation hook with the servers to try', async () => {
    const calls: JsonObject[] = [];
    const h = await setup({}, {
      remote: {
        remoteJoin: async (input) => {
          calls.push(input as unknown as JsonObject);
          return { roomId: input.roomId };
        },
        queryAlias: async (alias) => (alias === '#far:remote.example' ? { roomId: '!far:remote.example', servers: ['other.example', 'remote.example'] } : undefined),
      },
    });
    const bob = await h.register('bob', { displayname: 'Bob' });
    const r = await h.req('POST', `${V3}/join/${enc('!abc:remote.example')}?via=one.example&via=two.example`, { token: bob.access_token, body: {} });
    expect(r.body).toEqual({ room_id: '!abc:remote.example' });
    expect(calls[0]).toEqual({
      roomId: '!abc:remote.example',
      servers: ['one.example', 'two.example', 'remote.example'],
      userId: bob.user_id,
      content: { membership: 'join', displayname: 'Bob' },
    });
    const viaAlias = await post(h, bob, `/join/${enc('#far:remote.example')}`);
    expect(viaAlias.body).toEqual({ room_id: '!far:remote.example' });
    // The alias's own server first.
    expect(calls[1]!.servers).toEqual(['remote.example', 'other.example']);
    // The deprecated server_name parameter still works.
    await h.req('POST', `${V3}/join/${enc('!xyz:remote.example')}?server_name=three.example`, { token: bob.access_token, body: {} });
    expect(calls[2]!.servers).toEqual(['three.example', 'remote.example']);
    // A room only this server ever took part in is joined locally even when nobody is left in it.
    const ann = await h.register('ann');
    const lonely = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    await post(h, ann, `/rooms/${enc(lonely)}/leave`);
    expect((await post(h, bob, `/join/${enc(lonely)}`)).body).toEqual({ room_id: lonely });
    expect(await h.membership(lonely, bob.user_id)).toBe('join');
    expect(calls).toHaveLength(3);
  });

  it('lets guests join only where guest access is can_join', async () => {
    const h = await setup({ allow_guest_access: true });
    const ann = await h.register('ann');
    const open = await h.createRoom(ann.access_token, { preset: 'public_chat', initial_state: [{ type: 'm.room.guest_access', content: { guest_access: 'can_join' } }] });
    const noGuests = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    const g = await h.req('POST', `${V3}/register?kind=guest`, { body: {} });
    expect(g.status).toBe(200);
    const guest = g.body as Session;
    const ok = await post(h, guest, `/join/${enc(open)}`);
    expect(ok.status).toBe(200);
    expect((await h.state(open, 'm.room.member', guest.user_id))!.kind).toBe('guest');
    const refused = await post(h, guest, `/rooms/${enc(noGuests)}/join`);
    expect(refused.status).toBe(403);
    expect(refused.body.errcode).toBe('M_FORBIDDEN');
    // Guests may leave but not create rooms, invite or knock.
    expect((await post(h, guest, `/rooms/${enc(open)}/leave`)).status).toBe(200);
    expect((await post(h, guest, '/createRoom')).body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    expect((await post(h, guest, `/rooms/${enc(open)}/invite`, { user_id: ann.user_id })).body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });

  it('joins a restricted room (v8+) through membership of an allowed room, authorised by a local admin', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const space = await h.createRoom(ann.access_token, { preset: 'public_chat', room_version: '10' });
    await post(h, bob, `/join/${enc(space)}`);
    const restricted = await h.createRoom(ann.access_token, {
      room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    const ok = await post(h, bob, `/join/${enc(restricted)}`);
    expect(ok.status).toBe(200);
    expect((await h.state(restricted, 'm.room.member', bob.user_id))!.join_authorised_via_users_server).toBe(ann.user_id);
    const no = await post(h, carol, `/join/${enc(restricted)}`);
    expect(no.status).toBe(403);
    expect(no.body.errcode).toBe('M_FORBIDDEN');
  });
});

describe('invite, leave, kick, ban, unban', () => {
  it('invites into a private room; the invitee joins; repeated invites are accepted', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob', { displayname: 'Bobby' });
    const roomId = await h.createRoom(ann.access_token, { room_version: '10' });
    const inv = await post(h, ann, `/rooms/${enc(roomId)}/invite`, { user_id: bob.user_id, reason: 'welcome' });
    expect(inv.status).toBe(200);
    expect(inv.body).toEqual({});
    expect(await h.state(roomId, 'm.room.member', bob.user_id)).toEqual({ membership: 'invite', displayname: 'Bobby', reason: 'welcome' });
    const before = h.store.currentStreamPosition();
    expect((await post(h, ann, `/rooms/${enc(roomId)}/invite`, { user_id: bob.user_id, reason: 'welcome' })).status).toBe(200);
    expect(h.store.currentStreamPosition()).toBe(before);
    expect((await post(h, bob, `/rooms/${enc(roomId)}/join`)).status).toBe(200);
    const again = await post(h, ann, `/rooms/${enc(roomId)}/invite`, { user_id: bob.user_id });
    expect(again.status).toBe(403);
    expect(again.body.errcode).toBe('M_FORBIDDEN');
  });

  it('checks the inviter and the invitee', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat', room_version: '10' });
    // Not in the room.
    const outsider = await post(h, bob, `/rooms/${enc(roomId)}/invite`, { user_id: carol.user_id });
    expect(outsider.status).toBe(403);
    // In the room but below the invite level (50 in public_chat).
    await post(h, bob, `/join/${enc(roomId)}`);
    const weak = await post(h, bob, `/rooms/${enc(roomId)}/invite`, { user_id: carol.user_id });
    expect(weak.status).toBe(403);
    expect(weak.body.errcode).toBe('M_FORBIDDEN');
    expect(await h.membership(roomId, carol.user_id)).toBeUndefined();

    const cases: [unknown, number, string][] = [
      [{}, 400, 'M_MISSING_PARAM'],
      [{ user_id: 'carol' }, 400, 'M_INVALID_PARAM'],
      [{ user_id: '@ghost:test.local' }, 404, 'M_NOT_FOUND'],
      [{ user_id: '@zed:elsewhere.example' }, 403, 'M_FORBIDDEN'],
      [{ medium: 'email', address: 'c@d.e', id_server: 'id.example', id_access_token: 't' }, 403, 'M_FORBIDDEN'],
      [{ medium: 'email', address: 'c@d.e' }, 400, 'M_MISSING_PARAM'],
    ];
    for (const [body, status, errcode] of cases) {
      const r = await post(h, ann, `/rooms/${enc(roomId)}/invite`, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
    }
    expect((await post(h, ann, `/rooms/${enc('!gone:test.local')}/invite`, { user_id: carol.user_id })).status).toBe(403);
  });

  it('sends invites of other servers\' users through the federation hook', async () => {
    const invites: JsonObject[] = [];
    const h = await setup({}, { remote: { remoteInvite: async (input) => void invites.push(input as unknown as JsonObject) } });
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, { invite: ['@zed:elsewhere.example'], is_direct: true });
    expect(invites).toEqual([{ roomId, sender: ann.user_id, target: '@zed:elsewhere.example', content: { is_direct: true, membership: 'invite' } }]);
  });

  it('leaves, rejects invites, and answers unknown rooms', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const roomId = await h.createRoom(ann.access_token, { room_version: '10', invite: [bob.user_id] });
    // Rejecting an invite.
    expect((await post(h, bob, `/rooms/${enc(roomId)}/leave`, { reason: 'no thanks' })).status).toBe(200);
    expect(await h.state(roomId, 'm.room.member', bob.user_id)).toEqual({ membership: 'leave', reason: 'no thanks' });
    // Leaving twice with the same content is a no-op.
    expect((await post(h, bob, `/rooms/${enc(roomId)}/leave`, { reason: 'no thanks' })).status).toBe(200);
    // Never in the room.
    const never = await post(h, carol, `/rooms/${enc(roomId)}/leave`);
    expect(never.status).toBe(403);
    const unknown = await post(h, carol, `/rooms/${enc('!gone:test.local')}/leave`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    expect((await post(h, ann, `/rooms/${enc(roomId)}/leave`)).status).toBe(200);
    expect(await h.membership(roomId, ann.user_id)).toBe('leave');
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body.joined_rooms).toEqual([]);
  });

  it('kicks with the kick level only, and only members', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat', room_version: '11' });
    await post(h, bob, `/join/${enc(roomId)}`);
    await post(h, carol, `/join/${enc(roomId)}`);
    const weak = await post(h, bob, `/rooms/${enc(roomId)}/kick`, { user_id: carol.user_id });
    expect(weak.status).toBe(403);
    expect(weak.body.errcode).toBe('M_FORBIDDEN');
    const kick = await post(h, ann, `/rooms/${enc(roomId)}/kick`, { user_id: carol.user_id, reason: 'rude' });
    expect(kick.status).toBe(200);
    const ev = await h.stateEvent(roomId, 'm.room.member', carol.user_id);
    expect(ev!.event.content).toEqual({ membership: 'leave', reason: 'rude' });
    expect(ev!.event.sender).toBe(ann.user_id);
    const notIn = await post(h, ann, `/rooms/${enc(roomId)}/kick`, { user_id: carol.user_id });
    expect(notIn.status).toBe(403);
    expect((await post(h, ann, `/rooms/${enc(roomId)}/kick`, {})).body.errcode).toBe('M_MISSING_PARAM');
    // A kicked user of a public room may come back.
    expect((await post(h, carol, `/join/${enc(roomId)}`)).status).toBe(200);
  });

  it('bans keep users out until unbanned; unban needs a ban; power is checked', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    await post(h, bob, `/join/${enc(roomId)}`);
    await post(h, carol, `/join/${enc(roomId)}`);
    expect((await post(h, bob, `/rooms/${enc(roomId)}/ban`, { user_id: carol.user_id })).status).toBe(403);
    expect((await post(h, ann, `/rooms/${enc(roomId)}/ban`, { user_id: carol.user_id, reason: 'spam' })).status).toBe(200);
    expect(await h.state(roomId, 'm.room.member', carol.user_id)).toEqual({ membership: 'ban', reason: 'spam' });
    const rejoin = await post(h, carol, `/join/${enc(roomId)}`);
    expect(rejoin.status).toBe(403);
    expect(rejoin.body.errcode).toBe('M_FORBIDDEN');
    // Banning someone who never joined works too.
    const dave = await h.register('dave');
    expect((await post(h, ann, `/rooms/${enc(roomId)}/ban`, { user_id: dave.user_id })).status).toBe(200);
    expect((await post(h, bob, `/rooms/${enc(roomId)}/unban`, { user_id: carol.user_id })).status).toBe(403);
    const notBanned = await post(h, ann, `/rooms/${enc(roomId)}/unban`, { user_id: bob.user_id });
    expect(notBanned.status).toBe(403);
    expect(notBanned.body.errcode).toBe('M_BAD_STATE');
    expect((await post(h, ann, `/rooms/${enc(roomId)}/unban`, { user_id: carol.user_id, reason: 'ok' })).status).toBe(200);
    expect(await h.state(roomId, 'm.room.member', carol.user_id)).toEqual({ membership: 'leave', reason: 'ok' });
    expect((await post(h, carol, `/join/${enc(roomId)}`)).status).toBe(200);
    expect((await post(h, ann, `/rooms/${enc('!gone:test.local')}/ban`, { user_id: carol.user_id })).status).toBe(403);
  });
});

describe('knock', () => {
  it('knocks on a v7+ room with the knock join rule; the knock can be accepted by an invite', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob', { displayname: 'Bob' });
    const roomId = await h.createRoom(ann.access_token, {
      room_version: '7',
      room_alias_name: 'door',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }],
    });
    const r = await post(h, bob, `/knock/${enc(`#door:${SERVER}`)}`, { reason: 'let me in' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ room_id: roomId });
    expect(await h.state(roomId, 'm.room.member', bob.user_id)).toEqual({ membership: 'knock', displayname: 'Bob', reason: 'let me in' });
    expect((await post(h, ann, `/rooms/${enc(roomId)}/invite`, { user_id: bob.user_id })).status).toBe(200);
    expect((await post(h, bob, `/join/${enc(roomId)}`)).status).toBe(200);
  });

  it('refuses knocks on v6 rooms, rooms without the knock rule, and unknown rooms', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const v6 = await h.createRoom(ann.access_token, { room_version: '6', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const old = await post(h, bob, `/knock/${enc(v6)}`);
    expect(old.status).toBe(403);
    expect(old.body.errcode).toBe('M_FORBIDDEN');
    const invite = await h.createRoom(ann.access_token, { room_version: '10' });
    const closed = await post(h, bob, `/knock/${enc(invite)}`);
    expect(closed.status).toBe(403);
    expect((await post(h, bob, `/knock/${enc('!gone:test.local')}`)).status).toBe(404);
    const restricted = await h.createRoom(ann.access_token, {
      room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock_restricted', allow: [] } }],
    });
    expect((await post(h, bob, `/knock/${enc(restricted)}`)).status).toBe(200);
    expect(await h.membership(restricted, bob.user_id)).toBe('knock');
  });
});

describe('forget', () => {
  it('only after leaving; hides the room until a new membership', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    await post(h, bob, `/join/${enc(roomId)}`);
    const joined = await post(h, bob, `/rooms/${enc(roomId)}/forget`);
    expect(joined.status).toBe(400);
    expect(joined.body.errcode).toBe('M_UNKNOWN');
    expect(await isRoomForgotten({ roomLifecycle: h.lifecycle }, bob.user_id, roomId)).toBe(false);

    await post(h, bob, `/rooms/${enc(roomId)}/leave`);
    expect((await post(h, bob, `/rooms/${enc(roomId)}/forget`)).status).toBe(200);
    expect(await h.lifecycle.isRoomForgotten(bob.user_id, roomId)).toBe(true);
    expect(await isRoomForgotten({ roomLifecycle: h.lifecycle }, bob.user_id, roomId)).toBe(true);
    expect(await h.lifecycle.forgottenRooms(bob.user_id)).toEqual([roomId]);
    expect(await h.lifecycle.isRoomForgotten(ann.user_id, roomId)).toBe(false);

    // Joining again brings the room back.
    await post(h, bob, `/join/${enc(roomId)}`);
    expect(await h.lifecycle.isRoomForgotten(bob.user_id, roomId)).toBe(false);
    // A room never seen: nothing to forget.
    expect((await post(h, bob, `/rooms/${enc('!gone:test.local')}/forget`)).status).toBe(200);
    expect((await post(h, bob, `/rooms/${enc('bad')}/forget`)).status).toBe(400);
  });
});
