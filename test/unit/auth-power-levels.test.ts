// Tests of the power-level helpers state resolution shares with the auth rules: value parsing per
// room version, a user's level (v12 creators: Infinity), required levels, power events, creators.

import { describe, expect, it } from 'vitest';
import { toRoomEvent, type RoomEvent } from '../../src/core/events/event.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import {
  eventPowerLevelRequired,
  isPowerEvent,
  namedPowerLevel,
  parsePowerLevelValue,
  parsePowerLevelsContent,
  roomCreators,
  userPowerLevel,
} from '../../src/core/auth/power-levels.js';
import { ALICE, ALL_VERSIONS, BOB, CAROL, DAVE, TestRoom, range } from './auth-helpers.js';

const v = requireRoomVersion;

describe('parsePowerLevelValue', () => {
  const table: Array<[JsonValue, string[], number | undefined]> = [
    [50, [...ALL_VERSIONS], 50],
    [-10, [...ALL_VERSIONS], -10],
    [0, [...ALL_VERSIONS], 0],
    ['50', range(1, 9), 50],
    ['50', range(10), undefined],
    ['000100', range(1, 9), 100],
    ['+100', range(1, 9), 100],
    ['-100', range(1, 9), -100],
    [' 100 ', range(1, 9), 100],
    [' +00100\t', range(1, 9), 100],
    ['1.5', range(1, 9), undefined],
    ['5e1', range(1, 9), undefined],
    ['0x10', range(1, 9), undefined],
    ['', range(1, 9), undefined],
    ['+-1', range(1, 9), undefined],
    ['1 0', range(1, 9), undefined],
    [50.57, range(1, 5), 50],
    [-50.57, range(1, 5), -50],
    [5.114698e4, range(1, 5), 51146],
    [50.57, range(6), undefined],
    [2 ** 60, range(1, 5), 2 ** 60],
    [2 ** 60, range(6), undefined],
    [true, [...ALL_VERSIONS], undefined],
    [null, [...ALL_VERSIONS], undefined],
    [{}, [...ALL_VERSIONS], undefined],
    [[50], [...ALL_VERSIONS], undefined],
  ];
  const cases = table.flatMap(([value, versions, out]) => versions.map((ver) => ({ value, ver, out })));
  it.each(cases)('v$ver: $value -> $out', ({ value, ver, out }) => {
    expect(parsePowerLevelValue(value, v(ver))).toBe(out);
  });

  it('normalises -0 to 0', () => {
    expect(Object.is(parsePowerLevelValue('-0', v('1')), 0)).toBe(true);
    expect(Object.is(parsePowerLevelValue(-0, v('10')), 0)).toBe(true);
  });
});

describe('parsePowerLevelsContent', () => {
  it('reads every field (v9 stringy)', () => {
    const p = parsePowerLevelsContent(
      { ban: '50', events: { 'm.room.power_levels': '100' }, events_default: '0', state_default: '50', users: { [ALICE]: '100' }, users_default: '0', notifications: { room: '20' } },
      v('9'),
    );
    expect(p).not.toBeNull();
    expect(p!.ban).toBe(50);
    expect(p!.events.get('m.room.power_levels')).toBe(100);
    expect(p!.users.get(ALICE)).toBe(100);
    expect(p!.notifications.get('room')).toBe(20);
    expect(p!.kick).toBeUndefined();
    expect(p!.redact).toBeUndefined();
  });

  it('the v1 floaty example: alice and bob both end up at 50', () => {
    const p = parsePowerLevelsContent({ users: { '@alice:localhost': 50, '@bob:localhost': 50.57 } }, v('1'))!;
    expect(p.users.get('@alice:localhost')).toBe(50);
    expect(p.users.get('@bob:localhost')).toBe(50);
  });

  it.each([
    ['10', { ban: '50' }],
    ['10', { users: { [ALICE]: '1' } }],
    ['10', { events: { x: '1' } }],
    ['10', { notifications: { room: '1' } }],
    ['9', { ban: 'abc' }],
    ['9', { users: 'x' }],
    ['9', { events: [] }],
    ['9', { notifications: { room: 'x' } }],
    ['6', { kick: 1.5 }],
  ])('v%s strict parse refuses %j', (ver, content) => {
    expect(parsePowerLevelsContent(content as JsonObject, v(ver))).toBeNull();
  });

  it('notifications are not judged before v6', () => {
    expect(parsePowerLevelsContent({ notifications: { room: 'x' } }, v('5'))).not.toBeNull();
  });

  it('caches per content and version without mixing versions', () => {
    const content: JsonObject = { ban: '50' };
    expect(parsePowerLevelsContent(content, v('9'))!.ban).toBe(50);
    expect(parsePowerLevelsContent(content, v('10'))).toBeNull();
    expect(parsePowerLevelsContent(content, v('9'))).toBe(parsePowerLevelsContent(content, v('9')));
  });
});

function plEvent(r: TestRoom, content: JsonObject): RoomEvent {
  return r.event({ type: 'm.room.power_levels', state_key: '', content });
}

describe('userPowerLevel', () => {
  it.each(range(1, 11).map((x) => [x]))('v%s: without power levels the creator has 100, others 0', (ver) => {
    const r = new TestRoom(ver);
    expect(userPowerLevel(ALICE, undefined, r.create, r.version)).toBe(100);
    expect(userPowerLevel(BOB, undefined, r.create, r.version)).toBe(0);
  });

  it('v12: creators are infinite with or without power levels; others default', () => {
    const r = new TestRoom('12', { createContent: { additional_creators: [BOB] } });
    expect(userPowerLevel(ALICE, undefined, r.create, r.version)).toBe(Infinity);
    expect(userPowerLevel(BOB, undefined, r.create, r.version)).toBe(Infinity);
    expect(userPowerLevel(CAROL, undefined, r.create, r.version)).toBe(0);
    const p = plEvent(r, { users: { [CAROL]: 75, [ALICE]: 1 }, users_default: 5 });
    expect(userPowerLevel(ALICE, p, r.create, r.version)).toBe(Infinity);
    expect(userPowerLevel(CAROL, p, r.create, r.version)).toBe(75);
    expect(userPowerLevel(DAVE, p, r.create, r.version)).toBe(5);
  });

  it('v11 ignores additional_creators; v1-v10 use content.creator, not the sender', () => {
    const r11 = new TestRoom('11', { createContent: { additional_creators: [BOB], creator: CAROL } });
    expect(userPowerLevel(ALICE, undefined, r11.create, r11.version)).toBe(100);
    expect(userPowerLevel(BOB, undefined, r11.create, r11.version)).toBe(0);
    expect(userPowerLevel(CAROL, undefined, r11.create, r11.version)).toBe(0);
    const r10 = new TestRoom('10', { createContent: { creator: CAROL } });
    expect(userPowerLevel(CAROL, undefined, r10.create, r10.version)).toBe(100);
    expect(userPowerLevel(ALICE, undefined, r10.create, r10.version)).toBe(0);
  });

  it.each(range(1, 11).map((x) => [x]))('v%s: with power levels the creator has no special level', (ver) => {
    const r = new TestRoom(ver);
    const p = plEvent(r, { users: { [BOB]: 50 } });
    expect(userPowerLevel(ALICE, p, r.create, r.version)).toBe(0);
    expect(userPowerLevel(BOB, p, r.create, r.version)).toBe(50);
  });

  it('reads stringy levels in v1-v9 and ignores them from v10 (lenient look-up)', () => {
    const r9 = new TestRoom('9');
    expect(userPowerLevel(BOB, plEvent(r9, { users: { [BOB]: '60' }, users_default: '7' }), r9.create, r9.version)).toBe(60);
    const r10 = new TestRoom('10');
    const p10 = plEvent(r10, { users: { [BOB]: '60' }, users_default: 7 });
    expect(userPowerLevel(BOB, p10, r10.create, r10.version)).toBe(7);
  });

  it('a malformed users_default in the state falls back to 0', () => {
    const r = new TestRoom('9');
    expect(userPowerLevel(BOB, plEvent(r, { users_default: 'lots' }), r.create, r.version)).toBe(0);
  });

  it('a users key like "__proto__" or "constructor" is a plain entry', () => {
    const r = new TestRoom('10');
    const content = JSON.parse('{"users":{"__proto__":5}}') as JsonObject;
    const p = plEvent(r, content);
    expect(userPowerLevel('__proto__', p, r.create, r.version)).toBe(5);
    expect(userPowerLevel('constructor', p, r.create, r.version)).toBe(0);
  });
});

describe('eventPowerLevelRequired and namedPowerLevel', () => {
  const r = new TestRoom('10');
  it('defaults without power levels: state 50, events 0, invite 0, kick/ban/redact 50', () => {
    expect(eventPowerLevelRequired('m.room.topic', true, undefined, r.version)).toBe(50);
    expect(eventPowerLevelRequired('m.room.message', false, undefined, r.version)).toBe(0);
    expect(namedPowerLevel('invite', undefined, r.version)).toBe(0);
    expect(namedPowerLevel('kick', undefined, r.version)).toBe(50);
    expect(namedPowerLevel('ban', undefined, r.version)).toBe(50);
    expect(namedPowerLevel('redact', undefined, r.version)).toBe(50);
  });
  it('explicit events entry, then state_default / events_default', () => {
    const p = plEvent(r, { events: { 'm.room.topic': 10, 'm.custom': 70 }, state_default: 40, events_default: 5, invite: 3, kick: 4 });
    expect(eventPowerLevelRequired('m.room.topic', true, p, r.version)).toBe(10);
    expect(eventPowerLevelRequired('m.custom', false, p, r.version)).toBe(70);
    expect(eventPowerLevelRequired('m.room.name', true, p, r.version)).toBe(40);
    expect(eventPowerLevelRequired('m.room.message', false, p, r.version)).toBe(5);
    expect(namedPowerLevel('invite', p, r.version)).toBe(3);
    expect(namedPowerLevel('kick', p, r.version)).toBe(4);
    expect(namedPowerLevel('ban', p, r.version)).toBe(50);
  });
  it('state_default is 50 when a power levels event omits it', () => {
    expect(eventPowerLevelRequired('m.room.name', true, plEvent(r, {}), r.version)).toBe(50);
  });
});

describe('isPowerEvent', () => {
  const r = new TestRoom('10');
  const table: Array<[string, Parameters<TestRoom['event']>[0], boolean]> = [
    ['power levels', { type: 'm.room.power_levels', state_key: '', content: {} }, true],
    ['join rules', { type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } }, true],
    ['create', { type: 'm.room.create', state_key: '', content: {} }, true],
    ['power levels with a non-empty state_key', { type: 'm.room.power_levels', state_key: 'x', content: {} }, false],
    ['kick', { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership: 'leave' } }, true],
    ['ban', { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership: 'ban' } }, true],
    ['own leave', { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'leave' } }, false],
    ['self-ban', { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'ban' } }, false],
    ['invite', { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership: 'invite' } }, false],
    ['join', { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } }, false],
    ['topic', { type: 'm.room.topic', state_key: '', content: {} }, false],
    ['non-state power levels type', { type: 'm.room.power_levels', content: {} }, false],
  ];
  it.each(table)('%s -> %s', (_name, spec, out) => {
    expect(isPowerEvent(r.event(spec))).toBe(out);
  });
});

describe('roomCreators', () => {
  it('v1-v10: content.creator', () => {
    const r = new TestRoom('10', { createContent: { creator: CAROL, additional_creators: [BOB] } });
    expect([...roomCreators(r.create, r.version)]).toEqual([CAROL]);
  });
  it('v11: the sender only', () => {
    const r = new TestRoom('11', { createContent: { creator: CAROL, additional_creators: [BOB] } });
    expect([...roomCreators(r.create, r.version)]).toEqual([ALICE]);
  });
  it('v12: the sender and additional_creators', () => {
    const r = new TestRoom('12', { createContent: { additional_creators: [BOB, CAROL] } });
    expect([...roomCreators(r.create, r.version)].sort()).toEqual([ALICE, BOB, CAROL].sort());
  });
  it('v12 toRoomEvent derives the room ID from the create event ID', () => {
    const ver = v('12');
    const create = toRoomEvent({ type: 'm.room.create', state_key: '', sender: ALICE, content: {} }, '$abc_DEF-1', ver);
    expect(create.roomId).toBe('!abc_DEF-1');
  });
});
