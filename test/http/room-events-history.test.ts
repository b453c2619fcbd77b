// GET /messages (both directions, tokens round-tripping, sync tokens, filters, lazy-loaded members,
// history visibility, errors) and GET /context, through Fastify over a real SQLite database.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { createRoomEventsService } from '../../src/rooms/room-events.js';
import { createClientTxns } from '../../src/rooms/transactions.js';
import { createRelationsService } from '../../src/rooms/relations.js';
import { parseRoomEventFilter, typeMatches } from '../../src/rooms/event-filter.js';
import { bodies, enc, publicRoom, roomEventsHarness, V3, type RoomEventsHarness } from './room-events-helpers.js';
import type { Session } from './users-harness.js';

const msg = (body: string, extra: JsonObject = {}) => ({ msgtype: 'm.text', body, ...extra });

async function messages(h: RoomEventsHarness, s: Session, roomId: string, query: Record<string, string>) {
  const qs = new URLSearchParams(query).toString();
  return h.get(s, `${V3}/rooms/${enc(roomId)}/messages?${qs}`);
}

/** Pages through /messages until `end` is absent; returns every chunk's events in order. */
async function pageAll(h: RoomEventsHarness, s: Session, roomId: string, query: Record<string, string>) {
  const all: JsonObject[] = [];
  let from: string | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await messages(h, s, roomId, { ...query, ...(from ? { from } : {}) });
    expect(r.status).toBe(200);
    if (from) expect(r.body.start).toBe(from);
    all.push(...(r.body.chunk as JsonObject[]));
    if (r.body.end === undefined) return all;
    from = r.body.end as string;
  }
  throw new Error('pagination did not end');
}

/** A room with `n` messages "m0".."m<n-1>" from ann. */
async function roomWithMessages(h: RoomEventsHarness, ann: Session, n: number, others: Session[] = []) {
  const roomId = await publicRoom(h, ann, others);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await h.sendOk(ann, roomId, msg(`m${i}`)));
  return { roomId, ids };
}

describe('GET /rooms/{roomId}/messages', () => {
  it('dir=b without from: newest first, limit honoured; pages chain until end is absent and cover the room once', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const { roomId } = await roomWithMessages(h, ann, 7);
    const first = await messages(h, ann, roomId, { dir: 'b', limit: '3' });
    expect(first.status).toBe(200);
    expect(bodies(first.body.chunk)).toEqual(['m6', 'm5', 'm4']);
    expect(typeof first.body.start).toBe('string');
    expect(typeof first.body.end).toBe('string');
    const everything = await pageAll(h, ann, roomId, { dir: 'b', limit: '3' });
    const stored = await h.store.getEventsByTopology(roomId, { direction: 'b', limit: 1000 });
    expect(everything.map((e) => e.event_id)).toEqual(stored.map((e) => e.eventId));
    expect(everything[everything.length - 1]!.type).toBe('m.room.create');
  });

  it('dir=f without from: oldest first; an end token continues forwards and later events arrive on it', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const { roomId } = await roomWithMessages(h, ann, 3);
    const everything = await pageAll(h, ann, roomId, { dir: 'f', limit: '4' });
    const stored = await h.store.getEventsByTopology(roomId, { direction: 'f', limit: 1000 });
    expect(everything.map((e) => e.event_id)).toEqual(stored.map((e) => e.eventId));
    expect(everything[0]!.type).toBe('m.room.create');
    // The last page's end, kept, picks up events sent later.
    const last = await messages(h, ann, roomId, { dir: 'f', limit: '100' });
    expect(bodies(last.body.chunk).slice(-3)).toEqual(['m0', 'm1', 'm2']);
    const end = last.body.end as string;
    await h.sendOk(ann, roomId, msg('later'));
    const more = await messages(h, ann, roomId, { dir: 'f', from: end });
    expect(bodies(more.body.chunk)).toEqual(['later']);
    const none = await messages(h, ann, roomId, { dir: 'f', from: more.body.end });
    expect(none.body.chunk).toEqual([]);
    expect(none.body.end).toBeUndefined();
  });

  it('accepts sync-style tokens (s<position>): dir=b includes the event at the position, dir=f starts after it', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const { roomId, ids } = await roomWithMessages(h, ann, 4);
    const at = (await h.store.getEvent(ids[1]!))!.streamOrdering!;
    const token = `s${at}_0_0_0_0_0_0`;
    const back = await messages(h, ann, roomId, { dir: 'b', from: token, limit: '2' });
    expect(bodies(back.body.chunk)).toEqual(['m1', 'm0']);
    expect(back.body.start).toBe(token);
    const fwd = await messages(h, ann, roomId, { dir: 'f', from: token, limit: '10' });
    expect(bodies(fwd.body.chunk)).toEqual(['m2', 'm3']);
    // A bare s-token as `start` of a from-less dir=b page works as `from` again.
    const p = await messages(h, ann, roomId, { dir: 'b', limit: '1' });
    const again = await messages(h, ann, roomId, { dir: 'b', limit: '1', from: p.body.start });
    expect(again.body.chunk).toEqual(p.body.chunk);
  });

  it('tokens are boundaries between events: `to` stops a page in either direction', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const { roomId } = await roomWithMessages(h, ann, 6);
    const newest = await messages(h, ann, roomId, { dir: 'b', limit: '2' }); // m5, m4
    const older = await messages(h, ann, roomId, { dir: 'b', limit: '2', from: newest.body.end }); // m3, m2
    expect(bodies(older.body.chunk)).toEqual(['m3', 'm2']);
    // Tokens are boundaries: a dir=b page ends just below its oldest event. Forwards from the
    // boundary below m2 up to the boundary below m4: m2 and m3.
    const between = await messages(h, ann, roomId, { dir: 'f', from: older.body.end, to: newest.body.end, limit: '10' });
    expect(bodies(between.body.chunk)).toEqual(['m2', 'm3']);
    expect(between.body.end).toBeDefined();
    // Backwards from the newest down to the boundary below m2.
    const backTo = await messages(h, ann, roomId, { dir: 'b', to: older.body.end, limit: '10' });
    expect(bodies(backTo.body.chunk)).toEqual(['m5', 'm4', 'm3', 'm2']);
    expect(backTo.body.end).toBeUndefined();
  });

  it('filters: types with wildcards, not_types, senders, not_senders, contains_url; lazy_load_members adds the senders\' member events', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const cat = await h.register('cat');
    const roomId = await publicRoom(h, ann, [bob, cat]);
    await h.sendOk(ann, roomId, msg('ann 1'));
    await h.sendOk(bob, roomId, msg('bob picture', { url: 'mxc://test.local/pic' }));
    await h.sendOk(bob, roomId, { body: 'custom' }, 'org.example.custom');
    await h.sendOk(ann, roomId, msg('ann 2'));
    const q = (filter: JsonObject) => messages(h, cat, roomId, { dir: 'b', limit: '10', filter: JSON.stringify(filter) });
    expect(bodies((await q({ types: ['m.room.message'] })).body.chunk)).toEqual(['ann 2', 'bob picture', 'ann 1']);
    expect(bodies((await q({ types: ['org.example.*'] })).body.chunk)).toEqual(['custom']);
    expect(bodies((await q({ types: ['m.room.message'], senders: [bob.user_id] })).body.chunk)).toEqual(['bob picture']);
    expect(bodies((await q({ types: ['m.room.message'], not_senders: [ann.user_id] })).body.chunk)).toEqual(['bob picture']);
    expect(bodies((await q({ types: ['m.room.message'], contains_url: true })).body.chunk)).toEqual(['bob picture']);
    expect(bodies((await q({ types: ['m.room.*'], not_types: ['m.room.member', 'm.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.history_visibility'], contains_url: false })).body.chunk)).toEqual([
      'ann 2',
      'ann 1',
    ]);
    const lazy = await q({ types: ['m.room.message'], senders: [bob.user_id], lazy_load_members: true });
    expect(lazy.body.state.map((e: JsonObject) => e.state_key)).toEqual([bob.user_id]);
    expect(lazy.body.state[0].content.membership).toBe('join');
    const lazyAll = await q({ types: ['m.room.message'], lazy_load_members: true });
    expect(lazyAll.body.state.map((e: JsonObject) => e.state_key).sort()).toEqual([ann.user_id, bob.user_id].sort());
    // Without lazy loading there is no state.
    expect((await q({ types: ['m.room.message'] })).body.state).toBeUndefined();
  });

  it('a filter skipping many events still fills the page, and the end token skips what was scanned', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann);
    for (let i = 0; i < 30; i++) {
      await h.sendOk(ann, roomId, { body: `noise ${i}` }, 'org.example.noise');
      if (i % 10 === 0) await h.sendOk(ann, roomId, msg(`signal ${i}`));
    }
    const filter = JSON.stringify({ types: ['m.room.message'] });
    const all = await pageAll(h, ann, roomId, { dir: 'b', limit: '2', filter });
    expect(bodies(all)).toEqual(['signal 20', 'signal 10', 'signal 0']);
  });

  it('history visibility: events before joining are hidden under "joined"; a former member pages up to the leave', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann);
    await h.putState(ann, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
    await h.sendOk(ann, roomId, msg('before bob'));
    await h.join(bob, roomId);
    await h.sendOk(ann, roomId, msg('with bob'));
    await h.leave(bob, roomId);
    await h.sendOk(ann, roomId, msg('after bob'));
    const seen = await pageAll(h, bob, roomId, { dir: 'b', limit: '50' });
    const msgs = seen.filter((e) => e.type === 'm.room.message');
    expect(bodies(msgs)).toEqual(['with bob']);
    // The leave is the newest event bob sees.
    expect(seen[0]).toMatchObject({ type: 'm.room.member', state_key: bob.user_id, content: { membership: 'leave' } });
    // Forwards too, nothing after the leave.
    const fwd = await pageAll(h, bob, roomId, { dir: 'f', limit: '50' });
    expect(bodies(fwd.filter((e) => e.type === 'm.room.message'))).toEqual(['with bob']);
    // unsigned.membership: the user's membership at each event.
    expect(seen.find((e) => (e.content as JsonObject).body === 'with bob')!.unsigned).toMatchObject({ membership: 'join' });
  });

  it('redacted events come redacted; the sender\'s device sees its transaction ID', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const sent = await h.send(ann, roomId, msg('secret'), { txn: 'my-txn' });
    await h.req('PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(sent.body.event_id)}/r`, { token: ann.access_token, body: {} });
    const page = await messages(h, bob, roomId, { dir: 'b', limit: '2' });
    const target = (page.body.chunk as JsonObject[]).find((e) => e.event_id === sent.body.event_id)!;
    expect(target.content).toEqual({});
    expect((target.unsigned as JsonObject).redacted_because).toBeDefined();
    const mine = await messages(h, ann, roomId, { dir: 'b', limit: '5' });
    const own = (mine.body.chunk as JsonObject[]).find((e) => e.event_id === sent.body.event_id)!;
    expect((own.unsigned as JsonObject).transaction_id).toBe('my-txn');
    expect((target.unsigned as JsonObject).transaction_id).toBeUndefined();
  });

  it('errors: bad tokens, bad filters, bad limits and dir, not in room', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const { roomId } = await roomWithMessages(h, ann, 2);
    const bad = async (query: Record<string, string>, errcode: string, s = ann, status = 400) => {
      const r = await messages(h, s, roomId, query);
      expect([r.status, r.body.errcode], JSON.stringify(query)).toEqual([status, errcode]);
    };
    await bad({ dir: 'b', from: 'garbage' }, 'M_INVALID_PARAM');
    await bad({ dir: 'b', from: 't1-x' }, 'M_INVALID_PARAM');
    await bad({ dir: 'b', to: 'nope' }, 'M_INVALID_PARAM');
    await bad({ dir: 'sideways' }, 'M_INVALID_PARAM');
    await bad({ dir: 'b', limit: '-1' }, 'M_INVALID_PARAM');
    await bad({ dir: 'b', limit: 'ten' }, 'M_INVALID_PARAM');
    await bad({ dir: 'b', filter: '{not json' }, 'M_NOT_JSON');
    await bad({ dir: 'b', filter: '{"types": "m.room.message"}' }, 'M_BAD_JSON');
    await bad({ dir: 'b' }, 'M_FORBIDDEN', bob, 403);
    // A huge limit is capped, not refused; limit=0 gives an empty chunk.
    expect((await messages(h, ann, roomId, { dir: 'b', limit: '100000' })).status).toBe(200);
    expect((await messages(h, ann, roomId, { dir: 'b', limit: '0' })).body.chunk).toEqual([]);
    const unauth = await h.req('GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b`);
    expect(unauth.status).toBe(401);
  });

  it('does not ask the federation backfill hook for a room whose history starts here', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const { roomId } = await roomWithMessages(h, ann, 2);
    const asked: string[] = [];
    const service = createRoomEventsService({
      store: h.store,
      rooms: h.rooms,
      txns: createClientTxns({ store: h.store }),
      relations: createRelationsService({ store: h.store }),
      backfill: async (room) => {
        asked.push(room);
        return false;
      },
    });
    const requester = { userId: ann.user_id, deviceId: ann.device_id, accessTokenId: 0 };
    const page = await service.messages(requester, roomId, { dir: 'b', limit: 100, filter: parseRoomEventFilter({}) });
    expect((page.chunk as JsonObject[]).length).toBeGreaterThan(2);
    expect(page.end).toBeUndefined();
    expect(asked).toEqual([]);
  });
});

describe('GET /rooms/{roomId}/context/{eventId}', () => {
  it('splits the limit before/after, gives tokens that continue with /messages, and the state at the last event', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const { roomId, ids } = await roomWithMessages(h, ann, 9, [bob]);
    const r = await h.get(bob, `${V3}/rooms/${enc(roomId)}/context/${enc(ids[4]!)}?limit=4`);
    expect(r.status).toBe(200);
    expect(r.body.event.event_id).toBe(ids[4]);
    expect(bodies(r.body.events_before)).toEqual(['m3', 'm2']);
    expect(bodies(r.body.events_after)).toEqual(['m5', 'm6']);
    const older = await messages(h, bob, roomId, { dir: 'b', from: r.body.start, limit: '2' });
    expect(bodies(older.body.chunk)).toEqual(['m1', 'm0']);
    const newer = await messages(h, bob, roomId, { dir: 'f', from: r.body.end, limit: '10' });
    expect(bodies(newer.body.chunk)).toEqual(['m7', 'm8']);
    // Full state (no lazy loading): every current state entry at m6.
    const stateKeys = (r.body.state as JsonObject[]).map((e) => `${e.type}|${e.state_key}`).sort();
    const expected = [...(await h.store.getStateIdsAfter(ids[6]!))!.keys()].map((k) => k.replace('\u0000', '|')).sort();
    expect(stateKeys).toEqual(expected);
    // limit=0: only the event.
    const zero = await h.get(bob, `${V3}/rooms/${enc(roomId)}/context/${enc(ids[4]!)}?limit=0`);
    expect([zero.body.events_before, zero.body.events_after]).toEqual([[], []]);
  });

  it('applies the filter to events and state (lazy-loading members), not to the event itself', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const cat = await h.register('cat');
    const roomId = await publicRoom(h, ann, [bob, cat]);
    await h.sendOk(bob, roomId, msg('bob before'));
    await h.sendOk(ann, roomId, { body: 'noise' }, 'org.example.noise');
    const target = await h.sendOk(ann, roomId, { body: 'target' }, 'org.example.noise');
    await h.sendOk(cat, roomId, msg('cat after'));
    const filter = encodeURIComponent(JSON.stringify({ types: ['m.room.message', 'm.room.member'], lazy_load_members: true }));
    const r = await h.get(ann, `${V3}/rooms/${enc(roomId)}/context/${enc(target)}?limit=2&filter=${filter}`);
    expect(r.status).toBe(200);
    expect(r.body.event.content.body).toBe('target');
    expect(bodies(r.body.events_before)).toEqual(['bob before']);
    expect(bodies(r.body.events_after)).toEqual(['cat after']);
    expect((r.body.state as JsonObject[]).map((e) => e.state_key).sort()).toEqual([ann.user_id, bob.user_id, cat.user_id].sort());
  });

  it('404 for unknown events, 403 for events the user may not see', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann);
    await h.putState(ann, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
    const hidden = await h.sendOk(ann, roomId, msg('before bob'));
    await h.join(bob, roomId);
    const missing = await h.get(bob, `${V3}/rooms/${enc(roomId)}/context/${enc('$missing')}`);
    expect([missing.status, missing.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const forbidden = await h.get(bob, `${V3}/rooms/${enc(roomId)}/context/${enc(hidden)}`);
    expect([forbidden.status, forbidden.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const badLimit = await h.get(bob, `${V3}/rooms/${enc(roomId)}/context/${enc(hidden)}?limit=x`);
    expect(badLimit.body.errcode).toBe('M_INVALID_PARAM');
  });
});

describe('RoomEventFilter type patterns', () => {
  it('`*` matches any run of characters, anywhere in the pattern', () => {
    expect(typeMatches('m.room.message', 'm.room.message')).toBe(true);
    expect(typeMatches('m.room.message', 'm.room.messages')).toBe(false);
    expect(typeMatches('m.*', 'm.room.message')).toBe(true);
    expect(typeMatches('m.*', 'org.m.x')).toBe(false);
    expect(typeMatches('*', 'anything')).toBe(true);
    expect(typeMatches('*.message', 'm.room.message')).toBe(true);
    expect(typeMatches('m.*.member', 'm.room.member')).toBe(true);
    expect(typeMatches('m.*.member', 'm.room.message')).toBe(false);
    expect(typeMatches('a*b*a', 'aba')).toBe(true);
    expect(typeMatches('ab*ba', 'aba')).toBe(false);
  });
});
