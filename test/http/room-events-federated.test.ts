// The relations index with events from another server (through rooms.acceptEvent, as the federation
// layer will call it): a redaction that arrives before its target, and a redaction that does not
// apply (another server's user below the redact level).
import { describe, expect, it } from 'vitest';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { stateTuple } from '../../src/core/events/event.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { enc, publicRoom, roomEventsHarness, V1, V3, type RoomEventsHarness } from './room-events-helpers.js';

const REMOTE = 'remote.test';
const REM = `@rem:${REMOTE}`;
const remoteKey = signingKeyFromSeed('r_1', Buffer.alloc(32, 7));
const v10 = requireRoomVersion('10');
let ts = 1_700_000_500_000;

/** A PDU built and signed as the remote server would, on the state after `prev[0]`. */
async function remotePdu(h: RoomEventsHarness, roomId: string, spec: { type: string; stateKey?: string; content: JsonObject; prev: string[]; redacts?: string }) {
  const state = (await h.store.getStateIdsAfter(spec.prev[0]!))!;
  const auth: string[] = [];
  for (const [t, k] of authTypesForEvent(spec.type, spec.stateKey, REM, spec.content, v10)) {
    const id = state.get(stateTuple(t, k));
    if (id) auth.push(id);
  }
  let depth = 0;
  for (const p of spec.prev) depth = Math.max(depth, (await h.store.getEvent(p))?.depth ?? 0);
  const pdu: JsonObject = {
    type: spec.type,
    room_id: roomId,
    sender: REM,
    content: spec.content,
    depth: depth + 1,
    origin_server_ts: ts++,
    prev_events: spec.prev,
    auth_events: auth,
  };
  if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
  if (spec.redacts !== undefined) pdu.redacts = spec.redacts;
  const signed = hashAndSignEvent(pdu, REMOTE, remoteKey, v10);
  return { pdu: signed, eventId: computeEventId(signed, v10) };
}

async function lastEventId(h: RoomEventsHarness, roomId: string): Promise<string> {
  return (await h.store.getForwardExtremities(roomId))[0]!;
}

describe('relations with events from other servers', () => {
  it('a redaction received before its target: the target is stored redacted and never indexed', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann, [], { room_version: '10' });
    const target = await h.sendOk(ann, roomId, { msgtype: 'm.text', body: 'hi' });
    const join = await remotePdu(h, roomId, { type: 'm.room.member', stateKey: REM, content: { membership: 'join' }, prev: [await lastEventId(h, roomId)] });
    expect((await h.rooms.acceptEvent(join.pdu, '10')).status).toBe('accepted');
    const reaction = await remotePdu(h, roomId, {
      type: 'm.reaction',
      content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key: '👍' } },
      prev: [join.eventId],
    });
    const redaction = await remotePdu(h, roomId, { type: 'm.room.redaction', content: {}, prev: [join.eventId], redacts: reaction.eventId });
    expect((await h.rooms.acceptEvent(redaction.pdu, '10')).status).toBe('accepted');
    expect((await h.rooms.acceptEvent(reaction.pdu, '10')).status).toBe('accepted');
    const rels = await h.get(ann, `${V1}/rooms/${enc(roomId)}/relations/${enc(target)}`);
    expect(rels.body.chunk).toEqual([]);
    const served = await h.get(ann, `${V3}/rooms/${enc(roomId)}/event/${enc(reaction.eventId)}`);
    expect(served.body.content).toEqual({});
    // ann may react the same way: the redacted reaction does not count.
    expect((await h.send(ann, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key: '👍' } }, { type: 'm.reaction' })).status).toBe(200);
  });

  it('a redaction by another server\'s user below the redact level does not apply: the relation stays', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann, [], { room_version: '10' });
    const target = await h.sendOk(ann, roomId, { msgtype: 'm.text', body: 'hi' });
    const like = await h.sendOk(ann, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key: '👍' } }, 'm.reaction');
    const join = await remotePdu(h, roomId, { type: 'm.room.member', stateKey: REM, content: { membership: 'join' }, prev: [await lastEventId(h, roomId)] });
    expect((await h.rooms.acceptEvent(join.pdu, '10')).status).toBe('accepted');
    const redaction = await remotePdu(h, roomId, { type: 'm.room.redaction', content: {}, prev: [join.eventId], redacts: like });
    // v3+ auth rules accept it; it is only not applied.
    expect((await h.rooms.acceptEvent(redaction.pdu, '10')).status).toBe('accepted');
    const rels = await h.get(ann, `${V1}/rooms/${enc(roomId)}/relations/${enc(target)}`);
    expect(rels.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([like]);
    const served = await h.get(ann, `${V3}/rooms/${enc(roomId)}/event/${enc(like)}`);
    expect((served.body.content as JsonObject)['m.relates_to']).toBeDefined();
    const dup = await h.send(ann, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key: '👍' } }, { type: 'm.reaction' });
    expect(dup.body.errcode).toBe('M_DUPLICATE_ANNOTATION');
  });
});
