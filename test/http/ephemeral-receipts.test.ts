// Receipts and read markers: POST /rooms/{roomId}/receipt/{type}/{eventId} (m.read, m.read.private,
// m.fully_read, threaded), POST /rooms/{roomId}/read_markers, what /sync's ReceiptsSource serves
// (private receipts only to their owner), readReceiptPosition, the hooks, remote receipts, errors.
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiptsService, type ReceiptUpdate } from '../../src/ephemeral/receipts.js';
import { ephemeralHarness, NOW, SERVER, V3, type EphemeralHarness } from './ephemeral-harness.js';

const harnesses: EphemeralHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    expect(h.errors).toEqual([]);
    await h.close();
  }
});

async function setup() {
  const h = await ephemeralHarness();
  harnesses.push(h);
  const ann = await h.register('ann');
  const bob = await h.register('bob');
  const roomId = await h.roomWith(ann.user_id, bob.user_id);
  const e1 = await h.send(roomId, ann.user_id);
  const e2 = await h.send(roomId, ann.user_id);
  h.takeWakes();
  const enc = encodeURIComponent;
  const receipt = (token: string, type: string, eventId: string, body: unknown = {}, room = roomId) =>
    h.req('POST', `${V3}/rooms/${enc(room)}/receipt/${enc(type)}/${enc(eventId)}`, { token, body });
  const markers = (token: string, body: unknown, room = roomId) => h.req('POST', `${V3}/rooms/${enc(room)}/read_markers`, { token, body });
  const so = async (eventId: string) => (await h.store.getEvent(eventId))!.streamOrdering!;
  return { h, ann, bob, roomId, e1, e2, receipt, markers, so };
}

describe('receipts', () => {
  it('m.read: stored with a position, served as m.receipt content, wakes the room, runs the hooks', async () => {
    const { h, ann, bob, roomId, e1, e2, receipt, so } = await setup();
    const read: ReceiptUpdate[] = [];
    const out: ReceiptUpdate[] = [];
    h.receipts.onReadReceipt.push((r) => read.push(r));
    h.receipts.onOutbound.push((r) => out.push(r));
    const p0 = h.receipts.position();
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBeNull();

    h.clock.now = NOW + 5;
    const r = await receipt(bob.access_token, 'm.read', e1);
    expect([r.status, r.body]).toEqual([200, {}]);
    const p1 = h.receipts.position();
    expect(p1).toBe(p0 + 1);
    const content = { [e1]: { 'm.read': { [bob.user_id]: { ts: NOW + 5 } } } };
    // Everyone in the room sees a public receipt.
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], p0)).toEqual(new Map([[roomId, content]]));
    expect(h.receipts.receiptsSince(bob.user_id, [roomId], 0)).toEqual(new Map([[roomId, content]]));
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], p1)).toEqual(new Map());
    expect(h.takeWakes().filter((w) => w.roomIds.length > 0)).toEqual([{ roomIds: [roomId], userIds: [] }]);
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e1));
    const update = { roomId, userId: bob.user_id, receiptType: 'm.read', threadId: null, eventId: e1, eventStream: await so(e1), ts: NOW + 5, streamId: p1 };
    expect(read).toEqual([update]);
    expect(out).toEqual([update]);

    // Moving forward replaces it; the delta names only the new event.
    await receipt(bob.access_token, 'm.read', e2);
    const p2 = h.receipts.position();
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], p1)).toEqual(new Map([[roomId, { [e2]: { 'm.read': { [bob.user_id]: { ts: NOW + 5 } } } }]]));
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e2));

    // Receipts only move forward (as Synapse): an older event, or the same one again, changes nothing.
    expect((await receipt(bob.access_token, 'm.read', e1)).status).toBe(200);
    expect((await receipt(bob.access_token, 'm.read', e2)).status).toBe(200);
    expect(h.receipts.position()).toBe(p2);
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e2));
    expect(read).toHaveLength(2);

    // Persisted: a new service over the same database serves the same receipts and position.
    const again = createReceiptsService({ db: h.db, store: h.store, notifier: h.notifier, serverName: SERVER });
    expect(again.position()).toBe(p2);
    expect(again.receiptsSince(ann.user_id, [roomId], 0)).toEqual(new Map([[roomId, { [e2]: { 'm.read': { [bob.user_id]: { ts: NOW + 5 } } } }]]));
    expect(again.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e2));
  });

  it('m.read.private: only its owner sees it; counts for readReceiptPosition; never goes out', async () => {
    const { h, ann, bob, roomId, e1, e2, receipt, so } = await setup();
    const out: ReceiptUpdate[] = [];
    const read: ReceiptUpdate[] = [];
    h.receipts.onOutbound.push((r) => out.push(r));
    h.receipts.onReadReceipt.push((r) => read.push(r));
    await receipt(bob.access_token, 'm.read', e1);
    const p1 = h.receipts.position();
    h.takeWakes();

    expect((await receipt(bob.access_token, 'm.read.private', e2)).status).toBe(200);
    // Only bob's syncs are woken.
    expect(h.takeWakes()).toEqual([{ roomIds: [], userIds: [bob.user_id] }]);
    expect(h.receipts.receiptsSince(bob.user_id, [roomId], p1)).toEqual(
      new Map([[roomId, { [e2]: { 'm.read.private': { [bob.user_id]: { ts: NOW } } } }]]),
    );
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], p1)).toEqual(new Map());
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], 0)).toEqual(new Map([[roomId, { [e1]: { 'm.read': { [bob.user_id]: { ts: NOW } } } }]]));
    expect(h.receipts.receiptsSince(bob.user_id, [roomId], 0)).toEqual(
      new Map([[roomId, { [e1]: { 'm.read': { [bob.user_id]: { ts: NOW } } }, [e2]: { 'm.read.private': { [bob.user_id]: { ts: NOW } } } }]]),
    );
    // The further of m.read and m.read.private.
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e2));
    expect(out.map((r) => r.receiptType)).toEqual(['m.read']);
    expect(read.map((r) => r.receiptType)).toEqual(['m.read', 'm.read.private']);
    // A public receipt behind the private one is valid and shown to others (spec "Private read receipts").
    expect(h.receipts.readReceiptPosition(roomId, ann.user_id)).toBeNull();
  });

  it('threaded receipts: main and thread IDs validated against relations, kept apart from unthreaded ones', async () => {
    const { h, ann, bob, roomId, e1, receipt, so } = await setup();
    const root = await h.send(roomId, ann.user_id, { msgtype: 'm.text', body: 'root' });
    const inThread = await h.send(roomId, ann.user_id, { msgtype: 'm.text', body: 'in thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
    const reaction = await h.send(roomId, ann.user_id, { 'm.relates_to': { rel_type: 'm.annotation', event_id: inThread, key: '👍' } });
    const reference = await h.send(roomId, ann.user_id, { body: 'ref', 'm.relates_to': { rel_type: 'm.reference', event_id: root } });
    const p0 = h.receipts.position();

    const ok = async (type: string, eventId: string, threadId: string) => {
      const r = await receipt(bob.access_token, type, eventId, { thread_id: threadId });
      expect([r.status, r.body], `${eventId} in ${threadId}`).toEqual([200, {}]);
    };
    const bad = async (eventId: string, threadId: unknown, type = 'm.read') => {
      const r = await receipt(bob.access_token, type, eventId, { thread_id: threadId });
      expect([r.status, r.body.errcode], `${eventId} in ${String(threadId)}`).toEqual([400, 'M_INVALID_PARAM']);
    };
    // The thread root, an event in the thread, and events related to either belong to the thread.
    await ok('m.read', root, root);
    await ok('m.read', inThread, root);
    await ok('m.read', reaction, root);
    await ok('m.read', reference, root);
    await ok('m.read.private', reaction, root);
    // Main timeline: the root and events not under an m.thread relation.
    await ok('m.read', e1, 'main');
    await ok('m.read', reference, 'main');
    await bad(inThread, 'main');
    await bad(reaction, 'main');
    await bad(e1, root);
    await bad(e1, '$not-a-thread:test.local');
    // Spec 400 cases: not a string, empty, with m.fully_read.
    await bad(e1, '');
    await bad(e1, 42);
    await bad(e1, null);
    await bad(e1, 'main', 'm.fully_read');

    // Threaded receipts do not move the unthreaded/main read-up-to mark... except main itself.
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(reference));
    // An unthreaded receipt is separate from the main one (each key holds one event).
    await receipt(bob.access_token, 'm.read', e1);
    const content = h.receipts.receiptsSince(ann.user_id, [roomId], p0).get(roomId)!;
    // Bob's receipts for the root's thread and for main both point at `reference`: the content
    // holds one receipt per (event, type, user), so the later one (main) is what a delta shows.
    expect(content).toEqual({
      [reference]: { 'm.read': { [bob.user_id]: { ts: NOW, thread_id: 'main' } } },
      [e1]: { 'm.read': { [bob.user_id]: { ts: NOW } } },
    });
    // Bob's own view also shows his private threaded receipt.
    expect(h.receipts.receiptsSince(bob.user_id, [roomId], p0).get(roomId)![reaction]).toEqual({
      'm.read.private': { [bob.user_id]: { ts: NOW, thread_id: root } },
    });
    // Main and unthreaded coexist; the mark is the further of them.
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(reference));
  });

  it('m.fully_read through /receipt is room account data, moves forward only, wakes the user', async () => {
    const { h, bob, roomId, e1, e2, receipt } = await setup();
    const p0 = h.receipts.position();
    const adUrl = `${V3}/user/${encodeURIComponent(bob.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`;
    const ad0 = h.users.accountDataPosition();

    expect((await receipt(bob.access_token, 'm.fully_read', e2)).status).toBe(200);
    expect((await h.req('GET', adUrl, { token: bob.access_token })).body).toEqual({ event_id: e2 });
    expect(h.takeWakes()).toContainEqual({ roomIds: [], userIds: [bob.user_id] });
    const changes = await h.users.accountDataSince(bob.user_id, ad0);
    expect(changes.map((c) => [c.roomId, c.type])).toEqual([[roomId, 'm.fully_read']]);
    // Not an m.receipt.
    expect(h.receipts.position()).toBe(p0);

    // Backwards is ignored (as Synapse).
    await receipt(bob.access_token, 'm.fully_read', e1);
    expect((await h.req('GET', adUrl, { token: bob.access_token })).body).toEqual({ event_id: e2 });
    // Clients cannot set it directly (spec "Read markers": server behaviour).
    const direct = await h.req('PUT', adUrl, { token: bob.access_token, body: { event_id: e1 } });
    expect(direct.status).toBe(405);
  });

  it('POST /read_markers sets the marker and both receipts; checks every event first', async () => {
    const { h, ann, bob, roomId, e1, e2, markers, so } = await setup();
    const p0 = h.receipts.position();
    const adUrl = `${V3}/user/${encodeURIComponent(bob.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`;

    let r = await markers(bob.access_token, { 'm.fully_read': e1, 'm.read': e1, 'm.read.private': e2, 'org.example.unknown': e2 });
    expect([r.status, r.body]).toEqual([200, {}]);
    expect((await h.req('GET', adUrl, { token: bob.access_token })).body).toEqual({ event_id: e1 });
    expect(h.receipts.receiptsSince(bob.user_id, [roomId], p0).get(roomId)).toEqual({
      [e1]: { 'm.read': { [bob.user_id]: { ts: NOW } } },
      [e2]: { 'm.read.private': { [bob.user_id]: { ts: NOW } } },
    });
    expect(h.receipts.receiptsSince(ann.user_id, [roomId], p0).get(roomId)).toEqual({ [e1]: { 'm.read': { [bob.user_id]: { ts: NOW } } } });
    expect(h.receipts.readReceiptPosition(roomId, bob.user_id)).toBe(await so(e2));

    // Only the marker (spec v1.4: every key optional), and an empty body.
    expect((await markers(bob.access_token, { 'm.fully_read': e2 })).status).toBe(200);
    expect((await h.req('GET', adUrl, { token: bob.access_token })).body).toEqual({ event_id: e2 });
    expect((await markers(bob.access_token, {})).status).toBe(200);

    // One unknown event: 404 and nothing written.
    const p1 = h.receipts.position();
    const e3 = await h.send(roomId, ann.user_id);
    r = await markers(bob.access_token, { 'm.read': e3, 'm.fully_read': '$missing:test.local' });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    expect(h.receipts.position()).toBe(p1);

    r = await markers(bob.access_token, { 'm.read': 12 });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('POST', `${V3}/rooms/${encodeURIComponent(roomId)}/read_markers`, { token: bob.access_token });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    const cat = await h.register('cat');
    r = await markers(cat.access_token, { 'm.read': e1 });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
  });

  it('errors: receipt type, event and room IDs, unknown events, other rooms, not joined', async () => {
    const { h, ann, bob, roomId, e1, receipt } = await setup();
    const otherRoom = await h.roomWith(ann.user_id);
    const elsewhere = await h.send(otherRoom, ann.user_id);
    const cat = await h.register('cat');

    const expectErr = async (p: Promise<{ status: number; body: Record<string, any> }>, status: number, errcode: string) => {
      const r = await p;
      expect([r.status, r.body.errcode]).toEqual([status, errcode]);
    };
    await expectErr(receipt(bob.access_token, 'm.unknown', e1), 400, 'M_INVALID_PARAM');
    await expectErr(receipt(bob.access_token, 'm.read', 'not-an-event'), 400, 'M_INVALID_PARAM');
    await expectErr(receipt(bob.access_token, 'm.read', e1, {}, 'not-a-room'), 400, 'M_INVALID_PARAM');
    await expectErr(receipt(bob.access_token, 'm.read', '$unknown:test.local'), 404, 'M_NOT_FOUND');
    await expectErr(receipt(ann.access_token, 'm.read', elsewhere), 404, 'M_NOT_FOUND');
    await expectErr(receipt(cat.access_token, 'm.read', e1), 403, 'M_FORBIDDEN');
    await expectErr(receipt(bob.access_token, 'm.read', e1, [1]), 400, 'M_NOT_JSON');
    await expectErr(receipt('', 'm.read', e1), 401, 'M_MISSING_TOKEN');
    expect(h.receipts.position()).toBe(0);

    // A body-less POST is accepted (treated as {}).
    const r = await h.req('POST', `${V3}/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(e1)}`, { token: bob.access_token });
    expect(r.status).toBe(200);
  });

  it('remote receipts: stored and served, never private, never for our users', async () => {
    const { h, ann, roomId, e1, e2, so } = await setup();
    const remote = '@carol:remote.example';
    const read: ReceiptUpdate[] = [];
    const out: ReceiptUpdate[] = [];
    h.receipts.onReadReceipt.push((r) => read.push(r));
    h.receipts.onOutbound.push((r) => out.push(r));

    expect(await h.receipts.applyRemoteReceipt({ roomId, userId: remote, receiptType: 'm.read', eventId: e2, ts: 1234 })).toBe(true);
    expect(await h.receipts.applyRemoteReceipt({ roomId, userId: remote, receiptType: 'm.read', eventId: e1, ts: 1235 })).toBe(false);
    expect(await h.receipts.applyRemoteReceipt({ roomId, userId: remote, receiptType: 'm.read.private', eventId: e2 })).toBe(false);
    expect(await h.receipts.applyRemoteReceipt({ roomId, userId: ann.user_id, receiptType: 'm.read', eventId: e2 })).toBe(false);
    expect(await h.receipts.applyRemoteReceipt({ roomId: '!unknown:remote.example', userId: remote, receiptType: 'm.read', eventId: e2 })).toBe(false);
    // A threaded receipt for an event we have not received yet.
    expect(await h.receipts.applyRemoteReceipt({ roomId, userId: remote, receiptType: 'm.read', eventId: '$later:remote.example', threadId: 'main', ts: 99 })).toBe(true);

    expect(h.receipts.receiptsSince(ann.user_id, [roomId], 0).get(roomId)).toEqual({
      [e2]: { 'm.read': { [remote]: { ts: 1234 } } },
      '$later:remote.example': { 'm.read': { [remote]: { ts: 99, thread_id: 'main' } } },
    });
    expect(h.receipts.readReceiptPosition(roomId, remote)).toBe(await so(e2));
    expect(read.map((r) => r.eventId)).toEqual([e2, '$later:remote.example']);
    expect(out).toEqual([]);
  });

  it('a receipt counts as activity for presence', async () => {
    const { h, bob, e1, receipt } = await setup();
    await receipt(bob.access_token, 'm.read', e1);
    const r = await h.req('GET', `${V3}/presence/${encodeURIComponent(bob.user_id)}/status`, { token: bob.access_token });
    expect(r.body).toMatchObject({ presence: 'offline', last_active_ago: 0 });
  });
});
