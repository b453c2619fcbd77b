// GET /sync through Fastify: initial and incremental syncs, long-poll wake-ups and timeouts, gappy
// timelines (limited, prev_batch, state), tokens, and the response shape clients require.
import { describe, expect, it } from 'vitest';
import { bodies, syncHarness, timelineOf, V3 } from './sync-harness.js';

describe('GET /sync', () => {
  it('initial sync: joined room with timeline, state at its start, summary, counts and every top-level field', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice, { name: 'Room', preset: 'public_chat' });
    for (let i = 0; i < 11; i++) await h.send(alice, roomId, `m${i}`);
    await h.send(alice, roomId, 'hello');
    const body = await h.sync(alice);
    expect(typeof body.next_batch).toBe('string');
    for (const k of ['rooms', 'presence', 'account_data', 'to_device', 'device_lists', 'device_one_time_keys_count', 'device_unused_fallback_key_types']) {
      expect(body, k).toHaveProperty(k);
    }
    expect(body.device_one_time_keys_count.signed_curve25519).toBe(0);
    const room = body.rooms.join[roomId];
    expect(room).toBeDefined();
    for (const k of ['timeline', 'state', 'ephemeral', 'account_data', 'unread_notifications', 'summary']) expect(room, k).toHaveProperty(k);
    expect(typeof room.timeline.prev_batch).toBe('string');
    // Default limit 10: the newest ten events; the room's state is in the state section.
    expect(bodies(room.timeline.events)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'hello']);
    expect(room.timeline.limited).toBe(true);
    const stateTypes = room.state.events.map((e: any) => e.type);
    expect(stateTypes).toEqual(expect.arrayContaining(['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.name']));
    const timelineIds = new Set(room.timeline.events.map((e: any) => e.event_id));
    for (const e of room.state.events) expect(timelineIds.has(e.event_id)).toBe(false);
    // Timeline + state give the current state: the name must be somewhere.
    const all = [...room.state.events, ...room.timeline.events];
    expect(all.find((e: any) => e.type === 'm.room.name')?.content.name).toBe('Room');
    expect(room.summary['m.joined_member_count']).toBe(1);
    expect(room.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    // Events without room_id, with unsigned.age.
    const msg = room.timeline.events[room.timeline.events.length - 1];
    expect(msg).not.toHaveProperty('room_id');
    expect(typeof msg.unsigned.age).toBe('number');
    expect(msg).not.toHaveProperty('hashes');
    expect(msg).not.toHaveProperty('signatures');
  });

  it('incremental sync returns only new events, and the same positions when nothing happened', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const first = await h.sync(alice);
    await h.send(alice, roomId, 'one');
    await h.send(alice, roomId, 'two');
    const second = await h.sync(alice, { since: first.next_batch });
    const tl = second.rooms.join[roomId].timeline;
    expect(bodies(tl.events)).toEqual(['one', 'two']);
    expect(tl.limited).toBe(false);
    expect(second.rooms.join[roomId].state.events).toEqual([]);
    const third = await h.sync(alice, { since: second.next_batch });
    expect(third.rooms.join).toEqual({});
    expect(third.next_batch).toBe(second.next_batch);
  });

  it('transaction_id only for the sending device', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const s0 = await h.sync(alice);
    const eventId = await h.send(alice, roomId, 'x', { txn: 'my-txn-1' });
    const s1 = await h.sync(alice, { since: s0.next_batch });
    const ev = timelineOf(s1, roomId).find((e) => e.event_id === eventId);
    expect(ev.unsigned.transaction_id).toBe('my-txn-1');
    const other = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' } });
    const s2 = await h.sync(other.body as any);
    const ev2 = timelineOf(s2, roomId).find((e) => e.event_id === eventId);
    expect(ev2.unsigned.transaction_id).toBeUndefined();
  });

  it('long-poll: a message from another user wakes the sync promptly', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const s0 = await h.sync(alice);
    const t0 = performance.now();
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(h.services.sync!.waiting).toBe(1);
    await h.send(bob, roomId, 'wake up');
    const s1 = await waiting;
    const elapsed = performance.now() - t0;
    expect(bodies(timelineOf(s1, roomId))).toEqual(['wake up']);
    expect(elapsed).toBeLessThan(2000);
    expect(h.services.sync!.waiting).toBe(0);
  });

  it('long-poll with nothing new waits for the timeout and returns the same positions', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    await h.createRoom(alice);
    const s0 = await h.sync(alice);
    const t0 = performance.now();
    const s1 = await h.sync(alice, { since: s0.next_batch, timeout: 300 });
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(3000);
    expect(s1.next_batch).toBe(s0.next_batch);
    expect(s1.rooms.join).toEqual({});
  });

  it('long-poll is not woken by activity in rooms the user is not in, but is by an invite', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const bobRoom = await h.createRoom(bob);
    await h.createRoom(alice);
    const s0 = await h.sync(alice);
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 10_000 });
    let done = false;
    void waiting.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 30));
    await h.send(bob, bobRoom, 'not for alice');
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    await h.invite(bob, bobRoom, alice.user_id);
    const s1 = await waiting;
    expect(s1.rooms.invite[bobRoom]).toBeDefined();
    expect(s1.rooms.join).toEqual({});
  });

  it('account data changes wake the long-poll and are delivered', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const s0 = await h.sync(alice);
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 30));
    const r = await h.req('PUT', `${V3}/user/${encodeURIComponent(alice.user_id)}/account_data/org.example.test`, { token: alice.access_token, body: { a: 1 } });
    expect(r.status).toBe(200);
    const s1 = await waiting;
    expect(s1.account_data.events).toEqual([{ type: 'org.example.test', content: { a: 1 } }]);
  });

  it('gappy incremental sync: limited, prev_batch usable with /messages, and the state changed in the gap', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const s0 = await h.sync(alice);
    await h.putState(alice, roomId, 'm.room.topic', { topic: 'in the gap' });
    for (let i = 0; i < 5; i++) await h.send(alice, roomId, `m${i}`);
    const s1 = await h.sync(alice, { since: s0.next_batch, filter: JSON.stringify({ room: { timeline: { limit: 3 } } }) });
    const room = s1.rooms.join[roomId];
    expect(room.timeline.limited).toBe(true);
    expect(bodies(room.timeline.events)).toEqual(['m2', 'm3', 'm4']);
    expect(room.state.events.map((e: any) => [e.type, e.content.topic])).toEqual([['m.room.topic', 'in the gap']]);
    const page = await h.req('GET', `${V3}/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=2&from=${encodeURIComponent(room.timeline.prev_batch)}`, {
      token: alice.access_token,
    });
    expect(page.status).toBe(200);
    expect(page.body.chunk.map((e: any) => e.content.body)).toEqual(['m1', 'm0']);
  });

  it('state in the timeline is not repeated in the state section', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const s0 = await h.sync(alice);
    await h.putState(alice, roomId, 'm.room.topic', { topic: 'visible in timeline' });
    const s1 = await h.sync(alice, { since: s0.next_batch });
    const room = s1.rooms.join[roomId];
    expect(room.timeline.events.map((e: any) => e.type)).toEqual(['m.room.topic']);
    expect(room.state.events).toEqual([]);
  });

  it('full_state on an incremental sync gives the whole state and returns at once', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const s0 = await h.sync(alice);
    const t0 = performance.now();
    const s1 = await h.sync(alice, { since: s0.next_batch, full_state: true, timeout: 5000 });
    expect(performance.now() - t0).toBeLessThan(2000);
    const room = s1.rooms.join[roomId];
    expect(room.timeline.events).toEqual([]);
    const types = room.state.events.map((e: any) => e.type);
    expect(types).toEqual(expect.arrayContaining(['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.join_rules']));
  });

  it('bad parameters: since, timeout, set_presence, unknown and malformed filters', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    for (const [q, code] of [
      [{ since: 'garbage' }, 'M_INVALID_PARAM'],
      [{ timeout: 'soon' }, 'M_INVALID_PARAM'],
      [{ set_presence: 'busy' }, 'M_INVALID_PARAM'],
      [{ full_state: 'maybe' }, 'M_INVALID_PARAM'],
      [{ filter: '12345' }, 'M_INVALID_PARAM'],
      [{ filter: '{not json' }, 'M_NOT_JSON'],
      [{ filter: JSON.stringify({ room: { timeline: { limit: 'x' } } }) }, 'M_BAD_JSON'],
    ] as const) {
      const r = await h.syncRaw(alice, q);
      expect(r.status, JSON.stringify(q)).toBe(400);
      expect(r.body.errcode, JSON.stringify(q)).toBe(code);
    }
    const unauth = await h.req('GET', `${V3}/sync`);
    expect(unauth.status).toBe(401);
  });

  it('is served under r0 too, and the access token may be a query parameter', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const r = await h.req('GET', `/_matrix/client/r0/sync?access_token=${alice.access_token}`);
    expect(r.status).toBe(200);
    expect(typeof r.body.next_batch).toBe('string');
  });

  it('redacted events are served redacted with redacted_because', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const roomId = await h.createRoom(alice);
    const msg = await h.send(alice, roomId, 'oops');
    const s0 = await h.sync(alice);
    const redaction = await h.redact(alice, roomId, msg, 'typo');
    const full = await h.sync(alice);
    const served = timelineOf(full, roomId).find((e) => e.event_id === msg);
    expect(served.content).toEqual({});
    expect(served.unsigned.redacted_because.event_id).toBe(redaction);
    const inc = await h.sync(alice, { since: s0.next_batch });
    const red = timelineOf(inc, roomId).find((e) => e.event_id === redaction);
    expect(red.redacts).toBe(msg);
    expect(red.content.redacts).toBe(msg);
  });

  it('typing and receipts arrive in ephemeral', async () => {
    const h = await syncHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const msg = await h.send(bob, roomId, 'read me');
    const s0 = await h.sync(alice);
    const waiting = h.sync(alice, { since: s0.next_batch, timeout: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const t = await h.req('PUT', `${V3}/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(bob.user_id)}`, {
      token: bob.access_token,
      body: { typing: true, timeout: 10000 },
    });
    expect(t.status).toBe(200);
    const s1 = await waiting;
    const eph = s1.rooms.join[roomId].ephemeral.events;
    expect(eph).toContainEqual({ type: 'm.typing', content: { user_ids: [bob.user_id] } });
    const rr = await h.req('POST', `${V3}/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(msg)}`, { token: bob.access_token, body: {} });
    expect(rr.status).toBe(200);
    const s2 = await h.sync(alice, { since: s1.next_batch });
    const receipt = s2.rooms.join[roomId].ephemeral.events.find((e: any) => e.type === 'm.receipt');
    expect(receipt.content[msg]['m.read'][bob.user_id]).toBeDefined();
  });
});
