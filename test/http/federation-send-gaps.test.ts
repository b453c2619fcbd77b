// Filling gaps before a received event, between two whole instances on the fake network: missing prev
// events (/get_missing_events), a gap too large for it (state at the missing prev from /state_ids,
// unknown events from /event, resolved), missing auth events (/event_auth); fetched events get the
// same checks as pushed ones; a budget bounds the work.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import type { InboundLimits } from '../../src/federation/inbound/index.js';
import { instance, Network, remotePdu, replicateRoom, sendTxn, type Instance } from './federation-inbound-harness.js';
import type { Session } from './users-harness.js';

const A = 'a.test';
const B = 'b.test';
const BOB = `@bob:${B}`;

interface Pair {
  net: Network;
  a: Instance;
  b: Instance;
  alice: Session;
  roomId: string;
}

/** alice's room on A, joined by bob of B (over /send); B holds the same DAG. */
async function pair(limits: Partial<InboundLimits> = {}): Promise<Pair> {
  const net = new Network();
  const a = await instance(net, A, { limits });
  const b = await instance(net, B);
  const alice = await a.register('alice');
  const roomId = await a.createRoom(alice, { preset: 'public_chat', room_version: '10' });
  const join = await remotePdu(a, roomId, { sender: BOB, type: 'm.room.member', stateKey: BOB, content: { membership: 'join' } }, { serverName: B, key: b.key });
  expect((await sendTxn(a, { serverName: B, key: b.key }, [join.pdu])).body.pdus[join.eventId]).toEqual({});
  await replicateRoom(a, b, roomId);
  return { net, a, b, alice, roomId };
}

/** bob sends on B (B builds and signs the event on its own state). */
async function bobSends(p: Pair, body: string): Promise<{ eventId: string; pdu: JsonObject }> {
  const r = await p.b.rooms.sendLocalEvent(p.roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body }, sender: BOB });
  return { eventId: r.eventId, pdu: r.pdu };
}

function push(p: Pair, pdus: JsonObject[]) {
  return sendTxn(p.a, { serverName: B, key: p.b.key }, pdus);
}

function requests(p: Pair, what: string): string[] {
  return p.net.log.filter((l) => l.startsWith(`${A} `) && l.includes(what));
}

describe('PUT /send: missing prev events', () => {
  it('a small gap is filled with /get_missing_events, oldest first, and the events reach /messages', async () => {
    const p = await pair();
    const m1 = await bobSends(p, 'one');
    const m2 = await bobSends(p, 'two');
    const m3 = await bobSends(p, 'three');
    const r = await push(p, [m3.pdu]);
    expect(r.body.pdus).toEqual({ [m3.eventId]: {} });
    expect(requests(p, '/get_missing_events/')).toHaveLength(1);
    for (const m of [m1, m2, m3]) {
      const e = await p.a.store.getEvent(m.eventId);
      expect(e?.outlier).toBe(false);
      expect(e?.rejectedReason).toBeNull();
    }
    const msgs = await p.a.messages(p.alice, p.roomId, { limit: '3' });
    expect(msgs.chunk.map((e: any) => e.content.body)).toEqual(['three', 'two', 'one']);
    expect(await p.a.store.getForwardExtremities(p.roomId)).toEqual([m3.eventId]);
  });

  it('a gap larger than get_missing_events covers: the state at the missing prev event comes from /state_ids', async () => {
    const p = await pair({ missingEventsLimit: 2 });
    await bobSends(p, 'one');
    const rename = await p.b.rooms.sendLocalEvent(p.roomId, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join', displayname: 'Bobby' }, sender: BOB });
    const m2 = await bobSends(p, 'two');
    const m3 = await bobSends(p, 'three');
    const m4 = await bobSends(p, 'four');
    const m5 = await bobSends(p, 'five');
    const r = await push(p, [m5.pdu]);
    expect(r.body.pdus).toEqual({ [m5.eventId]: {} });
    expect(requests(p, '/state_ids/')).toHaveLength(1);
    // m3 and m4 came with get_missing_events; m3's prev (m2) and the rename only as outliers, for the state.
    for (const m of [m3, m4, m5]) expect((await p.a.store.getEvent(m.eventId))?.outlier).toBe(false);
    expect((await p.a.store.getEvent(m2.eventId))?.outlier).toBe(true);
    expect((await p.a.store.getEvent(rename.eventId))?.outlier).toBe(true);
    const member = await p.a.store.getCurrentStateEvent(p.roomId, 'm.room.member', BOB);
    expect(member?.eventId).toBe(rename.eventId);
    expect(member?.event.content.displayname).toBe('Bobby');
    // The same current state as B's.
    expect(await p.a.store.getCurrentStateIds(p.roomId)).toEqual(await p.b.store.getCurrentStateIds(p.roomId));
  });

  it('events fetched to fill a gap get the same checks: a bad content hash is stored redacted', async () => {
    const p = await pair();
    const m1 = await bobSends(p, 'secret one');
    const m2 = await bobSends(p, 'two');
    // B serves a tampered copy of m1 (its content changed after signing).
    const stored = JSON.parse((await p.b.store.getEventJson(m1.eventId))!) as JsonObject;
    stored.content = { msgtype: 'm.text', body: 'tampered' };
    const nid = p.b.store.core.ids.findEventNid(m1.eventId)!;
    p.b.db.prepare('UPDATE events SET json = ? WHERE event_nid = ?').run(JSON.stringify(stored), nid);
    const r = await push(p, [m2.pdu]);
    expect(r.body.pdus[m2.eventId]).toEqual({});
    const got = await p.a.store.getEvent(m1.eventId);
    expect(got?.outlier).toBe(false);
    expect(got?.event.content).toEqual({});
  });

  it('a fetched event with a bad signature is not stored; the pushed event then needs the state route', async () => {
    const p = await pair();
    const m1 = await bobSends(p, 'one');
    const m2 = await bobSends(p, 'two');
    const stored = JSON.parse((await p.b.store.getEventJson(m1.eventId))!) as JsonObject;
    // Changing a field the signature covers (origin_server_ts) breaks the signature, and with it the event ID.
    const nid = p.b.store.core.ids.findEventNid(m1.eventId)!;
    p.b.db.prepare('UPDATE events SET json = ? WHERE event_nid = ?').run(JSON.stringify({ ...stored, origin_server_ts: 1 }), nid);
    const r = await push(p, [m2.pdu]);
    // get_missing_events gave a bad copy (another event ID); /event/{m1} too: m2 cannot get its state.
    expect(await p.a.store.getEvent(m1.eventId)).toBeUndefined();
    expect(r.body.pdus[m2.eventId].error).toBeDefined();
    expect(await p.a.store.getEvent(m2.eventId)).toBeUndefined();
  });

  it('the budget bounds what one pushed event may fetch', async () => {
    const p = await pair({ missingEventsLimit: 2, maxFetchedEvents: 2 });
    for (let i = 0; i < 6; i++) await bobSends(p, `m${i}`);
    const last = await bobSends(p, 'last');
    const r = await push(p, [last.pdu]);
    expect(r.status).toBe(200);
    expect(r.body.pdus[last.eventId].error).toMatch(/too many events/);
    expect(await p.a.store.getEvent(last.eventId)).toBeUndefined();
    expect(p.net.log.filter((l) => l.startsWith(`${A} `)).length).toBeLessThan(12);
  });
});

describe('PUT /send: missing auth events', () => {
  it('auth events we lack are fetched from /event_auth and stored as outliers', async () => {
    const p = await pair();
    const before = (await p.a.store.getForwardExtremities(p.roomId))[0]!;
    // On B: bob renames himself; A never hears of it.
    const rename = await p.b.rooms.sendLocalEvent(p.roomId, { type: 'm.room.member', stateKey: BOB, content: { membership: 'join', displayname: 'B' }, sender: BOB });
    // A message of bob's on A's last event whose auth events name the rename (a fork from B's view).
    const state = await p.a.store.getCurrentStateIds(p.roomId);
    const auth = [state.get('m.room.create\u0000')!, state.get('m.room.power_levels\u0000')!, rename.eventId];
    const m = await remotePdu(p.b, p.roomId, { sender: BOB, type: 'm.room.message', content: { msgtype: 'm.text', body: 'forked' }, prev: [before], auth }, { serverName: B, key: p.b.key });
    expect((await p.b.rooms.acceptEvent(m.pdu, '10')).status).not.toBe('missing');
    const r = await push(p, [m.pdu]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    expect(requests(p, '/event_auth/')).toHaveLength(1);
    expect((await p.a.store.getEvent(rename.eventId))?.outlier).toBe(true);
    expect((await p.a.store.getEvent(m.eventId))?.outlier).toBe(false);
  });
});
