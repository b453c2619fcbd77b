// Tests of sync filter matching (wildcards, not_ lists, rooms, contains_url), defaults and
// event_fields projection; and of redactions applied across servers (power or same server).
import { describe, expect, it } from 'vitest';
import { eventMatcher, projectEventFields, readSyncFilter, DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT } from '../../src/sync/filter.js';
import { openDatabase } from '../../src/store/db.js';
import { createRoomsService } from '../../src/rooms/service.js';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { stateTuple } from '../../src/core/events/event.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { formatClientEvents } from '../../src/sync/client-event.js';

describe('event filters', () => {
  it('types with wildcards; not_types wins', () => {
    const m = eventMatcher({ types: ['m.room.*', 'org.exact'], not_types: ['m.room.member'] });
    expect(m.matches('m.room.message', '@a:x')).toBe(true);
    expect(m.matches('org.exact', '@a:x')).toBe(true);
    expect(m.matches('org.exactly', '@a:x')).toBe(false);
    expect(m.matches('m.room.member', '@a:x')).toBe(false);
    expect(m.matches('m.roomy', '@a:x')).toBe(false);
    // A dot is literal, not "any character".
    expect(eventMatcher({ types: ['m.typing'] }).matches('mXtyping', undefined)).toBe(false);
  });

  it('senders, not_senders, rooms, not_rooms, contains_url', () => {
    const m = eventMatcher({ senders: ['@a:x', '@b:x'], not_senders: ['@b:x'], rooms: ['!r:x'], not_rooms: [] });
    expect(m.matches('t', '@a:x', '!r:x')).toBe(true);
    expect(m.matches('t', '@b:x', '!r:x')).toBe(false);
    expect(m.matches('t', '@c:x', '!r:x')).toBe(false);
    expect(m.matches('t', '@a:x', '!other:x')).toBe(false);
    const url = eventMatcher({ contains_url: true });
    expect(url.matches('m.room.message', '@a:x', '!r:x', { url: 'mxc://x/y' })).toBe(true);
    expect(url.matches('m.room.message', '@a:x', '!r:x', { body: 'no' })).toBe(false);
    expect(eventMatcher({ types: [] }).excludesAll).toBe(true);
  });

  it('defaults: limit 10, capped at 100, include_leave false, lazy-loading off', () => {
    const d = readSyncFilter(undefined);
    expect(d.timelineLimit).toBe(DEFAULT_TIMELINE_LIMIT);
    expect(d.includeLeave).toBe(false);
    expect(d.lazyLoadMembers).toBe(false);
    expect(readSyncFilter({ room: { timeline: { limit: 100000 } } }).timelineLimit).toBe(MAX_TIMELINE_LIMIT);
    expect(readSyncFilter({ room: { timeline: { limit: 0 } } }).timelineLimit).toBe(0);
    const f = readSyncFilter({ room: { rooms: ['!a:x', '!b:x'], not_rooms: ['!b:x'] } });
    expect(f.roomIncluded('!a:x')).toBe(true);
    expect(f.roomIncluded('!b:x')).toBe(false);
    expect(f.roomIncluded('!c:x')).toBe(false);
  });

  it('event_fields keeps listed paths, with escaped dots', () => {
    const ev = { type: 't', content: { body: 'b', 'm.relates_to': { rel_type: 'x' }, other: 1 }, sender: '@a:x', unsigned: { age: 1 } };
    expect(projectEventFields(ev, ['type', 'content.body'])).toEqual({ type: 't', content: { body: 'b' } });
    expect(projectEventFields(ev, ['content.m\\.relates_to'])).toEqual({ content: { 'm.relates_to': { rel_type: 'x' } } });
    expect(projectEventFields(ev, ['content', 'missing.path'])).toEqual({ content: ev.content });
  });
});

describe('redactions across servers (room versions "Handling redactions")', () => {
  const HS = 'hs.test';
  const REMOTE = 'remote.test';
  const ALICE = `@alice:${HS}`;
  const BOB = `@bob:${REMOTE}`;
  const CAROL = `@carol:${REMOTE}`;
  const version = requireRoomVersion('11');
  const localKey = signingKeyFromSeed('a_1', Buffer.alloc(32, 1));
  const remoteKey = signingKeyFromSeed('r_1', Buffer.alloc(32, 2));

  async function setup() {
    const db = openDatabase(':memory:');
    let ts = 1_700_000_000_000;
    const rooms = createRoomsService({ db, serverName: HS, signingKey: localKey, clock: () => ts++ });
    const { roomId } = await rooms.createRoom('11', ALICE);
    const local = async (type: string, content: JsonObject, stateKey?: string, sender = ALICE) =>
      (await rooms.sendLocalEvent(roomId, { type, content, sender, ...(stateKey !== undefined ? { stateKey } : {}) })).eventId;
    await local('m.room.member', { membership: 'join' }, ALICE);
    await local('m.room.power_levels', { users: { [ALICE]: 100, [CAROL]: 50 }, redact: 50 }, '');
    await local('m.room.join_rules', { join_rule: 'public' }, '');
    // A remote event on the current state, built as its server would.
    let n = 0;
    const remote = async (sender: string, type: string, content: JsonObject, stateKey?: string) => {
      const prev = await rooms.store.getForwardExtremities(roomId);
      const state = await rooms.store.getCurrentStateIds(roomId);
      const auth: string[] = [];
      for (const [t, k] of authTypesForEvent(type, stateKey, sender, content, version)) {
        const id = state.get(stateTuple(t, k));
        if (id) auth.push(id);
      }
      let depth = 0;
      for (const p of prev) depth = Math.max(depth, (await rooms.store.getEvent(p))!.depth);
      const pdu: JsonObject = {
        type, room_id: roomId, sender, content, depth: depth + 1, origin_server_ts: 1_700_000_100_000 + n++, prev_events: prev, auth_events: auth,
        ...(stateKey !== undefined ? { state_key: stateKey } : {}),
      };
      const signed = hashAndSignEvent(pdu, REMOTE, remoteKey, version);
      const r = await rooms.acceptEvent(signed, version);
      expect(r.status).toBe('accepted');
      return computeEventId(signed, version);
    };
    await remote(BOB, 'm.room.member', { membership: 'join' }, BOB);
    await remote(CAROL, 'm.room.member', { membership: 'join' }, CAROL);
    return { rooms, roomId, local, remote };
  }

  const served = async (rooms: Awaited<ReturnType<typeof setup>>['rooms'], id: string) =>
    (await formatClientEvents(await rooms.store.getEvents([id]), { userId: ALICE, now: 0, withRoomId: true, store: rooms.store }))[0]!;

  it('applies a redaction from the sender\'s own server, or from a user with the power to redact', async () => {
    const { rooms, local, remote } = await setup();
    const bobMsg = await remote(BOB, 'm.room.message', { body: 'by bob', msgtype: 'm.text' });
    const aliceMsg = await local('m.room.message', { body: 'by alice', msgtype: 'm.text' });
    const carolMsg = await remote(CAROL, 'm.room.message', { body: 'by carol', msgtype: 'm.text' });
    // Bob (remote.test, power 0) redacts Alice's message: another server and no power: not applied.
    await remote(BOB, 'm.room.redaction', { redacts: aliceMsg });
    expect((await served(rooms, aliceMsg)).content).toEqual({ body: 'by alice', msgtype: 'm.text' });
    // Bob redacts Carol's: the same server as Carol: applied.
    await remote(BOB, 'm.room.redaction', { redacts: carolMsg });
    expect((await served(rooms, carolMsg)).content).toEqual({});
    // Alice (hs.test, power 100) redacts Bob's: other server, but she has the power: applied.
    await local('m.room.redaction', { redacts: bobMsg });
    const bobServed = await served(rooms, bobMsg);
    expect(bobServed.content).toEqual({});
    expect((bobServed.unsigned as JsonObject).redacted_because).toMatchObject({ sender: ALICE, redacts: bobMsg });
  });
});
