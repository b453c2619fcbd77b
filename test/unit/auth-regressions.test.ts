// Scenarios from bugs other homeservers shipped: borrowed powers from another room or from a
// superseded power levels event (Synapse CVE-2022-31152, Dendrite GHSA-pfw4-xjgm-267c), creators
// demoted or the create event replaced (the "Hydra" issues room version 12 closes), equal-level
// demotions, and restricted joins vouched for by someone who cannot invite.

import { describe, expect, it } from 'vitest';
import { toRoomEvent, type RoomEvent } from '../../src/core/events/event.js';
import { checkAuth, checkAuthEventsList } from '../../src/core/auth/rules.js';
import { ALICE, ALL_VERSIONS, BOB, CAROL, DAVE, TestRoom, expectRule, range, standardRoom } from './auth-helpers.js';

const msg = (sender: string) => ({ type: 'm.room.message', sender, content: { body: 'x' } });

function receipt(r: TestRoom, ev: RoomEvent, pool: Map<string, RoomEvent>): string {
  const listed = ev.authEventIds.map((id) => pool.get(id)).filter((e): e is RoomEvent => e !== undefined);
  const supplied = r.version.roomIdFromCreateEvent && !listed.includes(r.create) ? [r.create, ...listed] : listed;
  const l = checkAuthEventsList(ev, supplied, r.version);
  return l.allowed ? expectRule(checkAuth(ev, supplied, r.version)) : l.rule;
}

describe('borrowed power', () => {
  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: a demoted moderator cites both the old and the new power levels', (v) => {
    const r = standardRoom(v);
    const oldPl = r.state.get('m.room.power_levels\u0000')!;
    r.powerLevels({ ...oldPl.content, users: { ...(oldPl.content.users as object), [BOB]: 0 } });
    const kick = { type: 'm.room.member', sender: BOB, state_key: CAROL, content: { membership: 'leave' } };
    const honest = r.event(kick);
    expect(receipt(r, honest, r.all)).toBe('member.leave.kick_power');
    const sneaky = r.event({ ...kick, auth_events: [...honest.authEventIds, oldPl.eventId] });
    expect(receipt(r, sneaky, r.all)).toBe('auth_events.duplicate');
    // Citing only the old one is a valid-looking auth chain: it passes at its auth events and
    // must then fail against the current state (soft failure), which the pipeline checks too.
    const stale = r.event({ ...kick, auth_events: honest.authEventIds.map((id) => (id === r.state.get('m.room.power_levels\u0000')!.eventId ? oldPl.eventId : id)) });
    expect(receipt(r, stale, r.all)).toBe('allow');
    expect(expectRule(r.check(stale))).toBe('member.leave.kick_power');
  });

  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: an admin of another room cites that room\'s power levels and membership', (v) => {
    const r = standardRoom(v);
    const theirs = new TestRoom(v, { creator: DAVE });
    theirs.member(DAVE, 'join');
    theirs.powerLevels({ users: theirs.version.creatorsHaveInfinitePower ? {} : { [DAVE]: 100 } });
    const pool = new Map([...r.all, ...theirs.all]);
    const ban = { type: 'm.room.member', sender: DAVE, state_key: ALICE, content: { membership: 'ban' } };
    const ids = [
      ...(r.version.roomIdFromCreateEvent ? [] : [r.create.eventId]),
      theirs.state.get('m.room.power_levels\u0000')!.eventId,
      theirs.state.get(`m.room.member\u0000${DAVE}`)!.eventId,
      r.state.get(`m.room.member\u0000${ALICE}`)!.eventId,
    ];
    expect(receipt(r, r.event({ ...ban, auth_events: ids }), pool)).toBe('auth_events.other_room');
  });
});

describe('equal power', () => {
  it.each(range(1, 11).map((v) => [v]))('v%s: one of two level-100 admins cannot demote or kick the other', (v) => {
    const r = standardRoom(v, 'invite', { users: { [ALICE]: 100, [BOB]: 100 } });
    const pl = r.state.get('m.room.power_levels\u0000')!;
    const demote = r.event({ type: 'm.room.power_levels', sender: BOB, state_key: '', content: { ...pl.content, users: { [ALICE]: 0, [BOB]: 100 } } });
    expect(expectRule(r.check(demote))).toBe('power_levels.users');
    expect(expectRule(r.check(r.event({ type: 'm.room.member', sender: BOB, state_key: ALICE, content: { membership: 'ban' } })))).toBe('member.ban.power');
  });

  it('v12: an admin at 100 cannot demote, kick or ban the creator, nor list them', () => {
    const r = standardRoom('12', 'invite', { users: { [BOB]: 100 } });
    const pl = r.state.get('m.room.power_levels\u0000')!;
    const demote = r.event({ type: 'm.room.power_levels', sender: BOB, state_key: '', content: { ...pl.content, users: { [ALICE]: 0, [BOB]: 100 } } });
    expect(expectRule(r.check(demote))).toBe('power_levels.creator_in_users');
    expect(expectRule(r.check(r.event({ type: 'm.room.member', sender: BOB, state_key: ALICE, content: { membership: 'leave' } })))).toBe('member.leave.kick_power');
    expect(expectRule(r.check(r.event({ type: 'm.room.member', sender: BOB, state_key: ALICE, content: { membership: 'ban' } })))).toBe('member.ban.power');
    // ... while the creator can do all of that to the admin.
    const creatorDemotes = r.event({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { ...pl.content, users: { [BOB]: 0 } } });
    expect(r.check(creatorDemotes)).toEqual({ allowed: true });
  });
});

describe('replacing the create event', () => {
  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: a second create event in the room (with prev_events) is rejected', (v) => {
    const r = standardRoom(v);
    const json = { ...r.create.json, content: { ...r.create.content, creator: CAROL }, sender: CAROL, prev_events: [r.create.eventId] };
    const second = toRoomEvent(json, '$second:c.example', r.version);
    expect(expectRule(checkAuth(second, [], r.version))).toBe('create.prev_events');
  });

  it('v12: a forged create event names a different room, so events citing it are not in this room', () => {
    const r = standardRoom('12');
    const forged = toRoomEvent(
      { type: 'm.room.create', state_key: '', sender: DAVE, content: { room_version: '12' }, prev_events: [], auth_events: [] },
      '$ForgedCreateHash',
      r.version,
    );
    expect(checkAuth(forged, [], r.version)).toEqual({ allowed: true });
    expect(forged.roomId).not.toBe(r.roomId);
    const ev = r.event(msg(CAROL));
    const state = r.authStateFor(ev).map((e) => (e.type === 'm.room.create' ? forged : e));
    expect(expectRule(checkAuth(ev, state, r.version))).toBe('room_id.not_create');
  });
});

describe('restricted joins', () => {
  it.each(range(8).map((v) => [v]))('v%s: a joined user below the invite level cannot vouch', (v) => {
    const r = standardRoom(v, 'restricted', { invite: 10 });
    const join = r.event({
      type: 'm.room.member',
      sender: DAVE,
      state_key: DAVE,
      content: { membership: 'join', join_authorised_via_users_server: CAROL },
      extra: { signatures: { 'd.example': { 'ed25519:1': 's' }, 'c.example': { 'ed25519:1': 's' } } },
    });
    expect(expectRule(r.check(join))).toBe('member.join.authoriser_power');
    // Once promoted, the same vouching works.
    const pl = r.state.get('m.room.power_levels\u0000')!;
    r.powerLevels({ ...pl.content, users: { ...(pl.content.users as object), [CAROL]: 10 } });
    expect(r.check(join)).toEqual({ allowed: true });
  });
});
