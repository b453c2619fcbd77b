// Tests of checkAuthEventsList (the rules on an event's own auth_events list) and of checkAuth's
// guards against auth events from another room or twice for one (type, state_key): the checks
// added after CVE-2022-31152 / GHSA-pfw4-xjgm-267c, and the v12 rule that the create event is
// implied by the room ID and must not be listed.

import { describe, expect, it } from 'vitest';
import type { RoomEvent } from '../../src/core/events/event.js';
import { checkAuth, checkAuthEventsList } from '../../src/core/auth/rules.js';
import { ALICE, ALL_VERSIONS, BOB, CAROL, DAVE, TestRoom, expectRule, range, standardRoom } from './auth-helpers.js';

const ALL = ALL_VERSIONS;
const V1_11 = range(1, 11);
const V12 = range(12);

/** Supplies the events named by `ev.authEventIds` from the room (plus the create event in v12). */
function supplied(r: TestRoom, ev: RoomEvent, pool: Map<string, RoomEvent> = r.all): RoomEvent[] {
  const listed = ev.authEventIds.map((id) => pool.get(id)).filter((e): e is RoomEvent => e !== undefined);
  return r.version.roomIdFromCreateEvent && !listed.includes(r.create) ? [r.create, ...listed] : listed;
}

function list(r: TestRoom, ev: RoomEvent, pool?: Map<string, RoomEvent>, isRejected?: (id: string) => boolean): string {
  return expectRule(checkAuthEventsList(ev, supplied(r, ev, pool), r.version, isRejected ? { isRejected } : {}));
}

const id = (r: TestRoom, type: string, stateKey = ''): string => r.state.get(`${type}\u0000${stateKey}`)!.eventId;
const msg = { type: 'm.room.message', sender: CAROL, content: { body: 'x' } };

interface Row {
  name: string;
  versions: readonly string[];
  run: (r: TestRoom) => string;
  expect: string;
}

const rows: Row[] = [
  {
    name: 'the selection from the state passes',
    versions: ALL,
    run: (r) => list(r, r.event(msg)),
    expect: 'allow',
  },
  {
    name: 'a member event selection (target, join rules) passes',
    versions: ALL,
    run: (r) => list(r, r.event({ type: 'm.room.member', sender: BOB, state_key: CAROL, content: { membership: 'ban' } })),
    expect: 'allow',
  },
  {
    name: 'the same event ID listed twice',
    versions: ALL,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, id(r, 'm.room.power_levels')] }));
    },
    expect: 'auth_events.duplicate',
  },
  {
    name: 'two power levels events (same type and state_key)',
    versions: ALL,
    run: (r) => {
      const old = id(r, 'm.room.power_levels');
      r.powerLevels({ users: {}, users_default: 0 });
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, old] }));
    },
    expect: 'auth_events.duplicate',
  },
  {
    name: 'two member events of the sender',
    versions: ALL,
    run: (r) => {
      const old = id(r, 'm.room.member', CAROL);
      r.member(CAROL, 'join', CAROL, { displayname: 'C2' });
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, old] }));
    },
    expect: 'auth_events.duplicate',
  },
  {
    name: 'join rules in the auth events of a message',
    versions: ALL,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, id(r, 'm.room.join_rules')] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'another user\'s member event in the auth events of a message',
    versions: ALL,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, id(r, 'm.room.member', BOB)] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'join rules in the auth events of a leave',
    versions: ALL,
    run: (r) => {
      const leave = { type: 'm.room.member', sender: CAROL, state_key: CAROL, content: { membership: 'leave' } };
      const e = r.event(leave);
      return list(r, r.event({ ...leave, auth_events: [...e.authEventIds, id(r, 'm.room.join_rules')] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'an unrelated state event (topic)',
    versions: ALL,
    run: (r) => {
      const topic = r.put({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 't' } });
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, topic.eventId] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'a message event listed as an auth event',
    versions: ALL,
    run: (r) => {
      const m = r.event(msg);
      r.all.set(m.eventId, m);
      return list(r, r.event({ ...msg, auth_events: [...m.authEventIds, m.eventId] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'the authorising user\'s member event of a restricted join (v8+)',
    versions: range(8),
    run: (r) => {
      r.joinRules('restricted');
      return list(
        r,
        r.event({
          type: 'm.room.member',
          sender: DAVE,
          state_key: DAVE,
          content: { membership: 'join', join_authorised_via_users_server: BOB },
        }),
      );
    },
    expect: 'allow',
  },
  {
    name: 'the authorising user\'s member event is not selectable before v8',
    versions: range(1, 7),
    run: (r) => {
      r.joinRules('public');
      const content = { membership: 'join', join_authorised_via_users_server: BOB };
      const e = r.event({ type: 'm.room.member', sender: DAVE, state_key: DAVE, content });
      return list(
        r,
        r.event({ type: 'm.room.member', sender: DAVE, state_key: DAVE, content, auth_events: [...e.authEventIds, id(r, 'm.room.member', BOB)] }),
      );
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'the m.room.third_party_invite of the token in an invite',
    versions: ALL,
    run: (r) => {
      r.put({ type: 'm.room.third_party_invite', sender: CAROL, state_key: 'tok', content: { public_key: 'x' } });
      const content = { membership: 'invite', third_party_invite: { display_name: 'd', signed: { mxid: DAVE, token: 'tok', signatures: {} } } };
      const e = r.event({ type: 'm.room.member', sender: CAROL, state_key: DAVE, content });
      expect(e.authEventIds).toContain(id(r, 'm.room.third_party_invite', 'tok'));
      return list(r, e);
    },
    expect: 'allow',
  },
  {
    name: 'a third_party_invite of another token',
    versions: ALL,
    run: (r) => {
      const other = r.put({ type: 'm.room.third_party_invite', sender: CAROL, state_key: 'other', content: {} });
      const content = { membership: 'invite', third_party_invite: { signed: { mxid: DAVE, token: 'tok', signatures: {} } } };
      const e = r.event({ type: 'm.room.member', sender: CAROL, state_key: DAVE, content });
      return list(r, r.event({ type: 'm.room.member', sender: CAROL, state_key: DAVE, content, auth_events: [...e.authEventIds, other.eventId] }));
    },
    expect: 'auth_events.unexpected',
  },
  {
    name: 'an auth event from another room',
    versions: ALL,
    run: (r) => {
      // The sender holds power in another room; its power levels event must not count here.
      const other = standardRoom(r.version.id);
      const foreignPl = other.state.get('m.room.power_levels\u0000')!;
      const e = r.event(msg);
      const ids = e.authEventIds.filter((x) => x !== id(r, 'm.room.power_levels'));
      const pool = new Map(r.all);
      pool.set(foreignPl.eventId, foreignPl);
      return list(r, r.event({ ...msg, auth_events: [...ids, foreignPl.eventId] }), pool);
    },
    expect: 'auth_events.other_room',
  },
  {
    name: 'the create event of another room (v1-v11)',
    versions: V1_11,
    run: (r) => {
      const other = new TestRoom(r.version.id);
      const e = r.event(msg);
      const ids = e.authEventIds.map((x) => (x === r.create.eventId ? other.create.eventId : x));
      const pool = new Map(r.all);
      pool.set(other.create.eventId, other.create);
      return list(r, r.event({ ...msg, auth_events: ids }), pool);
    },
    expect: 'auth_events.other_room',
  },
  {
    name: 'no create event listed (v1-v11)',
    versions: V1_11,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: e.authEventIds.filter((x) => x !== r.create.eventId) }));
    },
    expect: 'auth_events.no_create',
  },
  {
    name: 'no create event listed is the rule in v12',
    versions: V12,
    run: (r) => {
      const e = r.event(msg);
      expect(e.authEventIds).not.toContain(r.create.eventId);
      return list(r, e);
    },
    expect: 'allow',
  },
  {
    name: 'the create event listed in v12',
    versions: V12,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [r.create.eventId, ...e.authEventIds] }));
    },
    expect: 'auth_events.create_listed',
  },
  {
    name: 'a listed auth event the caller could not supply',
    versions: ALL,
    run: (r) => {
      const e = r.event(msg);
      return list(r, r.event({ ...msg, auth_events: [...e.authEventIds, '$unknown:x.example'] }));
    },
    expect: 'auth_events.missing',
  },
  {
    name: 'a rejected auth event',
    versions: ALL,
    run: (r) => {
      const plId = id(r, 'm.room.power_levels');
      return list(r, r.event(msg), undefined, (x) => x === plId);
    },
    expect: 'auth_events.rejected',
  },
  {
    name: 'm.room.create itself is not subject to the list rules',
    versions: ALL,
    run: (r) => list(r, r.create),
    expect: 'allow',
  },
];

const cases = rows.flatMap((row) => row.versions.map((v) => ({ ...row, v, label: `v${v}: ${row.name}` })));

describe('checkAuthEventsList', () => {
  it.each(cases)('$label', (row) => {
    const r = standardRoom(row.v);
    expect(row.run(r)).toBe(row.expect);
  });
});

describe('checkAuth guards on the supplied state', () => {
  it.each(ALL.map((v) => [v]))('v%s: an auth event from another room is refused', (v) => {
    const r = standardRoom(v);
    const other = standardRoom(v);
    const ev = r.event(msg);
    const state = r.authStateFor(ev).map((e) => (e.type === 'm.room.power_levels' ? other.state.get('m.room.power_levels\u0000')! : e));
    expect(expectRule(checkAuth(ev, state, r.version))).toBe('auth_events.other_room');
  });

  it.each(V1_11.map((v) => [v]))('v%s: a create event of another room is refused', (v) => {
    const r = standardRoom(v);
    const other = new TestRoom(v);
    const ev = r.event(msg);
    const state = r.authStateFor(ev).map((e) => (e.type === 'm.room.create' ? other.create : e));
    expect(expectRule(checkAuth(ev, state, r.version))).toBe('auth_events.other_room');
  });

  it.each(V12.map((v) => [v]))('v%s: a create event of another room cannot authorise (room ID mismatch)', (v) => {
    const r = standardRoom(v);
    const other = new TestRoom(v);
    const ev = r.event(msg);
    const state = r.authStateFor(ev).map((e) => (e.type === 'm.room.create' ? other.create : e));
    expect(expectRule(checkAuth(ev, state, r.version))).toBe('room_id.not_create');
  });

  it.each(ALL.map((v) => [v]))('v%s: two different events for one (type, state_key) are refused', (v) => {
    const r = standardRoom(v);
    const oldMember = r.state.get(`m.room.member\u0000${CAROL}`)!;
    r.member(CAROL, 'join', CAROL, { displayname: 'again' });
    const ev = r.event(msg);
    expect(expectRule(checkAuth(ev, [...r.authStateFor(ev), oldMember], r.version))).toBe('auth_events.duplicate');
  });

  it.each(ALL.map((v) => [v]))('v%s: the same event given twice is harmless', (v) => {
    const r = standardRoom(v);
    const ev = r.event(msg);
    const state = r.authStateFor(ev);
    expect(checkAuth(ev, [...state, ...state], r.version)).toEqual({ allowed: true });
  });

  it.each(ALL.map((v) => [v]))('v%s: unrelated extra state and non-state events are ignored', (v) => {
    const r = standardRoom(v);
    const topic = r.put({ type: 'm.room.topic', sender: ALICE, state_key: '', content: { topic: 't' } });
    const message = r.event(msg);
    const ev = r.event(msg);
    expect(checkAuth(ev, [...r.authStateFor(ev), topic, message], r.version)).toEqual({ allowed: true });
  });

  it.each(ALL.map((v) => [v]))('v%s: the whole current state may be passed (state resolution style)', (v) => {
    const r = standardRoom(v);
    const ev = r.event({ type: 'm.room.member', sender: BOB, state_key: CAROL, content: { membership: 'leave' } });
    expect(checkAuth(ev, [...r.state.values()], r.version)).toEqual({ allowed: true });
  });
});
