// The backfill client: a user of A joins a room of B that already has history (A gets the state at
// the join, as a send_join gives it); paging back in /messages on A fetches the history from B with
// GET /backfill, checks it, and stores it as history that changes neither the current state nor the
// forward extremities and never shows up in /sync as new.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { instance, Network, remotePdu, sendTxn, type Instance } from './federation-inbound-harness.js';
import type { Session } from './users-harness.js';

const A = 'a.test';
const B = 'b.test';

interface Joined {
  net: Network;
  a: Instance;
  b: Instance;
  alice: Session;
  bob: Session;
  roomId: string;
  joinId: string;
  history: string[];
}

/** bob's room on B with `n` messages, then alice of A joins: A holds the state and auth chain as outliers, and the join. */
async function joinedLate(n: number, createBody: JsonObject = {}): Promise<Joined> {
  const net = new Network();
  const a = await instance(net, A);
  const b = await instance(net, B);
  const alice = await a.register('alice');
  const bob = await b.register('bob');
  const roomId = await b.createRoom(bob, { preset: 'public_chat', room_version: '10', ...createBody });
  const history: string[] = [];
  for (let i = 0; i < n; i++) {
    await b.send(bob, roomId, `h${i}`);
    history.push(`h${i}`);
  }
  const join = await remotePdu(b, roomId, { sender: alice.user_id, type: 'm.room.member', stateKey: alice.user_id, content: { membership: 'join' } }, { serverName: A, key: a.key });
  expect((await sendTxn(b, { serverName: A, key: a.key }, [join.pdu])).body.pdus[join.eventId]).toEqual({});
  // What send_join hands A: the state before the join and its auth chain.
  const state = (await b.store.getStateIdsBefore(join.eventId))!;
  const chain = await b.store.getAuthChainIds([...state.values()]);
  const events = (await b.store.getEvents([...new Set([...state.values(), ...chain])])).sort((x, y) => x.depth - y.depth);
  for (const e of events) {
    const r = await a.rooms.acceptEvent(JSON.parse(e.jsonText) as JsonObject, '10', { outlier: true, jsonText: e.jsonText });
    expect(r.status).toBe('accepted');
  }
  expect((await a.rooms.acceptEvent(join.pdu, '10', { stateBefore: state })).status).toBe('accepted');
  return { net, a, b, alice, bob, roomId, joinId: join.eventId, history };
}

/** Pages back through the whole room on A; the message bodies, oldest first. */
async function pageAll(j: Joined, limit: number): Promise<string[]> {
  const bodies: string[] = [];
  let from: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await j.a.messages(j.alice, j.roomId, { limit: String(limit), ...(from ? { from } : {}) });
    for (const e of page.chunk) if (e.type === 'm.room.message') bodies.push(e.content.body);
    if (!page.end) break;
    from = page.end;
  }
  return bodies.reverse();
}

describe('backfill from other servers', () => {
  it('/messages fetches the history from before our join, page by page, without duplicates', async () => {
    const j = await joinedLate(45);
    const since = (await j.a.sync(j.alice)).next_batch as string;
    const extremitiesBefore = await j.a.store.getForwardExtremities(j.roomId);
    const currentBefore = await j.a.store.getCurrentStateIds(j.roomId);
    const bodies = await pageAll(j, 20);
    expect(bodies).toEqual(j.history);
    expect(j.net.log.filter((l) => l.startsWith(`${A} GET ${B} /_matrix/federation/v1/backfill/`)).length).toBeGreaterThanOrEqual(2);
    // History, not news: current state, forward extremities and /sync are untouched.
    expect(await j.a.store.getForwardExtremities(j.roomId)).toEqual(extremitiesBefore);
    expect(await j.a.store.getCurrentStateIds(j.roomId)).toEqual(currentBefore);
    const sync = await j.a.sync(j.alice, { since, timeout: '0' });
    expect(sync.rooms?.join?.[j.roomId]?.timeline?.events ?? []).toEqual([]);
    // Old messages notify nobody (bob's messages in a two-member room would, if they were new).
    const full = await j.a.sync(j.alice);
    expect(full.rooms.join[j.roomId].unread_notifications.notification_count).toBe(0);
    const notifications = await j.a.req('GET', '/_matrix/client/v3/notifications', { token: j.alice.access_token });
    expect(notifications.body.notifications).toEqual([]);
    // New events still come after everything.
    const later = await j.a.send(j.alice, j.roomId, 'now');
    const sync2 = await j.a.sync(j.alice, { since, timeout: '0' });
    expect(sync2.rooms.join[j.roomId].timeline.events.map((e: any) => e.event_id)).toEqual([later]);
    const fromBob = await j.b.rooms.sendLocalEvent(j.roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body: 'new' }, sender: j.bob.user_id });
    expect((await sendTxn(j.a, { serverName: B, key: j.b.key }, [fromBob.pdu])).status).toBe(200);
    const full2 = await j.a.sync(j.alice);
    expect(full2.rooms.join[j.roomId].unread_notifications.notification_count).toBe(1);
    expect((await j.a.store.getEvent(later))!.event.prevEventIds).toEqual([j.joinId]);
  });

  it('reaching the create event ends backfilling (the whole history is here)', async () => {
    const j = await joinedLate(3);
    await pageAll(j, 50);
    const requests = j.net.log.filter((l) => l.includes('/backfill/')).length;
    const again = await pageAll(j, 50);
    expect(again).toEqual(j.history);
    expect(j.net.log.filter((l) => l.includes('/backfill/')).length).toBe(requests);
    const create = await j.a.store.getCurrentStateEvent(j.roomId, 'm.room.create', '');
    expect(create?.outlier).toBe(false);
  });

  it('a backfilled event that fails the checks is not stored; the rest is', async () => {
    const j = await joinedLate(4);
    // B serves a copy of h1 with a broken signature (a signed field changed).
    const page = await j.b.store.getEventsByTopology(j.roomId, { direction: 'b', limit: 50 });
    const h1 = page.find((e) => e.event.content.body === 'h1')!;
    const nid = j.b.store.core.ids.findEventNid(h1.eventId)!;
    j.b.db.prepare('UPDATE events SET json = ? WHERE event_nid = ?').run(JSON.stringify({ ...JSON.parse(h1.jsonText), depth: 999_999 }), nid);
    const bodies = await pageAll(j, 50);
    expect(bodies).toContain('h3');
    expect(bodies).not.toContain('h1');
    expect(await j.a.store.getEvent(h1.eventId)).toBeUndefined();
  });

  it('no backfill when no other server is in the room', async () => {
    const j = await joinedLate(2);
    // bob leaves on B; A hears of it.
    const leave = await j.b.rooms.sendLocalEvent(j.roomId, { type: 'm.room.member', stateKey: j.bob.user_id, content: { membership: 'leave' }, sender: j.bob.user_id });
    expect((await sendTxn(j.a, { serverName: B, key: j.b.key }, [leave.pdu])).body.pdus[leave.eventId]).toEqual({});
    const bodies = await pageAll(j, 50);
    expect(bodies).toEqual([]);
    expect(j.net.log.filter((l) => l.includes('/backfill/'))).toEqual([]);
  });
});
