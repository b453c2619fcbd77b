// Tests of rooms/ (the single writer): local events, the receipt checks, rejection, soft failure,
// forward extremities, state at forks, membership, serialisation and the stored state per event.
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.js';
import { createRoomsService, type RoomsService, type AcceptResult } from '../../src/rooms/service.js';
import { signingKeyFromSeed, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { computeEventId, computeReferenceHash } from '../../src/core/events/hashes.js';
import { encodeBase64 } from '../../src/core/json/base64.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { requireRoomVersion, type RoomVersion } from '../../src/core/events/room-versions.js';
import { stateTuple, toRoomEvent, type RoomEvent } from '../../src/core/events/event.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { resolveState } from '../../src/core/state/resolve.js';
import { AuthChainCache } from '../../src/core/state/auth-chain.js';
import type { StateMap } from '../../src/core/state/types.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import { MatrixError } from '../../src/errors.js';

const HS = 'hs.test';
const REMOTE = 'remote.test';
const ALICE = '@alice:hs.test';
const BOB = '@bob:remote.test';
const CAROL = '@carol:remote.test';
const DAVE = '@dave:remote.test';
const localKey = signingKeyFromSeed('a_1', Buffer.alloc(32, 1));
const remoteKey = signingKeyFromSeed('r_1', Buffer.alloc(32, 2));
const UNKNOWN_PREV = '$' + 'U'.repeat(43);

interface Harness {
  rooms: RoomsService;
  version: RoomVersion;
  roomId: string;
  createId: string;
  /** Every PDU built in the test, by event ID (independent of the store). */
  pdus: Map<string, JsonObject>;
  ts: number;
}

async function setup(versionId = '10', opts: { stateDefault?: number } = {}): Promise<Harness> {
  const db = openDatabase(':memory:');
  let ts = 1_700_000_000_000;
  const rooms = createRoomsService({ db, serverName: HS, signingKey: localKey, clock: () => ts++ });
  const version = requireRoomVersion(versionId);
  const created = await rooms.createRoom(versionId, ALICE);
  const h: Harness = { rooms, version, roomId: created.roomId, createId: created.eventId, pdus: new Map(), ts: 0 };
  h.pdus.set(created.eventId, created.pdu);
  const send = async (type: string, stateKey: string | undefined, content: JsonObject) => {
    const r = await rooms.sendLocalEvent(h.roomId, { type, stateKey, content, sender: ALICE });
    h.pdus.set(r.eventId, r.pdu);
    return r;
  };
  await send('m.room.member', ALICE, { membership: 'join' });
  await send('m.room.power_levels', '', {
    users: version.creatorsHaveInfinitePower ? {} : { [ALICE]: 100 },
    users_default: 0,
    events_default: 0,
    state_default: opts.stateDefault ?? 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: 0,
    events: {},
  });
  await send('m.room.join_rules', '', { join_rule: 'public' });
  return h;
}

async function local(h: Harness, type: string, stateKey: string | undefined, content: JsonObject, sender = ALICE) {
  const r = await h.rooms.sendLocalEvent(h.roomId, { type, stateKey, content, sender });
  h.pdus.set(r.eventId, r.pdu);
  return r;
}

/**
 * A PDU as a remote server would build it: prev events given, auth events selected from the state
 * after the prev events (first prev) unless given, signed by the remote key (acceptEvent leaves
 * signature checks to the federation layer).
 */
async function remote(
  h: Harness,
  spec: { type: string; stateKey?: string; content: JsonObject; sender?: string; prev: string[]; auth?: string[]; key?: SigningKey },
): Promise<{ pdu: JsonObject; eventId: string }> {
  const sender = spec.sender ?? BOB;
  let auth = spec.auth;
  if (!auth) {
    const state = (await h.rooms.store.getStateIdsAfter(spec.prev[0]!))!;
    auth = [];
    for (const [t, k] of authTypesForEvent(spec.type, spec.stateKey, sender, spec.content, h.version)) {
      const id = state.get(stateTuple(t, k));
      if (id) auth.push(id);
    }
  }
  let depth = 0;
  for (const p of spec.prev) depth = Math.max(depth, (await h.rooms.store.getEvent(p))?.depth ?? (h.pdus.get(p)?.depth as number) ?? 0);
  // Rooms v1/v2 cite events as [event_id, {sha256: reference hash}] and carry a chosen event_id.
  const ref = (id: string): JsonValue =>
    h.version.eventRefsArePairs ? [id, { sha256: encodeBase64(computeReferenceHash(h.pdus.get(id)!, h.version)) }] : id;
  const pdu: JsonObject = {
    type: spec.type,
    room_id: h.roomId,
    sender,
    content: spec.content,
    depth: depth + 1,
    origin_server_ts: 1_700_000_100_000 + h.ts++,
    prev_events: spec.prev.map(ref),
    auth_events: auth.map(ref),
  };
  if (h.version.eventRefsArePairs) pdu.event_id = `$r${h.ts}:${sender.split(':')[1]}`;
  if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
  const signed = hashAndSignEvent(pdu, sender.split(':')[1]!, spec.key ?? remoteKey, h.version);
  const eventId = computeEventId(signed, h.version);
  h.pdus.set(eventId, signed);
  return { pdu: signed, eventId };
}

async function accept(h: Harness, e: { pdu: JsonObject }, opts?: Parameters<RoomsService['acceptEvent']>[2]): Promise<AcceptResult> {
  return h.rooms.acceptEvent(e.pdu, h.version.id, opts);
}

async function extremities(h: Harness): Promise<string[]> {
  return (await h.rooms.store.getForwardExtremities(h.roomId)).sort();
}

/** State resolution computed independently of the store: events from the test's own PDUs. */
function independentResolve(h: Harness, sets: StateMap[], rejected: Set<string>): Map<string, string> {
  const events = new Map<string, RoomEvent>();
  const getEvent = (id: string) => {
    let ev = events.get(id);
    if (!ev) {
      const pdu = h.pdus.get(id);
      if (!pdu) return undefined;
      ev = toRoomEvent(pdu, id, h.version);
      events.set(id, ev);
    }
    return ev;
  };
  const chains = new AuthChainCache(getEvent, h.version);
  return resolveState(h.version, sets, {
    getEvent,
    getAuthChain: (ids) => chains.getAuthChain(ids),
    isRejected: (id) => rejected.has(id),
  });
}

function sorted(m: StateMap | undefined): [string, string][] {
  return [...(m ?? new Map())].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

describe('rooms: local events', () => {
  it('builds linear events on the forward extremity with auth events from the current state', async () => {
    const h = await setup();
    const m1 = await local(h, 'm.room.message', undefined, { msgtype: 'm.text', body: 'one' });
    expect(await extremities(h)).toEqual([m1.eventId]);
    const m2 = await local(h, 'm.room.message', undefined, { msgtype: 'm.text', body: 'two' });
    expect(m2.pdu.prev_events).toEqual([m1.eventId]);
    expect(m2.pdu.depth).toBe((m1.pdu.depth as number) + 1);
    expect(await extremities(h)).toEqual([m2.eventId]);
    const cur = await h.rooms.store.getCurrentStateIds(h.roomId);
    expect(new Set(m2.pdu.auth_events as string[])).toEqual(
      new Set([cur.get(stateTuple('m.room.create', ''))!, cur.get(stateTuple('m.room.power_levels', ''))!, cur.get(stateTuple('m.room.member', ALICE))!]),
    );
    expect(m2.streamOrdering).toBe(m1.streamOrdering + 1);
    expect(h.rooms.notifier.currentPosition).toBe(m2.streamOrdering);
    const visible = await h.rooms.store.getEventsByStream({ from: 0, roomId: h.roomId });
    expect(visible.map((e) => e.eventId).slice(-2)).toEqual([m1.eventId, m2.eventId]);
    const latest = await h.rooms.store.getEventsByTopology(h.roomId, { direction: 'b', limit: 2 });
    expect(latest.map((e) => e.eventId)).toEqual([m2.eventId, m1.eventId]);
    const older = await h.rooms.store.getEventsByTopology(h.roomId, { direction: 'b', limit: 10, from: { depth: latest[1]!.depth, streamOrdering: latest[1]!.streamOrdering! } });
    expect(older.length).toBe(4);
    expect(older[older.length - 1]!.eventId).toBe(h.createId);
    const forward = await h.rooms.store.getEventsByTopology(h.roomId, { direction: 'f', limit: 100, from: { depth: older[0]!.depth, streamOrdering: older[0]!.streamOrdering! } });
    expect(forward.map((e) => e.eventId)).toEqual([m1.eventId, m2.eventId]);
  });

  it('refuses a local event that fails auth, with M_FORBIDDEN, and stores nothing', async () => {
    const h = await setup();
    const before = h.rooms.store.currentStreamPosition();
    const err = await h.rooms
      .sendLocalEvent(h.roomId, { type: 'm.room.message', content: { body: 'x' }, sender: '@mallory:hs.test' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MatrixError);
    expect((err as MatrixError).errcode).toBe('M_FORBIDDEN');
    expect(h.rooms.store.currentStreamPosition()).toBe(before);
    await expect(h.rooms.sendLocalEvent(h.roomId, { type: 'm.room.message', content: {}, sender: BOB })).rejects.toThrow(/not a user of this server/);
    await expect(h.rooms.sendLocalEvent('!nope:hs.test', { type: 'm.room.message', content: {}, sender: ALICE })).rejects.toMatchObject({
      errcode: 'M_NOT_FOUND',
    });
  });

  it('works in room versions 1 (reference pairs, chosen IDs), 3 and 12 (room ID from the create event)', async () => {
    for (const v of ['1', '3', '12']) {
      const h = await setup(v);
      const m = await local(h, 'm.room.message', undefined, { msgtype: 'm.text', body: v });
      const prev = (m.pdu.prev_events as unknown[])[0];
      if (v === '1') {
        expect(Array.isArray(prev)).toBe(true);
        expect(m.eventId.endsWith(':hs.test')).toBe(true);
      } else expect(typeof prev).toBe('string');
      if (v === '12') {
        expect(h.roomId).toBe('!' + h.createId.slice(1));
        expect((m.pdu.auth_events as string[]).includes(h.createId)).toBe(false);
      }
      const cur = await h.rooms.store.getCurrentStateIds(h.roomId);
      expect(cur.size).toBe(4);
      expect(await h.rooms.store.getRoomVersion(h.roomId)).toBe(v);
      expect((await h.rooms.store.getEvent(m.eventId))!.event.content.body).toBe(v);
    }
  });

  it('serialises work per room: concurrent sends form one linear chain; rooms proceed independently', async () => {
    const h = await setup();
    const other = await h.rooms.createRoom('10', ALICE);
    await h.rooms.sendLocalEvent(other.roomId, { type: 'm.room.member', stateKey: ALICE, content: { membership: 'join' }, sender: ALICE });
    const sends = [];
    for (let i = 0; i < 40; i++) {
      sends.push(local(h, 'm.room.message', undefined, { msgtype: 'm.text', body: `m${i}` }));
      sends.push(h.rooms.sendLocalEvent(other.roomId, { type: 'm.room.message', content: { body: `o${i}` }, sender: ALICE }));
    }
    const results = await Promise.all(sends);
    const mine = results.filter((_, i) => i % 2 === 0);
    for (let i = 1; i < mine.length; i++) {
      expect(mine[i]!.pdu.prev_events).toEqual([mine[i - 1]!.eventId]);
      expect(mine[i]!.pdu.depth).toBe((mine[i - 1]!.pdu.depth as number) + 1);
    }
    expect(await extremities(h)).toEqual([mine[mine.length - 1]!.eventId]);
    expect((await h.rooms.store.getForwardExtremities(other.roomId)).length).toBe(1);
    const so = results.map((r) => r.streamOrdering);
    expect(new Set(so).size).toBe(so.length);
  });
});

describe('rooms: received events', () => {
  it('accepts a remote join and tracks membership and state deltas', async () => {
    const h = await setup();
    const [x] = await extremities(h);
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
    const r = await accept(h, join);
    expect(r).toMatchObject({ status: 'accepted', eventId: join.eventId });
    expect(await extremities(h)).toEqual([join.eventId]);
    expect(await h.rooms.store.getMembership(h.roomId, BOB)).toMatchObject({ membership: 'join', eventId: join.eventId });
    expect(await h.rooms.store.getRoomsForUser(BOB)).toEqual([h.roomId]);
    const leave = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'leave' }, prev: [join.eventId] });
    const r2 = await accept(h, leave);
    expect(r2.status).toBe('accepted');
    expect(await h.rooms.store.getRoomsForUser(BOB)).toEqual([]);
    expect((await h.rooms.store.getRoomMembers(h.roomId, 'join')).map((m) => m.userId)).toEqual([ALICE]);
    const deltas = await h.rooms.store.getStateDeltas(0, h.rooms.store.currentStreamPosition(), h.roomId);
    const bobs = deltas.filter((d) => d.stateKey === BOB);
    expect(bobs.map((d) => [d.eventId, d.prevEventId])).toEqual([
      [join.eventId, null],
      [leave.eventId, join.eventId],
    ]);
    // Accepting it again changes nothing.
    const again = await accept(h, leave);
    expect(again).toMatchObject({ status: 'accepted', duplicate: true, streamOrdering: (r2 as { streamOrdering: number }).streamOrdering });
  });

  it('rejects an event failing auth against its auth events; it never enters state and is not an extremity', async () => {
    const h = await setup();
    const [x] = await extremities(h);
    const topic = await remote(h, { type: 'm.room.topic', stateKey: '', content: { topic: 'not a member' }, prev: [x!] });
    const r = await accept(h, topic);
    expect(r.status).toBe('rejected');
    expect((r as { reason: string }).reason).toMatch(/^auth events:/);
    expect(await extremities(h)).toEqual([x!]);
    const cur = await h.rooms.store.getCurrentStateIds(h.roomId);
    expect(cur.has(stateTuple('m.room.topic', ''))).toBe(false);
    expect(sorted(await h.rooms.store.getStateIdsAfter(topic.eventId))).toEqual(sorted(await h.rooms.store.getStateIdsBefore(topic.eventId)));
    const stored = (await h.rooms.store.getEvent(topic.eventId))!;
    expect(stored.rejectedReason).toMatch(/auth events/);
    expect((await h.rooms.store.getEventsByStream({ from: 0, roomId: h.roomId })).some((e) => e.eventId === topic.eventId)).toBe(false);

    // A later event that cites the rejected one as a prev event is fine, and its state excludes it.
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [topic.eventId] });
    expect((await accept(h, join)).status).toBe('accepted');
    const after = (await h.rooms.store.getStateIdsAfter(join.eventId))!;
    expect(after.has(stateTuple('m.room.topic', ''))).toBe(false);
    expect(after.get(stateTuple('m.room.member', BOB))).toBe(join.eventId);
    // The rejected event stays out of the extremities even though its child replaced x.
    expect(await extremities(h)).toEqual([x!, join.eventId].sort());

    // An event citing the rejected one as an auth event is rejected too.
    const msg = await remote(h, { type: 'm.room.message', content: { body: 'hi' }, prev: [join.eventId] });
    const auth = (msg.pdu.auth_events as string[]).concat();
    const bad = await remote(h, { type: 'm.room.message', content: { body: 'bad' }, prev: [join.eventId], auth: [...auth.filter((a) => a !== join.eventId), topic.eventId] });
    expect((await accept(h, bad)).status).toBe('rejected');
  });

  it('rejects an event allowed by its auth events but not by the state before it', async () => {
    const h = await setup();
    const [x] = await extremities(h);
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
    await accept(h, join);
    const ban = await local(h, 'm.room.member', BOB, { membership: 'ban' });
    // Bob's server cites his old join as auth event but builds on the ban.
    const cur = await h.rooms.store.getCurrentStateIds(h.roomId);
    const staleAuth = [cur.get(stateTuple('m.room.create', ''))!, cur.get(stateTuple('m.room.power_levels', ''))!, join.eventId];
    const msg = await remote(h, { type: 'm.room.message', content: { body: 'evading' }, prev: [ban.eventId], auth: staleAuth });
    const r = await accept(h, msg);
    expect(r.status).toBe('rejected');
    expect((r as { reason: string }).reason).toMatch(/^state before:/);
    expect(await extremities(h)).toEqual([ban.eventId]);
  });

  it('soft-fails an event that passes at its own state but not against the current state (spec example)', async () => {
    const h = await setup(undefined, { stateDefault: 0 });
    const [x] = await extremities(h);
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
    await accept(h, join);
    const A = join.eventId;
    const B = await local(h, 'm.room.member', BOB, { membership: 'ban' }); // prev: A
    const C = await remote(h, { type: 'm.room.topic', stateKey: '', content: { topic: 'evading the ban' }, prev: [A] });
    const r = await accept(h, C);
    expect(r.status).toBe('soft_failed');
    expect((r as { reason: string }).reason).toMatch(/^current state:/);
    expect(await extremities(h)).toEqual([B.eventId]);
    expect((await h.rooms.store.getCurrentStateIds(h.roomId)).has(stateTuple('m.room.topic', ''))).toBe(false);
    expect((await h.rooms.store.getEvent(C.eventId))!.softFailed).toBe(true);
    expect((await h.rooms.store.getEventsByStream({ from: 0, roomId: h.roomId })).some((e) => e.eventId === C.eventId)).toBe(false);
    // Its own state includes the topic (it did pass at its place in the DAG).
    expect((await h.rooms.store.getStateIdsAfter(C.eventId))!.get(stateTuple('m.room.topic', ''))).toBe(C.eventId);
    // D referencing both B and C is handled as normal; the state at D is the resolved state.
    const D = await remote(h, { type: 'm.room.message', sender: CAROL, content: { body: 'd' }, prev: [B.eventId, C.eventId], auth: [] });
    // Carol is not in the room: rejected, but its state before is still the resolution.
    const rd = await accept(h, D);
    expect(rd.status).toBe('rejected');
    const expected = independentResolve(h, [(await h.rooms.store.getStateIdsAfter(B.eventId))!, (await h.rooms.store.getStateIdsAfter(C.eventId))!], new Set());
    expect(sorted(await h.rooms.store.getStateIdsBefore(D.eventId))).toEqual(sorted(expected));
  });

  it('reports missing auth and prev events, stores nothing, and accepts once given the state before', async () => {
    const h = await setup();
    const [x] = await extremities(h);
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
    const cur = await h.rooms.store.getCurrentStateIds(h.roomId);
    const msgAuth = [cur.get(stateTuple('m.room.create', ''))!, cur.get(stateTuple('m.room.power_levels', ''))!, join.eventId];
    const msg = await remote(h, { type: 'm.room.message', content: { body: 'early' }, prev: [join.eventId], auth: msgAuth });
    const pos = h.rooms.store.currentStreamPosition();
    // Its auth events include the join we do not have.
    const r1 = await accept(h, msg);
    expect(r1).toMatchObject({ status: 'missing', missingAuthEvents: [join.eventId] });
    expect(h.rooms.store.currentStreamPosition()).toBe(pos);
    expect(await h.rooms.store.getEvent(msg.eventId)).toBeUndefined();

    // The federation layer fetches the join and stores it as an outlier: now the prev event lacks state.
    const o = await accept(h, join, { outlier: true });
    expect(o).toMatchObject({ status: 'accepted', streamOrdering: undefined });
    expect((await h.rooms.store.getEvent(join.eventId))!.outlier).toBe(true);
    expect(await h.rooms.store.getStateIdsAfter(join.eventId)).toBeUndefined();
    expect(h.rooms.store.currentStreamPosition()).toBe(pos);
    const r2 = await accept(h, msg);
    expect(r2).toMatchObject({ status: 'missing', missingPrevEvents: [join.eventId] });

    // Then asks for the state before it (/state_ids) and passes it in. Bob's join is in that state
    // but not in the current state, so the message soft-fails (check 6).
    const stateBefore = new Map(cur);
    stateBefore.set(stateTuple('m.room.member', BOB), join.eventId);
    const r3 = await accept(h, msg, { stateBefore });
    expect(r3.status).toBe('soft_failed');
    expect(sorted(await h.rooms.store.getStateIdsBefore(msg.eventId))).toEqual(sorted(stateBefore));
    expect(await extremities(h)).toEqual([x!]);

    // Promoting the outlier: its prev event x has state, so it is checked and accepted normally.
    const p = await accept(h, join);
    expect(p.status).toBe('accepted');
    expect((await h.rooms.store.getEvent(join.eventId))!.outlier).toBe(false);
    expect(await extremities(h)).toEqual([join.eventId]);
    expect(await h.rooms.store.getMembership(h.roomId, BOB)).toMatchObject({ membership: 'join', eventId: join.eventId });

    // A state supplied for an event whose prev event we lack entirely, by a member: accepted.
    const gap = await remote(h, { type: 'm.room.message', sender: ALICE, key: localKey, content: { body: 'after a gap' }, prev: [UNKNOWN_PREV], auth: [cur.get(stateTuple('m.room.create', ''))!, cur.get(stateTuple('m.room.power_levels', ''))!, cur.get(stateTuple('m.room.member', ALICE))!] });
    expect(await accept(h, gap)).toMatchObject({ status: 'missing', missingPrevEvents: [UNKNOWN_PREV] });
    const unknownState = new Map(stateBefore);
    unknownState.set(stateTuple('m.room.topic', ''), '$nosuchevent');
    expect(await accept(h, gap, { stateBefore: unknownState })).toMatchObject({ status: 'missing', missingStateEvents: ['$nosuchevent'] });
    expect((await accept(h, gap, { stateBefore })).status).toBe('accepted');
    expect(await extremities(h)).toEqual([gap.eventId, join.eventId].sort());
  });

  it('drops events whose format is invalid', async () => {
    const h = await setup();
    const [x] = await extremities(h);
    const e = await remote(h, { type: 'm.room.message', content: { body: 'x' }, prev: [x!], auth: [] });
    const broken = { ...e.pdu, depth: -1 };
    expect((await h.rooms.acceptEvent(broken, '10')).status).toBe('dropped');
  });
});

describe('rooms: forks and state resolution', () => {
  it('moves forward extremities on forks and merges, and stores the resolved state at the merge', async () => {
    const h = await setup(undefined, { stateDefault: 0 });
    const [x] = await extremities(h);
    const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
    await accept(h, join);
    const base = join.eventId;
    // Two branches off `base`: Bob's server changes topic and name; Alice's side changes the topic.
    const b1 = await remote(h, { type: 'm.room.topic', stateKey: '', content: { topic: 'bob' }, prev: [base] });
    const a1 = await remote(h, { type: 'm.room.topic', stateKey: '', content: { topic: 'alice' }, sender: ALICE, prev: [base], key: localKey });
    expect((await accept(h, b1)).status).toBe('accepted');
    expect(await extremities(h)).toEqual([b1.eventId]);
    const b2 = await remote(h, { type: 'm.room.name', stateKey: '', content: { name: 'bobs room' }, prev: [b1.eventId] });
    expect((await accept(h, a1)).status).toBe('accepted');
    expect(await extremities(h)).toEqual([a1.eventId, b1.eventId].sort());
    expect((await accept(h, b2)).status).toBe('accepted');
    expect(await extremities(h)).toEqual([a1.eventId, b2.eventId].sort());

    // Current state is the resolution across the extremities.
    const afterA = (await h.rooms.store.getStateIdsAfter(a1.eventId))!;
    const afterB = (await h.rooms.store.getStateIdsAfter(b2.eventId))!;
    const expected = independentResolve(h, [afterA, afterB], new Set());
    expect(sorted(await h.rooms.store.getCurrentStateIds(h.roomId))).toEqual(sorted(expected));
    expect(expected.get(stateTuple('m.room.name', ''))).toBe(b2.eventId);

    // A local message merges both: prev events are both extremities.
    const m = await local(h, 'm.room.message', undefined, { body: 'merge' });
    expect(new Set(m.pdu.prev_events as string[])).toEqual(new Set([a1.eventId, b2.eventId]));
    expect(await extremities(h)).toEqual([m.eventId]);
    expect(sorted(await h.rooms.store.getStateIdsBefore(m.eventId))).toEqual(sorted(expected));
    expect(sorted(await h.rooms.store.getStateIdsAfter(m.eventId))).toEqual(sorted(expected));
    expect(sorted(await h.rooms.store.getCurrentStateIds(h.roomId))).toEqual(sorted(expected));
  });

  it('keeps the stored state at every event equal to the independently resolved state on a random DAG', async () => {
    for (const v of ['1', '10', '12']) {
      const h = await setup(v, { stateDefault: 0 });
      const [x] = await extremities(h);
      const join = await remote(h, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join' }, prev: [x!] });
      expect(await accept(h, join)).toMatchObject({ status: 'accepted' });
      const joinC = await remote(h, { type: 'm.room.member', stateKey: CAROL, sender: CAROL, content: { membership: 'join' }, prev: [join.eventId] });
      expect(await accept(h, joinC)).toMatchObject({ status: 'accepted' });
      let seed = 7 + Number(v);
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const all: string[] = [joinC.eventId];
      const statuses = new Map<string, AcceptResult['status']>();
      const rejected = new Set<string>();
      for (let i = 0; i < 80; i++) {
        const nPrev = 1 + rnd(3);
        const prev = [...new Set(Array.from({ length: nPrev }, () => all[all.length - 1 - rnd(Math.min(all.length, 6))]!))];
        const kind = rnd(9);
        // Dave never joins: his events are rejected.
        const sender = kind === 8 ? DAVE : [BOB, CAROL, ALICE][rnd(3)]!;
        const key = sender === ALICE ? localKey : remoteKey;
        let e;
        if (kind <= 1) e = await remote(h, { type: 'm.room.topic', stateKey: '', content: { topic: `t${i}` }, sender, key, prev });
        else if (kind === 2) e = await remote(h, { type: 'm.room.name', stateKey: '', content: { name: `n${i}` }, sender, key, prev });
        else if (kind === 3 && sender === ALICE) {
          const target = [BOB, CAROL][rnd(2)]!;
          e = await remote(h, { type: 'm.room.member', stateKey: target, content: { membership: rnd(5) === 0 ? 'ban' : 'leave' }, sender, key, prev });
        } else if (kind === 4 && sender !== ALICE) {
          e = await remote(h, { type: 'm.room.member', stateKey: sender, content: { membership: 'join' }, sender, key, prev });
        } else e = await remote(h, { type: 'm.room.message', content: { body: `m${i}` }, sender, key, prev });
        const r = await accept(h, e);
        statuses.set(e.eventId, r.status);
        if (r.status === 'rejected') rejected.add(e.eventId);
        all.push(e.eventId);
      }
      expect([...statuses.values()].every((s) => s === 'accepted' || s === 'rejected' || s === 'soft_failed')).toBe(true);
      expect([...statuses.values()].filter((s) => s === 'accepted').length).toBeGreaterThan(10);
      let resolvedMerges = 0;
      for (const id of all) {
        const pdu = h.pdus.get(id)!;
        const prevIds = (pdu.prev_events as unknown[]).map((p) => (Array.isArray(p) ? (p[0] as string) : (p as string)));
        const prevStates = await Promise.all(prevIds.map(async (p) => (await h.rooms.store.getStateIdsAfter(p))!));
        const distinct = new Set(prevStates.map((s) => JSON.stringify(sorted(s))));
        if (distinct.size > 1) resolvedMerges++;
        const expectedBefore = distinct.size === 1 ? prevStates[0]! : independentResolve(h, prevStates, rejected);
        expect(sorted(await h.rooms.store.getStateIdsBefore(id))).toEqual(sorted(expectedBefore));
        const expectedAfter = new Map(expectedBefore);
        if (pdu.state_key !== undefined && !rejected.has(id)) expectedAfter.set(stateTuple(pdu.type as string, pdu.state_key as string), id);
        expect(sorted(await h.rooms.store.getStateIdsAfter(id))).toEqual(sorted(expectedAfter));
      }
      // The walk must exercise merges of differing states, rejections and soft failures.
      const count = (st: string) => [...statuses.values()].filter((s) => s === st).length;
      expect(resolvedMerges).toBeGreaterThan(10);
      expect(count('rejected')).toBeGreaterThan(2);
      // Current state = resolution across the forward extremities; extremities have no accepted children.
      const ext = await extremities(h);
      const extStates = await Promise.all(ext.map(async (e) => (await h.rooms.store.getStateIdsAfter(e))!));
      const distinct = new Set(extStates.map((s) => JSON.stringify(sorted(s))));
      const expectedCurrent = distinct.size === 1 ? extStates[0]! : independentResolve(h, extStates, rejected);
      expect(sorted(await h.rooms.store.getCurrentStateIds(h.roomId))).toEqual(sorted(expectedCurrent));
      // Forward extremities = accepted events that no accepted event cites as a prev event.
      const acceptedIds: string[] = [];
      for (const id of h.pdus.keys()) {
        const st = await h.rooms.store.getEvent(id);
        if (st && !st.outlier && st.rejectedReason === null && !st.softFailed) acceptedIds.push(id);
      }
      const cited = new Set<string>();
      for (const id of acceptedIds) {
        for (const p of h.pdus.get(id)!.prev_events as unknown[]) cited.add(Array.isArray(p) ? (p[0] as string) : (p as string));
      }
      expect(ext).toEqual(acceptedIds.filter((id) => !cited.has(id)).sort());
    }
  });
});
