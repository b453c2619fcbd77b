// core/events/auth-order: the auth events a PDU needs and the storing order of a batch of PDUs.
import { describe, expect, it } from 'vitest';
import { authIdsOf, authOrder, prevIdsOf } from '../../src/core/events/auth-order.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';

const v1 = requireRoomVersion('1');
const v11 = requireRoomVersion('11');
const v12 = requireRoomVersion('12');

function ev(eventId: string, auth: string[], depth: number, extra: JsonObject = {}): { eventId: string; pdu: JsonObject } {
  return { eventId, pdu: { type: 'm.room.member', state_key: '@a:x', room_id: '!r:x', auth_events: auth, prev_events: [], depth, ...extra } };
}

describe('authIdsOf / prevIdsOf', () => {
  it('reads [id, hashes] pairs in v1 rooms (bare strings tolerated) and bare IDs later', () => {
    const pdu: JsonObject = { auth_events: [['$a:x', { sha256: 'h' }], '$b:x', 7], prev_events: [['$p:x', {}]] };
    expect(authIdsOf(pdu, v1)).toEqual(['$a:x', '$b:x']);
    expect(prevIdsOf(pdu, v1)).toEqual(['$p:x']);
    expect(authIdsOf({ auth_events: ['$a', ['$b', {}], null] }, v11)).toEqual(['$a']);
    expect(authIdsOf({}, v11)).toEqual([]);
  });

  it('adds the create event named by a v12 room ID, once, and not for the create event itself', () => {
    expect(authIdsOf({ type: 'm.room.member', room_id: '!abc', auth_events: ['$p'] }, v12)).toEqual(['$p', '$abc']);
    expect(authIdsOf({ type: 'm.room.member', room_id: '!abc', auth_events: ['$abc'] }, v12)).toEqual(['$abc']);
    expect(authIdsOf({ type: 'm.room.create', state_key: '', auth_events: [] }, v12)).toEqual([]);
    // A server-name room ID names no create event; the writer's checks refuse it later.
    expect(authIdsOf({ type: 'm.room.member', room_id: '!abc:x', auth_events: [] }, v12)).toEqual([]);
    expect(authIdsOf({ type: 'm.room.member', room_id: '!abc', auth_events: [] }, v11)).toEqual([]);
  });
});

describe('authOrder', () => {
  it('puts each event after the auth events it lists among the batch, ties by depth', () => {
    const create = ev('$c', [], 1);
    const power = ev('$p', ['$c', '$m'], 3);
    const member = ev('$m', ['$c', '$outside'], 2);
    const other = ev('$o', [], 0);
    const order = authOrder([power, member, create, other], v11).map((e) => e.eventId);
    expect(order).toEqual(['$o', '$c', '$m', '$p']);
  });

  it('ignores self references and puts events on a cycle last, in input order', () => {
    const a = ev('$a', ['$b'], 1);
    const b = ev('$b', ['$a'], 1);
    const self = ev('$s', ['$s'], 5);
    expect(authOrder([a, b, self], v11).map((e) => e.eventId)).toEqual(['$s', '$a', '$b']);
  });

  it('orders by the implicit v12 create event too', () => {
    const create = { eventId: '$abc', pdu: { type: 'm.room.create', state_key: '', auth_events: [], depth: 1 } };
    const member = ev('$m', [], 0, { room_id: '!abc' });
    expect(authOrder([member, create], v12).map((e) => e.eventId)).toEqual(['$abc', '$m']);
  });
});
