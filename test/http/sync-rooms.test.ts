// GET /sync: filters (stored and inline), lazy-loading members, the invite/leave/knock sections,
// include_leave, newly joined rooms and history visibility.
import { describe, expect, it } from 'vitest';
import { bodies, syncHarness, timelineOf, V3 } from './sync-harness.js';

const enc = encodeURIComponent;

describe('sync filters', () => {
  it('a stored filter and the same filter inline limit the timeline', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    for (let i = 0; i < 4; i++) await h.send(alice, roomId, `m${i}`);
    const created = await h.req('POST', `${V3}/user/${enc(alice.user_id)}/filter`, { token: alice.access_token, body: { room: { timeline: { limit: 2 } } } });
    expect(created.status).toBe(200);
    const stored = await h.sync(alice, { filter: created.body.filter_id });
    const inline = await h.sync(alice, { filter: JSON.stringify({ room: { timeline: { limit: 2 } } }) });
    for (const body of [stored, inline]) {
      expect(bodies(timelineOf(body, roomId))).toEqual(['m2', 'm3']);
      expect(body.rooms.join[roomId].timeline.limited).toBe(true);
    }
  });

  it('types / not_types / senders on the timeline; wildcards', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(alice);
    await h.send(alice, roomId, 'from alice');
    await h.send(bob, roomId, 'from bob');
    await h.send(alice, roomId, '', { type: 'org.example.custom', content: { x: 1 } });
    const onlyMessages = await h.sync(alice, { since: s0.next_batch, filter: JSON.stringify({ room: { timeline: { types: ['m.room.*'] } } }) });
    expect(timelineOf(onlyMessages, roomId).map((e) => e.type)).toEqual(['m.room.message', 'm.room.message']);
    const notMessages = await h.sync(alice, { since: s0.next_batch, filter: JSON.stringify({ room: { timeline: { not_types: ['m.room.message'] } } }) });
    expect(timelineOf(notMessages, roomId).map((e) => e.type)).toEqual(['org.example.custom']);
    const bobOnly = await h.sync(alice, { since: s0.next_batch, filter: JSON.stringify({ room: { timeline: { senders: [bob.user_id] } } }) });
    expect(bodies(timelineOf(bobOnly, roomId))).toEqual(['from bob']);
    const notBob = await h.sync(alice, { since: s0.next_batch, filter: JSON.stringify({ room: { timeline: { not_senders: [bob.user_id] } } }) });
    expect(bodies(timelineOf(notBob, roomId))).toEqual(['from alice']);
  });

  it('rooms / not_rooms select the rooms of every section', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const a = await h.createRoom(alice);
    const b = await h.createRoom(alice);
    const onlyA = await h.sync(alice, { filter: JSON.stringify({ room: { rooms: [a] } }) });
    expect(Object.keys(onlyA.rooms.join)).toEqual([a]);
    const notA = await h.sync(alice, { filter: JSON.stringify({ room: { not_rooms: [a] } }) });
    expect(Object.keys(notA.rooms.join)).toEqual([b]);
    const timelineRooms = await h.sync(alice, { filter: JSON.stringify({ room: { timeline: { rooms: [b] } } }) });
    expect(timelineOf(timelineRooms, a)).toEqual([]);
    expect(timelineOf(timelineRooms, b).length).toBeGreaterThan(0);
  });

  it('room.state types, account_data and presence filters', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    for (const t of ['org.a', 'org.b']) {
      await h.req('PUT', `${V3}/user/${enc(alice.user_id)}/account_data/${t}`, { token: alice.access_token, body: { t } });
    }
    const body = await h.sync(alice, {
      filter: JSON.stringify({ account_data: { types: ['org.b'] }, room: { timeline: { limit: 1 }, state: { types: ['m.room.create'] } } }),
    });
    expect(body.account_data.events.map((e: any) => e.type)).toEqual(['org.b']);
    expect(body.rooms.join[roomId].state.events.map((e: any) => e.type)).toEqual(['m.room.create']);
  });

  it('event_fields keeps only the listed fields', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    await h.send(alice, roomId, 'trimmed');
    const body = await h.sync(alice, { filter: JSON.stringify({ event_fields: ['type', 'content.body'], room: { timeline: { limit: 1 } } }) });
    expect(timelineOf(body, roomId)).toEqual([{ type: 'm.room.message', content: { body: 'trimmed' } }]);
  });

  it('event_format federation serves the PDUs', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const id = await h.send(alice, roomId, 'as a pdu');
    const body = await h.sync(alice, { filter: JSON.stringify({ event_format: 'federation', room: { timeline: { limit: 1 } } }) });
    const [pdu] = timelineOf(body, roomId);
    expect(pdu).toMatchObject({ room_id: roomId, sender: alice.user_id, content: { body: 'as a pdu' } });
    expect(pdu).toHaveProperty('hashes');
    expect(pdu).toHaveProperty('signatures');
    expect(pdu).toHaveProperty('auth_events');
    expect(pdu).not.toHaveProperty('event_id');
    expect(id.startsWith('$')).toBe(true);
  });

  it('lazy_load_members: only the senders of the timeline (and the user), not redundantly', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const dave = await h.register('dave');
    // Named: no heroes are needed, so no hero member events either.
    const roomId = await h.createRoom(alice, { preset: 'public_chat', name: 'Lazy' });
    for (const s of [bob, carol, dave]) await h.join(s, roomId);
    await h.send(bob, roomId, 'b1');
    await h.send(carol, roomId, 'c1');
    const ll = JSON.stringify({ room: { timeline: { limit: 2 }, state: { lazy_load_members: true } } });
    const s0 = await h.sync(alice, { filter: ll });
    const members = (body: any) =>
      body.rooms.join[roomId].state.events
        .filter((e: any) => e.type === 'm.room.member')
        .map((e: any) => e.state_key)
        .sort();
    expect(members(s0)).toEqual([alice.user_id, bob.user_id, carol.user_id].sort());
    const summary = s0.rooms.join[roomId].summary;
    expect(summary['m.joined_member_count']).toBe(4);
    // Incremental: bob again (already sent: redundant) and dave (new).
    await h.send(bob, roomId, 'b2');
    await h.send(dave, roomId, 'd1');
    const s1 = await h.sync(alice, { filter: ll, since: s0.next_batch });
    expect(members(s1)).toEqual([dave.user_id]);
    const redundant = await h.sync(alice, {
      filter: JSON.stringify({ room: { state: { lazy_load_members: true, include_redundant_members: true } } }),
      since: s0.next_batch,
    });
    expect(members(redundant)).toEqual([bob.user_id, dave.user_id].sort());
    // Without lazy-loading, every member is in the state.
    const plain = await h.sync(alice, { filter: JSON.stringify({ room: { timeline: { limit: 2 } } }) });
    expect(members(plain)).toEqual([alice.user_id, bob.user_id, carol.user_id, dave.user_id].sort());
    // An unnamed room: the heroes and their member events come with a lazy-loading sync.
    const unnamed = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, unnamed);
    await h.send(alice, unnamed, 'only alice speaks');
    const s2 = await h.sync(alice, { filter: JSON.stringify({ room: { timeline: { limit: 1 }, state: { lazy_load_members: true } } }) });
    expect(s2.rooms.join[unnamed].summary['m.heroes']).toEqual([bob.user_id]);
    const unnamedMembers = s2.rooms.join[unnamed].state.events.filter((e: any) => e.type === 'm.room.member').map((e: any) => e.state_key);
    expect(unnamedMembers.sort()).toEqual([alice.user_id, bob.user_id].sort());
  });
});

describe('sync room sections', () => {
  it('invites appear in rooms.invite with stripped state and the invite event', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { name: 'Secret plans' });
    const s0 = await h.sync(bob);
    await h.invite(alice, roomId, bob.user_id);
    const s1 = await h.sync(bob, { since: s0.next_batch });
    const events = s1.rooms.invite[roomId].invite_state.events;
    expect(events.find((e: any) => e.type === 'm.room.name')).toEqual({ type: 'm.room.name', state_key: '', sender: alice.user_id, content: { name: 'Secret plans' } });
    const invite = events.find((e: any) => e.type === 'm.room.member' && e.state_key === bob.user_id);
    expect(invite.content.membership).toBe('invite');
    expect(invite.sender).toBe(alice.user_id);
    expect(s1.rooms.join[roomId]).toBeUndefined();
    // Next incremental: not repeated.
    const s2 = await h.sync(bob, { since: s1.next_batch });
    expect(s2.rooms.invite).toEqual({});
    // Initial sync: still listed while pending.
    expect((await h.sync(bob)).rooms.invite[roomId]).toBeDefined();
  });

  it('joining after an invite: the room moves to join with its full state', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { name: 'Welcome' });
    await h.send(alice, roomId, 'before bob');
    await h.invite(alice, roomId, bob.user_id);
    const s0 = await h.sync(bob);
    await h.join(bob, roomId);
    const s1 = await h.sync(bob, { since: s0.next_batch });
    const room = s1.rooms.join[roomId];
    expect(room).toBeDefined();
    const all = [...room.state.events, ...room.timeline.events];
    expect(all.find((e: any) => e.type === 'm.room.name')?.content.name).toBe('Welcome');
    expect(all.find((e: any) => e.type === 'm.room.create')).toBeDefined();
    expect(room.timeline.events.at(-1).content.membership).toBe('join');
    expect(room.summary['m.joined_member_count']).toBe(2);
  });

  it('leaving: the room goes to rooms.leave with the timeline up to the leave, then disappears', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(bob);
    await h.send(alice, roomId, 'seen');
    await h.leave(bob, roomId);
    await h.send(alice, roomId, 'after bob left');
    const s1 = await h.sync(bob, { since: s0.next_batch });
    expect(s1.rooms.join[roomId]).toBeUndefined();
    const tl = timelineOf(s1, roomId, 'leave');
    expect(bodies(tl)).toEqual(['seen']);
    expect(tl.at(-1)).toMatchObject({ type: 'm.room.member', state_key: bob.user_id, content: { membership: 'leave' } });
    const s2 = await h.sync(bob, { since: s1.next_batch });
    expect(s2.rooms.leave).toEqual({});
    // Initial sync: absent unless include_leave.
    expect((await h.sync(bob)).rooms.leave[roomId]).toBeUndefined();
    const withLeave = await h.sync(bob, { filter: JSON.stringify({ room: { include_leave: true } }) });
    expect(bodies(timelineOf(withLeave, roomId, 'leave'))).toEqual(['seen']);
    const left = withLeave.rooms.leave[roomId];
    expect([...left.state.events, ...left.timeline.events].find((e: any) => e.type === 'm.room.create')).toBeDefined();
  });

  it('a kick shows in rooms.leave', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(bob);
    const waiting = h.sync(bob, { since: s0.next_batch, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    await h.kick(alice, roomId, bob.user_id);
    const s1 = await waiting;
    expect(timelineOf(s1, roomId, 'leave').at(-1)).toMatchObject({ sender: alice.user_id, state_key: bob.user_id, content: { membership: 'leave' } });
  });

  it('knocks appear in rooms.knock with knock_state', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { name: 'Knock here', initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }] });
    const s0 = await h.sync(bob);
    const k = await h.req('POST', `${V3}/knock/${enc(roomId)}`, { token: bob.access_token, body: { reason: 'let me in' } });
    expect(k.status).toBe(200);
    const s1 = await h.sync(bob, { since: s0.next_batch });
    const events = s1.rooms.knock[roomId].knock_state.events;
    expect(events.find((e: any) => e.type === 'm.room.join_rules')?.content.join_rule).toBe('knock');
    expect(events.find((e: any) => e.type === 'm.room.member' && e.state_key === bob.user_id)?.content.membership).toBe('knock');
  });

  it('history visibility "joined": a user joining later sees nothing from before the join', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, {
      preset: 'public_chat',
      initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }],
    });
    await h.send(alice, roomId, 'private past');
    await h.join(bob, roomId);
    await h.send(alice, roomId, 'after join');
    const body = await h.sync(bob);
    const tl = timelineOf(body, roomId);
    expect(bodies(tl)).toEqual(['after join']);
    expect(tl.find((e) => e.type === 'm.room.member' && e.state_key === bob.user_id)?.content.membership).toBe('join');
    // With "shared" (the default of public_chat? set explicitly), the past is visible.
    const other = await h.createRoom(alice, {
      preset: 'public_chat',
      initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'shared' } }],
    });
    await h.send(alice, other, 'shared past');
    await h.join(bob, other);
    expect(bodies(timelineOf(await h.sync(bob), other))).toEqual(['shared past']);
  });

  it('unsigned.membership reports the user at each event', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.send(alice, roomId, 'before');
    await h.join(bob, roomId);
    await h.send(alice, roomId, 'after');
    const tl = timelineOf(await h.sync(bob), roomId);
    expect(tl.find((e) => e.content.body === 'before')?.unsigned.membership).toBe('leave');
    expect(tl.find((e) => e.content.body === 'after')?.unsigned.membership).toBe('join');
  });

  it('use_state_after gives state_after instead of state', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const s0 = await h.sync(alice);
    const topic = await h.putState(alice, roomId, 'm.room.topic', { topic: 'after' });
    const s1 = await h.sync(alice, { since: s0.next_batch, use_state_after: true });
    const room = s1.rooms.join[roomId];
    expect(room.state).toBeUndefined();
    expect(room.state_after.events.map((e: any) => e.event_id)).toEqual([topic]);
  });
});
