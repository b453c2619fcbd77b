// Tests of requiredSignatureServers and the origin checks of the membership endpoints: a server
// must not speak for another server's users (forged leaves), and v1/v2 origins sign too.

import { describe, expect, it } from 'vitest';
import { checkMembershipFromOrigin, checkSenderOrigin, requiredSignatureServers } from '../../src/core/auth/origin.js';
import { ALICE, ALL_VERSIONS, BOB, CAROL, DAVE, expectRule, range, standardRoom } from './auth-helpers.js';

describe('requiredSignatureServers', () => {
  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: a message needs its sender\'s server (and in v1/v2 the event ID\'s)', (v) => {
    const r = standardRoom(v);
    const ev = r.event({ type: 'm.room.message', sender: CAROL, content: {}, event_id: '$m1:relay.example' });
    const want = r.version.eventIdFormat === 'v1' ? ['c.example', 'relay.example'] : ['c.example'];
    expect([...requiredSignatureServers(ev, r.version)].sort()).toEqual(want);
  });

  it.each(range(8).map((v) => [v]))('v%s: a restricted join also needs the authorising server', (v) => {
    const r = standardRoom(v);
    const ev = r.event({
      type: 'm.room.member',
      sender: DAVE,
      state_key: DAVE,
      content: { membership: 'join', join_authorised_via_users_server: BOB },
    });
    expect([...requiredSignatureServers(ev, r.version)].sort()).toEqual(['b.example', 'd.example']);
  });

  it.each(range(1, 7).map((v) => [v]))('v%s: the authoriser key is meaningless before v8', (v) => {
    const r = standardRoom(v);
    const ev = r.event({
      type: 'm.room.member',
      sender: DAVE,
      state_key: DAVE,
      content: { membership: 'join', join_authorised_via_users_server: BOB },
    });
    expect(requiredSignatureServers(ev, r.version).has('b.example')).toBe(false);
  });

  it.each(range(3).map((v) => [v]))('v%s: a third-party invite need not be signed by the sender\'s server', (v) => {
    const r = standardRoom(v);
    const ev = r.event({
      type: 'm.room.member',
      sender: CAROL,
      state_key: DAVE,
      content: { membership: 'invite', third_party_invite: { signed: { mxid: DAVE, token: 't' } } },
    });
    expect(requiredSignatureServers(ev, r.version).size).toBe(0);
  });
});

describe('membership endpoints: the origin must be the sender\'s server', () => {
  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: a forged leave for a user of another server', (v) => {
    const r = standardRoom(v);
    // evil.example asks us to accept a leave "by" carol (c.example): it passes the auth rules
    // (carol may leave), so only the origin check stands between it and the room.
    const forged = r.event({ type: 'm.room.member', sender: CAROL, state_key: CAROL, content: { membership: 'leave' } });
    expect(r.check(forged)).toEqual({ allowed: true });
    expect(expectRule(checkMembershipFromOrigin(forged, 'evil.example', 'leave'))).toBe('origin.sender_server');
    expect(checkMembershipFromOrigin(forged, 'c.example', 'leave')).toEqual({ allowed: true });
  });

  it.each(ALL_VERSIONS.map((v) => [v]))('v%s: a leave sent through send_leave about someone else (a kick)', (v) => {
    const r = standardRoom(v);
    const kick = r.event({ type: 'm.room.member', sender: BOB, state_key: CAROL, content: { membership: 'leave' } });
    expect(expectRule(checkMembershipFromOrigin(kick, 'b.example', 'leave'))).toBe('origin.state_key');
  });

  it('the wrong membership or type for the endpoint', () => {
    const r = standardRoom('10');
    const join = r.event({ type: 'm.room.member', sender: DAVE, state_key: DAVE, content: { membership: 'join' } });
    expect(expectRule(checkMembershipFromOrigin(join, 'd.example', 'leave'))).toBe('origin.membership');
    expect(checkMembershipFromOrigin(join, 'd.example', 'join')).toEqual({ allowed: true });
    const knock = r.event({ type: 'm.room.member', sender: DAVE, state_key: DAVE, content: { membership: 'knock' } });
    expect(checkMembershipFromOrigin(knock, 'd.example', 'knock')).toEqual({ allowed: true });
    const topic = r.event({ type: 'm.room.topic', sender: DAVE, state_key: '', content: {} });
    expect(expectRule(checkMembershipFromOrigin(topic, 'd.example', 'join'))).toBe('origin.not_member');
  });

  it('checkSenderOrigin compares the whole server name, port included', () => {
    const r = standardRoom('10');
    const ev = r.event({ type: 'm.room.message', sender: '@x:host.example:8448', content: {} });
    expect(checkSenderOrigin(ev, 'host.example:8448')).toEqual({ allowed: true });
    expect(expectRule(checkSenderOrigin(ev, 'host.example'))).toBe('origin.sender_server');
    expect(expectRule(checkSenderOrigin(r.event({ type: 'm.room.message', sender: ALICE, content: {} }), 'b.example'))).toBe(
      'origin.sender_server',
    );
  });
});
