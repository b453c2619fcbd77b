// Tests of sync tokens, the client event format (redactions on serve, prev_content, txn ids) and history visibility.
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import type { Store } from '../../src/store/index.js';
import {
  currentSyncToken,
  formatSyncToken,
  formatTopoToken,
  normaliseSinceToken,
  parseSyncToken,
  parseTopoToken,
  roomPositionFromToken,
  type SyncToken,
} from '../../src/sync/token.js';
import { formatClientEvents, formatStrippedState } from '../../src/sync/client-event.js';
import { filterEventsForUser, filterEventsForUserWithMembership } from '../../src/sync/visibility.js';

const HS = 'hs.test';
const ALICE = '@alice:hs.test';
const BOB = '@bob:hs.test';
const CAROL = '@carol:hs.test';
const key = signingKeyFromSeed('a_1', Buffer.alloc(32, 1));

describe('sync tokens', () => {
  const t: SyncToken = { events: 12, accountData: 4, typing: 0, receipts: 7, presence: 3, toDevice: 0, deviceLists: 2, typingEpoch: 'abc1' };

  it('round-trips and is URL-safe', () => {
    const s = formatSyncToken(t);
    expect(s).toBe('s12_4_0_7_3_0_2_abc1');
    expect(encodeURIComponent(s)).toBe(s);
    expect(parseSyncToken(s)).toEqual(t);
  });

  it('accepts shorter old tokens, filling zeros', () => {
    expect(parseSyncToken('s5_2')).toEqual({ events: 5, accountData: 2, typing: 0, receipts: 0, presence: 0, toDevice: 0, deviceLists: 0 });
    expect(parseSyncToken('42')?.events).toBe(42);
  });

  it('refuses garbage', () => {
    for (const bad of ['', 'x', 's', 's1_', 's-1', 's1_2_3_4_5_6_7_e_9', 'sabc', 's1.5', 's99999999999999999', 's1_2_3_4_5_6_7_ABC', 't1-2']) {
      expect(parseSyncToken(bad), bad).toBeNull();
    }
  });

  it('typing positions from another process or ahead of the current one read as 0', () => {
    const current: SyncToken = { ...t, typing: 3, typingEpoch: 'new' };
    expect(normaliseSinceToken({ ...t, typing: 2, typingEpoch: 'old' }, current).typing).toBe(0);
    expect(normaliseSinceToken({ ...t, typing: 9, typingEpoch: 'new' }, current).typing).toBe(0);
    expect(normaliseSinceToken({ ...t, typing: 2, typingEpoch: 'new' }, current).typing).toBe(2);
    expect(normaliseSinceToken({ ...t, events: 99 }, current).events).toBe(12);
  });

  it('topological tokens', () => {
    expect(formatTopoToken({ depth: 5, streamOrdering: 17 })).toBe('t5-17');
    expect(parseTopoToken('t5-17')).toEqual({ depth: 5, streamOrdering: 17 });
    expect(parseTopoToken('t5')).toBeNull();
    expect(parseTopoToken('s5_1')).toBeNull();
  });
});

interface World {
  rooms: RoomsService;
  store: Store;
  roomId: string;
  send(sender: string, type: string, content: JsonObject, stateKey?: string, redacts?: string): Promise<string>;
}

async function world(): Promise<World> {
  const db = openDatabase(':memory:');
  let ts = 1_700_000_000_000;
  const rooms = createRoomsService({ db, serverName: HS, signingKey: key, clock: () => ts++ });
  const { roomId } = await rooms.createRoom('11', ALICE);
  const send = async (sender: string, type: string, content: JsonObject, stateKey?: string, redacts?: string) =>
    (await rooms.sendLocalEvent(roomId, { sender, type, content, ...(stateKey !== undefined ? { stateKey } : {}), ...(redacts ? { redacts } : {}) })).eventId;
  await send(ALICE, 'm.room.member', { membership: 'join' }, ALICE);
  await send(ALICE, 'm.room.power_levels', { users: { [ALICE]: 100 }, redact: 50 }, '');
  await send(ALICE, 'm.room.join_rules', { join_rule: 'public' }, '');
  return { rooms, store: rooms.store, roomId, send };
}

describe('client events', () => {
  it('formats events with unsigned age, prev_content, replaces_state, state_key and room_id on demand', async () => {
    const w = await world();
    const first = await w.send(ALICE, 'm.room.topic', { topic: 'one' }, '');
    const second = await w.send(ALICE, 'm.room.topic', { topic: 'two' }, '');
    const msg = await w.send(ALICE, 'm.room.message', { body: 'hi', msgtype: 'm.text' });
    const evs = await w.store.getEvents([first, second, msg]);
    const now = evs[2]!.event.originServerTs + 1000;
    const [a, b, c] = await formatClientEvents(evs, { userId: ALICE, now, withRoomId: false, store: w.store });
    expect(a).toMatchObject({ type: 'm.room.topic', state_key: '', content: { topic: 'one' }, event_id: first, sender: ALICE });
    expect((a!.unsigned as JsonObject).prev_content).toBeUndefined();
    expect(b!.unsigned).toMatchObject({ prev_content: { topic: 'one' }, prev_sender: ALICE, replaces_state: first });
    expect(c).not.toHaveProperty('state_key');
    expect(c).not.toHaveProperty('room_id');
    expect((c!.unsigned as JsonObject).age).toBe(1000);
    // Only client fields: no hashes, signatures, auth_events, prev_events, depth.
    expect(Object.keys(c!).sort()).toEqual(['content', 'event_id', 'origin_server_ts', 'sender', 'type', 'unsigned']);
    const [withRoom] = await formatClientEvents([evs[2]!], { userId: ALICE, now, withRoomId: true, store: w.store });
    expect(withRoom!.room_id).toBe(w.roomId);
  });

  it('serves redacted events redacted, with redacted_because; redactions carry redacts at top level and in content', async () => {
    const w = await world();
    await w.send(BOB, 'm.room.member', { membership: 'join' }, BOB);
    const msg = await w.send(BOB, 'm.room.message', { body: 'secret', msgtype: 'm.text' });
    const red = await w.send(ALICE, 'm.room.redaction', { reason: 'spam' }, undefined, msg);
    const evs = await w.store.getEvents([msg, red]);
    const [m, r] = await formatClientEvents(evs, { userId: BOB, now: Date.now(), withRoomId: false, store: w.store });
    expect(m!.content).toEqual({});
    const because = (m!.unsigned as JsonObject).redacted_because as JsonObject;
    expect(because).toMatchObject({ event_id: red, type: 'm.room.redaction', sender: ALICE, redacts: msg });
    expect(r).toMatchObject({ redacts: msg, content: { redacts: msg, reason: 'spam' } });
  });

  it('redacts prev_content of a redacted replaced state event', async () => {
    const w = await world();
    const first = await w.send(ALICE, 'm.room.topic', { topic: 'rude' }, '');
    await w.send(ALICE, 'm.room.redaction', {}, undefined, first);
    const second = await w.send(ALICE, 'm.room.topic', { topic: 'nice' }, '');
    const [b] = await formatClientEvents(await w.store.getEvents([second]), { userId: ALICE, now: 0, withRoomId: false, store: w.store });
    expect((b!.unsigned as JsonObject).prev_content).toEqual({});
  });

  it('gives transaction ids only to the sending device and bundles aggregations', async () => {
    const w = await world();
    const msg = await w.send(ALICE, 'm.room.message', { body: 'x', msgtype: 'm.text' });
    const evs = await w.store.getEvents([msg]);
    const txnLookup = (ids: string[], userId: string, deviceId: string) =>
      new Map(deviceId === 'DEV1' && userId === ALICE ? ids.map((id) => [id, 'txn-' + id.slice(1, 5)] as [string, string]) : []);
    const aggregations = (ids: string[]) => new Map(ids.map((id) => [id, { 'm.thread': { count: 2 } } as JsonObject]));
    const [own] = await formatClientEvents(evs, { userId: ALICE, deviceId: 'DEV1', now: 0, withRoomId: false, store: w.store, txnLookup, aggregations });
    expect((own!.unsigned as JsonObject).transaction_id).toBe('txn-' + msg.slice(1, 5));
    expect((own!.unsigned as JsonObject)['m.relations']).toEqual({ 'm.thread': { count: 2 } });
    const [other] = await formatClientEvents(evs, { userId: ALICE, deviceId: 'DEV2', now: 0, withRoomId: false, store: w.store, txnLookup });
    expect((other!.unsigned as JsonObject).transaction_id).toBeUndefined();
  });

  it('stripped state keeps type, state_key, sender and content', async () => {
    const w = await world();
    const state = await w.store.getCurrentStateEvents(w.roomId, ['m.room.join_rules']);
    expect(formatStrippedState(state)).toEqual([{ type: 'm.room.join_rules', state_key: '', sender: ALICE, content: { join_rule: 'public' } }]);
  });
});

describe('history visibility', () => {
  async function scenario(visibility: string) {
    const w = await world();
    await w.send(ALICE, 'm.room.history_visibility', { history_visibility: visibility }, '');
    const before = await w.send(ALICE, 'm.room.message', { body: 'before', msgtype: 'm.text' });
    const invite = await w.send(ALICE, 'm.room.member', { membership: 'invite' }, BOB);
    const invited = await w.send(ALICE, 'm.room.message', { body: 'while invited', msgtype: 'm.text' });
    const join = await w.send(BOB, 'm.room.member', { membership: 'join' }, BOB);
    const after = await w.send(ALICE, 'm.room.message', { body: 'after', msgtype: 'm.text' });
    const leave = await w.send(BOB, 'm.room.member', { membership: 'leave' }, BOB);
    const gone = await w.send(ALICE, 'm.room.message', { body: 'gone', msgtype: 'm.text' });
    const all = await w.store.getEventsByStream({ from: 0 });
    const seen = new Set((await filterEventsForUser(w.store, BOB, all)).map((e) => e.eventId));
    return { w, all, seen, before, invite, invited, join, after, leave, gone };
  }

  it('joined: only from the join until the leave, plus own membership events', async () => {
    const s = await scenario('joined');
    expect([s.before, s.invited, s.gone].filter((id) => s.seen.has(id))).toEqual([]);
    expect([s.invite, s.join, s.after, s.leave].every((id) => s.seen.has(id))).toBe(true);
  });

  it('invited: from the invite on', async () => {
    const s = await scenario('invited');
    expect(s.seen.has(s.before)).toBe(false);
    expect(s.seen.has(s.invited)).toBe(true);
    expect(s.seen.has(s.after)).toBe(true);
    expect(s.seen.has(s.gone)).toBe(false);
  });

  it('shared: everything before the leave (the user joined later), nothing after it', async () => {
    const s = await scenario('shared');
    expect([s.before, s.invited, s.after].every((id) => s.seen.has(id))).toBe(true);
    expect(s.seen.has(s.gone)).toBe(false);
    // A user who never joined sees nothing (but the history_visibility rules do not help Carol).
    expect((await filterEventsForUser(s.w.store, CAROL, s.all)).length).toBe(0);
  });

  it('world_readable: everything, for anyone', async () => {
    const s = await scenario('world_readable');
    const carol = await filterEventsForUser(s.w.store, CAROL, s.all);
    expect(carol.map((e) => e.eventId)).toContain(s.gone);
    expect(carol.map((e) => e.eventId)).toContain(s.before);
  });

  it('reports the membership at each event', async () => {
    const s = await scenario('shared');
    const r = await filterEventsForUserWithMembership(s.w.store, BOB, s.all);
    expect(r.memberships.get(s.before)).toBe('leave');
    expect(r.memberships.get(s.invite)).toBe('invite');
    expect(r.memberships.get(s.join)).toBe('join');
    expect(r.memberships.get(s.after)).toBe('join');
    expect(r.memberships.get(s.leave)).toBe('leave');
  });
});

describe('room positions for /messages', () => {
  it('maps sync and topological tokens to positions', async () => {
    const w = await world();
    const m1 = await w.send(ALICE, 'm.room.message', { body: '1', msgtype: 'm.text' });
    const token = formatSyncToken(currentSyncToken({ store: w.store }));
    await w.send(ALICE, 'm.room.message', { body: '2', msgtype: 'm.text' });
    const back = await roomPositionFromToken(w.store, w.roomId, token, 'b');
    const older = await w.store.getEventsByTopology(w.roomId, { from: back!, direction: 'b', limit: 1 });
    expect(older[0]!.eventId).toBe(m1);
    const fwd = await roomPositionFromToken(w.store, w.roomId, token, 'f');
    const newer = await w.store.getEventsByTopology(w.roomId, { from: fwd!, direction: 'f', limit: 5 });
    expect(newer.map((e) => (e.event.content as JsonObject).body)).toEqual(['2']);
    const m1ev = (await w.store.getEvent(m1))!;
    expect(await roomPositionFromToken(w.store, w.roomId, `t${m1ev.depth}-${m1ev.streamOrdering}`, 'b')).toEqual({
      depth: m1ev.depth,
      streamOrdering: m1ev.streamOrdering,
    });
    expect(await roomPositionFromToken(w.store, w.roomId, 'nonsense', 'b')).toBeNull();
  });
});
