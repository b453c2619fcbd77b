// The transaction registry (src/rooms/transactions.ts) against the real writer: the txnId -> event
// mapping is written in the event's own transaction, told apart by content identity when requests
// with equal bodies persist out of order, and pruned after its retention.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { createClientTxns, localEventMatcher, txnScope } from '../../src/rooms/transactions.js';
import { publicRoom, roomEventsHarness } from './room-events-helpers.js';

describe('client transaction IDs', () => {
  it('two requests with equal bodies, persisted in the opposite order, each get their own event', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann);
    const txns = createClientTxns({ store: h.store });
    const requester = { userId: ann.user_id, deviceId: ann.device_id, accessTokenId: 1 };
    const contentA: JsonObject = { msgtype: 'm.text', body: 'same' };
    const contentB: JsonObject = { msgtype: 'm.text', body: 'same' };
    const request = (txnId: string, content: JsonObject) => ({
      requester,
      endpoint: `/rooms/${roomId}/send/m.room.message`,
      txnId,
      roomId,
      content,
      matches: localEventMatcher(ann.user_id, 'm.room.message', content),
    });
    let releaseA!: () => void;
    const gateA = new Promise<void>((resolve) => (releaseA = resolve));
    // A registers first but persists last.
    const pA = txns.runOnce(request('A', contentA), async () => {
      await gateA;
      return h.rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: contentA, sender: ann.user_id });
    });
    const pB = txns.runOnce(request('B', contentB), () => h.rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: contentB, sender: ann.user_id }));
    const eventB = await pB;
    // Written with B's event, for B (not for A, which registered first with an equal body).
    expect(h.db.prepare('SELECT txn_id, event_id FROM client_txns').all()).toEqual([{ txn_id: 'B', event_id: eventB }]);
    releaseA();
    const eventA = await pA;
    expect(eventA).not.toBe(eventB);
    expect(txns.lookup([eventA, eventB], ann.user_id, ann.device_id)).toEqual(
      new Map([
        [eventA, 'A'],
        [eventB, 'B'],
      ]),
    );
    // A retry of either gets its own event back.
    expect(await txns.runOnce(request('A', { ...contentA }), () => Promise.reject(new Error('must not send')))).toBe(eventA);
    expect(await txns.runOnce(request('B', { ...contentB }), () => Promise.reject(new Error('must not send')))).toBe(eventB);
  });

  it('the mapping is in the database with the event, scoped by device (or access token), and pruned after a day', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann);
    const r = await h.send(ann, roomId, { body: 'x' }, { txn: 'persisted' });
    const rows = h.db.prepare('SELECT user_id, scope, endpoint, txn_id, event_id FROM client_txns').all();
    expect(rows).toEqual([{ user_id: ann.user_id, scope: ann.device_id, endpoint: `/rooms/${roomId}/send/m.room.message`, txn_id: 'persisted', event_id: r.body.event_id }]);
    expect(txnScope({ userId: ann.user_id, deviceId: '', accessTokenId: 42 })).toBe('token:42');
    const txns = createClientTxns({ store: h.store });
    expect(txns.prune(24 * 3600 * 1000)).toBe(0);
    h.db.prepare('UPDATE client_txns SET created_ts = created_ts - ?').run(25 * 3600 * 1000);
    expect(txns.prune(24 * 3600 * 1000)).toBe(1);
    // Forgotten: a retry after that long sends again (as Synapse).
    const again = await h.send(ann, roomId, { body: 'x' }, { txn: 'persisted' });
    expect(again.body.event_id).not.toBe(r.body.event_id);
  });
});
