// Tests of authTypesForEvent (server-server-api "Auth events selection") per room version.

import { describe, expect, it } from 'vitest';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { ALICE, ALL_VERSIONS, BOB, range } from './auth-helpers.js';

type Pair = [string, string];
const CREATE: Pair = ['m.room.create', ''];
const PL: Pair = ['m.room.power_levels', ''];
const JR: Pair = ['m.room.join_rules', ''];
const mem = (u: string): Pair => ['m.room.member', u];

interface Row {
  name: string;
  versions: readonly string[];
  type: string;
  stateKey?: string;
  sender?: string;
  content?: JsonObject;
  /** Expected pairs, without the create event (added per version below). */
  expect: Pair[];
  noCreate?: boolean;
}

const rows: Row[] = [
  { name: 'create event selects nothing', versions: ALL_VERSIONS, type: 'm.room.create', stateKey: '', expect: [], noCreate: true },
  { name: 'message', versions: ALL_VERSIONS, type: 'm.room.message', expect: [PL, mem(ALICE)] },
  { name: 'state event', versions: ALL_VERSIONS, type: 'm.room.topic', stateKey: '', expect: [PL, mem(ALICE)] },
  { name: 'own join', versions: ALL_VERSIONS, type: 'm.room.member', stateKey: ALICE, content: { membership: 'join' }, expect: [PL, mem(ALICE), JR] },
  { name: 'invite', versions: ALL_VERSIONS, type: 'm.room.member', stateKey: BOB, content: { membership: 'invite' }, expect: [PL, mem(ALICE), JR, mem(BOB)] },
  { name: 'knock', versions: ALL_VERSIONS, type: 'm.room.member', sender: BOB, stateKey: BOB, content: { membership: 'knock' }, expect: [PL, mem(BOB), JR] },
  { name: 'kick (no join rules)', versions: ALL_VERSIONS, type: 'm.room.member', stateKey: BOB, content: { membership: 'leave' }, expect: [PL, mem(ALICE), mem(BOB)] },
  { name: 'ban (no join rules)', versions: ALL_VERSIONS, type: 'm.room.member', stateKey: BOB, content: { membership: 'ban' }, expect: [PL, mem(ALICE), mem(BOB)] },
  { name: 'member without membership', versions: ALL_VERSIONS, type: 'm.room.member', stateKey: BOB, content: {}, expect: [PL, mem(ALICE), mem(BOB)] },
  {
    name: 'third-party invite adds the token\'s invite event',
    versions: ALL_VERSIONS,
    type: 'm.room.member',
    stateKey: BOB,
    content: { membership: 'invite', third_party_invite: { signed: { token: 'abc', mxid: BOB } } },
    expect: [PL, mem(ALICE), JR, mem(BOB), ['m.room.third_party_invite', 'abc']],
  },
  {
    name: 'third-party invite without a string token adds nothing',
    versions: ALL_VERSIONS,
    type: 'm.room.member',
    stateKey: BOB,
    content: { membership: 'invite', third_party_invite: { signed: { token: 5 } } },
    expect: [PL, mem(ALICE), JR, mem(BOB)],
  },
  {
    name: 'restricted join adds the authoriser (v8+)',
    versions: range(8),
    type: 'm.room.member',
    sender: BOB,
    stateKey: BOB,
    content: { membership: 'join', join_authorised_via_users_server: '@mod:a.example' },
    expect: [PL, mem(BOB), JR, mem('@mod:a.example')],
  },
  {
    name: 'restricted join key ignored before v8',
    versions: range(1, 7),
    type: 'm.room.member',
    sender: BOB,
    stateKey: BOB,
    content: { membership: 'join', join_authorised_via_users_server: '@mod:a.example' },
    expect: [PL, mem(BOB), JR],
  },
  {
    name: 'authoriser key on a non-join is ignored',
    versions: range(8),
    type: 'm.room.member',
    stateKey: BOB,
    content: { membership: 'invite', join_authorised_via_users_server: '@mod:a.example' },
    expect: [PL, mem(ALICE), JR, mem(BOB)],
  },
  {
    name: 'the authoriser being the sender is selected once',
    versions: range(8),
    type: 'm.room.member',
    sender: BOB,
    stateKey: BOB,
    content: { membership: 'join', join_authorised_via_users_server: BOB },
    expect: [PL, mem(BOB), JR],
  },
];

const cases = rows.flatMap((row) => row.versions.map((v) => ({ ...row, v, label: `v${v}: ${row.name}` })));

describe('authTypesForEvent', () => {
  it.each(cases)('$label', (row) => {
    const version = requireRoomVersion(row.v);
    const got = authTypesForEvent(row.type, row.stateKey, row.sender ?? ALICE, row.content ?? {}, version);
    const want: Pair[] = row.noCreate || version.roomIdFromCreateEvent ? row.expect : [CREATE, ...row.expect];
    expect(new Set(got.map((p) => p.join('|')))).toEqual(new Set(want.map((p) => p.join('|'))));
    expect(got.length).toBe(want.length);
  });

  it('v12 never selects the create event', () => {
    const got = authTypesForEvent('m.room.message', undefined, ALICE, {}, requireRoomVersion('12'));
    expect(got.some(([t]) => t === 'm.room.create')).toBe(false);
  });
});
