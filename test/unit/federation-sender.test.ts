// The outbound federation sender with a fake FederationClient: fan-out of local events, transaction
// limits and order, one transaction in flight, backoff and retry, refused transactions, the
// persisted queue across a restart, and catch-up after a long outage.
import { afterEach, describe, expect, it } from 'vitest';
import { classifyFailure, nextRetryInterval, DEFAULT_BACKOFF } from '../../src/federation/sender/index.js';
import { FederationError } from '../../src/federation/client.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import {
  FakeFederationClient,
  gate,
  httpError,
  LOCAL,
  networkDown,
  REMOTE1,
  REMOTE2,
  senderHarness,
  until,
  type SenderHarness,
} from './federation-sender-harness.js';

let h: SenderHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const alice = `@alice:${LOCAL}`;
const bob = `@bob:${REMOTE1}`;
const carol = `@carol:${REMOTE2}`;

/** A room of alice's with bob (remote1) and carol (remote2) joined. */
async function sharedRoom(x: SenderHarness): Promise<string> {
  const roomId = await x.room(alice);
  await x.remoteJoin(roomId, bob);
  await x.remoteJoin(roomId, carol);
  await x.sender.whenIdle();
  return roomId;
}

describe('backoff rules', () => {
  it('doubles from the initial interval up to the cap', () => {
    const p = { ...DEFAULT_BACKOFF };
    let i = 0;
    const seen: number[] = [];
    for (let n = 0; n < 20; n++) seen.push((i = nextRetryInterval(i, p)));
    expect(seen.slice(0, 4)).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(Math.max(...seen)).toBe(24 * 60 * 60 * 1000);
    expect(seen.at(-1)).toBe(24 * 60 * 60 * 1000);
  });

  it('retries network failures, 5xx and 429; drops other 4xx', () => {
    expect(classifyFailure(new FederationError('x', 0, 'down'))).toBe('retry');
    expect(classifyFailure(new FederationError('x', 502, 'bad gateway'))).toBe('retry');
    expect(classifyFailure(new FederationError('x', 429, 'slow down'))).toBe('retry');
    expect(classifyFailure(new FederationError('x', 400, 'bad'))).toBe('drop');
    expect(classifyFailure(new FederationError('x', 403, 'no'))).toBe('drop');
    expect(classifyFailure(new Error('anything else'))).toBe('retry');
  });
});

describe('fan-out of local events', () => {
  it('sends a local message to every other server in the room, never to ourselves', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    const before = h.client.sent.length;
    const eventId = await h.send(roomId, alice, 'hello');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(eventId) && h!.client.pdusDeliveredTo(REMOTE2).includes(eventId));
    await h.sender.whenIdle();
    const txns = h.client.sent.slice(before);
    expect(new Set(txns.map((t) => t.destination))).toEqual(new Set([REMOTE1, REMOTE2]));
    expect(h.client.to(LOCAL)).toEqual([]);
    const t = h.client.to(REMOTE1).at(-1)!;
    expect(t.body.origin).toBe(LOCAL);
    expect(typeof t.body.origin_server_ts).toBe('number');
    expect(t.body.edus).toEqual([]);
    // The PDU is the stored one, byte for byte as JSON.
    const stored = JSON.parse((await h.store.getEventJson(eventId))!);
    expect(t.body.pdus.at(-1)).toEqual(stored);
  });

  it('does not re-send events from other servers', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    const remoteMsg = await h.remoteEvent(roomId, bob, 'm.room.message', { msgtype: 'm.text', body: 'from bob' });
    await new Promise((r) => setTimeout(r, 30));
    await h.sender.whenIdle();
    expect(h.client.pdusDeliveredTo(REMOTE2)).not.toContain(remoteMsg);
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(remoteMsg);
  });

  it('sends the kick of a remote user to their server, and an invite to the invitee server', async () => {
    h = await senderHarness();
    const roomId = await h.room(alice);
    await h.remoteJoin(roomId, bob);
    await h.sender.whenIdle();
    const kick = await h.state(roomId, alice, 'm.room.member', { membership: 'leave' }, bob);
    const invite = await h.state(roomId, alice, 'm.room.member', { membership: 'invite' }, carol);
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(kick) && h!.client.pdusDeliveredTo(REMOTE2).includes(invite));
    // remote1 has nobody joined any more: the invite does not go there.
    await h.sender.whenIdle();
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(invite);
  });

  it('leaves out an event another path delivers (skipFanOut), and sends local events accepted otherwise', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    // A local event built and signed outside rooms.sendLocalEvent (as the joins flows do), then accepted.
    const build = async (body: string) => {
      const version = requireRoomVersion('10');
      const prev = await h!.store.getForwardExtremities(roomId);
      const st = await h!.store.getCurrentStateIds(roomId);
      const auth = ['m.room.create\u0000', 'm.room.power_levels\u0000', `m.room.member\u0000${alice}`].map((k) => st.get(k)!);
      const pdu = hashAndSignEvent(
        { auth_events: auth, content: { msgtype: 'm.text', body }, depth: 100, origin_server_ts: Date.now(), prev_events: prev, room_id: roomId, sender: alice, type: 'm.room.message' },
        LOCAL,
        h!.signingKey,
        version,
      );
      return { pdu, eventId: computeEventId(pdu, version) };
    };
    const skipped = await build('delivered elsewhere');
    h.sender.skipFanOut(skipped.eventId);
    expect((await h.rooms.acceptEvent(skipped.pdu, '10')).status).toBe('accepted');
    const sent = await build('accepted and fanned out');
    expect((await h.rooms.acceptEvent(sent.pdu, '10')).status).toBe('accepted');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(sent.eventId) && h!.client.pdusDeliveredTo(REMOTE2).includes(sent.eventId));
    await h.sender.whenIdle();
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(skipped.eventId);
    expect(h.client.pdusDeliveredTo(REMOTE2)).not.toContain(skipped.eventId);
  });

  it('enqueuePdu sends a persisted event to named servers', async () => {
    h = await senderHarness();
    const roomId = await h.room(alice);
    const id = await h.send(roomId, alice, 'only local so far');
    await h.sender.whenIdle();
    expect(h.client.sent).toEqual([]);
    h.sender.enqueuePdu([REMOTE2, LOCAL], id);
    await until(() => h!.client.pdusDeliveredTo(REMOTE2).includes(id));
    expect(h.client.to(LOCAL)).toEqual([]);
    expect(() => h!.sender.enqueuePdu([REMOTE2], '$unknown')).toThrow();
  });
});

describe('transactions', () => {
  it('splits 60 queued PDUs into transactions of 50 and 10, in order, one in flight at a time', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return { pdus: {} };
    });
    const first = await h.send(roomId, alice, 'first');
    await until(() => h!.client.to(REMOTE1).some((t) => t.body.pdus.length === 1));
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await h.send(roomId, alice, `m${i}`));
    // Nothing more goes out while the first transaction is in flight.
    await new Promise((r) => setTimeout(r, 30));
    const sentBefore = h.client.to(REMOTE1).length;
    hold.open();
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(ids.at(-1)!));
    await h.sender.whenIdle();
    const txns = h.client.to(REMOTE1).slice(sentBefore - 1);
    expect(txns.map((t) => t.body.pdus.length)).toEqual([1, 50, 10]);
    const delivered = h.client.pdusDeliveredTo(REMOTE1);
    expect(delivered.slice(delivered.indexOf(first))).toEqual([first, ...ids]);
    expect(h.client.maxInFlight.get(REMOTE1)).toBe(1);
    // Transaction IDs strictly increase per destination.
    const txnIds = h.client.to(REMOTE1).map((t) => Number(t.txnId));
    for (let i = 1; i < txnIds.length; i++) expect(txnIds[i]!).toBeGreaterThan(txnIds[i - 1]!);
    // The other destination was not held up.
    expect(h.client.pdusDeliveredTo(REMOTE2).slice(-60)).toEqual(ids);
    expect(h.sender.destinationStatus(REMOTE1).pendingPdus).toBe(0);
  });

  it('puts at most 100 EDUs in a transaction', async () => {
    h = await senderHarness();
    const hold = gate();
    h.client.responders.set(REMOTE1, async () => {
      await hold.promise;
      return {};
    });
    h.sender.enqueueEdu(REMOTE1, { edu_type: 'org.example.first', content: {} }, { persist: true });
    await until(() => h!.client.to(REMOTE1).length === 1);
    for (let i = 0; i < 150; i++) h.sender.enqueueEdu(REMOTE1, { edu_type: 'org.example.test', content: { i } }, { persist: true });
    hold.open();
    await until(() => h!.client.deliveredTo(REMOTE1).length === 3);
    await h.sender.whenIdle();
    expect(h.client.to(REMOTE1).map((t) => t.body.edus.length)).toEqual([1, 100, 50]);
    expect(h.client.edusDeliveredTo(REMOTE1, 'org.example.test').map((e) => e.content.i)).toEqual([...Array(150).keys()]);
  });

  it('logs per-PDU errors in the response without retrying', async () => {
    const warnings: object[] = [];
    const logger = { info: (o: object) => warnings.push(o), warn: (o: object) => warnings.push(o) };
    h = await senderHarness({ senderOptions: { logger } });
    const roomId = await sharedRoom(h);
    h.client.responders.set(REMOTE1, (txn) => ({ pdus: Object.fromEntries(txn.body.pdus.map(() => ['$x', { error: 'not allowed' }])) }));
    const id = await h.send(roomId, alice, 'refused by the peer');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(id));
    await new Promise((r) => setTimeout(r, 50));
    await h.sender.whenIdle();
    expect(h.client.pdusDeliveredTo(REMOTE1).filter((x) => x === id)).toHaveLength(1);
    expect(warnings.some((w) => (w as { error?: string }).error === 'not allowed')).toBe(true);
    expect(h.sender.destinationStatus(REMOTE1).pendingPdus).toBe(0);
  });
});

describe('failures', () => {
  it('backs off exponentially after failures (persisted), then retries and delivers once', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    let failures = 0;
    const attempts: number[] = [];
    h.client.responders.set(REMOTE1, (txn) => {
      attempts.push(Date.now());
      if (failures < 3) {
        failures++;
        throw failures === 2 ? httpError(txn.destination, 503) : networkDown(txn.destination);
      }
      return { pdus: {} };
    });
    const id = await h.send(roomId, alice, 'eventually');
    await until(() => failures === 1);
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs === 30);
    const row = h.db.prepare('SELECT retry_interval_ms, next_retry_ts FROM federation_destinations WHERE destination = ?').get(REMOTE1) as {
      retry_interval_ms: number;
      next_retry_ts: number;
    };
    expect(row.retry_interval_ms).toBe(30);
    expect(row.next_retry_ts).toBeGreaterThan(0);
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(id), 5_000, 'delivery after retries');
    // 30, 60 and 120 ms between the attempts (jitter off), at least.
    expect(attempts).toHaveLength(4);
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(25);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(55);
    expect(attempts[3]! - attempts[2]!).toBeGreaterThanOrEqual(115);
    await h.sender.whenIdle();
    expect(h.client.pdusDeliveredTo(REMOTE1).filter((x) => x === id)).toHaveLength(1);
    const status = h.sender.destinationStatus(REMOTE1);
    expect(status.retryIntervalMs).toBe(0);
    expect(status.pendingPdus).toBe(0);
    expect(status.lastSuccessTs).not.toBeNull();
    // A failing destination never delays the others.
    expect(h.client.pdusDeliveredTo(REMOTE2)).toContain(id);
  });

  it('drops a transaction the destination refuses with a 4xx, without backing off', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    let calls = 0;
    h.client.responders.set(REMOTE1, (txn) => {
      calls++;
      if (calls === 1) throw httpError(txn.destination, 400, 'M_BAD_JSON');
      return {};
    });
    const dropped = await h.send(roomId, alice, 'refused');
    await until(() => calls === 1);
    await h.sender.whenIdle();
    const status = h.sender.destinationStatus(REMOTE1);
    expect(status.pendingPdus).toBe(0);
    expect(status.retryIntervalMs).toBe(0);
    const next = await h.send(roomId, alice, 'accepted');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(next));
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(dropped);
  });

  it('wake with resetBackoff retries at once', async () => {
    h = await senderHarness({ senderOptions: { backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } } });
    const roomId = await sharedRoom(h);
    let down = true;
    h.client.responders.set(REMOTE1, (txn) => {
      if (down) throw networkDown(txn.destination);
      return {};
    });
    const id = await h.send(roomId, alice, 'waiting');
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs === 60_000);
    down = false;
    h.sender.wake(REMOTE1); // still backing off: nothing happens
    await new Promise((r) => setTimeout(r, 30));
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(id);
    h.sender.wake(REMOTE1, { resetBackoff: true });
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(id));
  });
});

describe('persistence', () => {
  it('records the queue in the event transaction and resumes it after a restart', async () => {
    const client = new FakeFederationClient();
    h = await senderHarness({ client });
    const roomId = await sharedRoom(h);
    client.responders.set(REMOTE1, (txn) => {
      throw networkDown(txn.destination);
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await h.send(roomId, alice, `queued ${i}`));
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs > 0);
    const lastTxn = h.sender.destinationStatus(REMOTE1).lastTxnId;
    const rows = h.db.prepare('SELECT count(*) AS n FROM federation_pdu_queue WHERE destination = ?').get(REMOTE1) as { n: number };
    expect(rows.n).toBe(5);

    // Restart on the same database, with the destination back up and the backoff cleared by time.
    client.responders.delete(REMOTE1);
    h = await h.restart({ senderOptions: { backoff: { initialMs: 30, maxMs: 240, jitter: 0 } } });
    await until(() => ids.every((id) => client.pdusDeliveredTo(REMOTE1).includes(id)), 5_000, 'resumed delivery');
    await h.sender.whenIdle();
    expect(client.pdusDeliveredTo(REMOTE1).filter((x) => ids.includes(x))).toEqual(ids);
    const status = h.sender.destinationStatus(REMOTE1);
    expect(status.pendingPdus).toBe(0);
    expect(status.lastTxnId).toBeGreaterThan(lastTxn);
  });

  it('keeps a persisted backoff across a restart', async () => {
    const client = new FakeFederationClient();
    h = await senderHarness({ client, senderOptions: { backoff: { initialMs: 2_000, maxMs: 2_000, jitter: 0 } } });
    const roomId = await sharedRoom(h);
    client.responders.set(REMOTE1, (txn) => {
      throw networkDown(txn.destination);
    });
    const id = await h.send(roomId, alice, 'later');
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs === 2_000);
    const failedAt = Date.now();
    client.responders.delete(REMOTE1);
    h = await h.restart({ senderOptions: { backoff: { initialMs: 2_000, maxMs: 2_000, jitter: 0 } } });
    expect(h.sender.destinationStatus(REMOTE1).retryIntervalMs).toBe(2_000);
    await until(() => client.pdusDeliveredTo(REMOTE1).includes(id), 5_000);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(1_900);
  });

  it('stops sending on close; what is queued stays queued', async () => {
    h = await senderHarness();
    const roomId = await sharedRoom(h);
    const hold = gate();
    h.client.responders.set(REMOTE1, async (_t, signal) => {
      await Promise.race([hold.promise, new Promise((_, reject) => signal?.addEventListener('abort', () => reject(networkDown(REMOTE1))))]);
      return {};
    });
    const id = await h.send(roomId, alice, 'in flight at shutdown');
    await until(() => h!.client.to(REMOTE1).length > 0);
    await h.sender.close();
    const n = h.db.prepare('SELECT count(*) AS n FROM federation_pdu_queue WHERE destination = ?').get(REMOTE1) as { n: number };
    expect(n.n).toBe(1);
    // The backoff was not touched by the aborted request.
    expect(h.sender.destinationStatus(REMOTE1).retryIntervalMs).toBe(0);
    expect(h.client.pdusDeliveredTo(REMOTE1)).not.toContain(id);
  });
});

describe('catch-up', () => {
  it('after a long outage sends only the latest event per room, then every event again', async () => {
    h = await senderHarness({ senderOptions: { backoff: { initialMs: 150, maxMs: 150, jitter: 0 } } });
    const rooms = [await sharedRoom(h), await sharedRoom(h), await sharedRoom(h)];
    let down = true;
    h.client.responders.set(REMOTE1, (txn) => {
      if (down) throw networkDown(txn.destination);
      return {};
    });
    const latest = new Map<string, string>();
    const all: string[] = [];
    for (let i = 0; i < 120; i++) {
      const roomId = rooms[i % 3]!;
      const id = await h.send(roomId, alice, `outage ${i}`);
      latest.set(roomId, id);
      all.push(id);
    }
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs > 0);
    const deliveredBefore = h.client.deliveredTo(REMOTE1).length;
    down = false;
    await until(() => [...latest.values()].every((id) => h!.client.pdusDeliveredTo(REMOTE1).includes(id)), 5_000, 'catch-up');
    await h.sender.whenIdle();
    const catchUp = h.client.deliveredTo(REMOTE1).slice(deliveredBefore);
    expect(catchUp).toHaveLength(1);
    const sentIds = h.client.pdusDeliveredTo(REMOTE1).slice(-3);
    expect(new Set(sentIds)).toEqual(new Set(latest.values()));
    const status = h.sender.destinationStatus(REMOTE1);
    expect(status.catchingUp).toBe(false);
    expect(status.pendingPdus).toBe(0);
    // Per room, the delivered position is the latest event.
    const positions = h.db
      .prepare('SELECT count(*) AS n FROM federation_destination_rooms WHERE destination = ? AND sent_stream < latest_stream')
      .get(REMOTE1) as { n: number };
    expect(positions.n).toBe(0);
    // remote2 was up all along and got everything.
    expect(all.every((id) => h!.client.pdusDeliveredTo(REMOTE2).includes(id))).toBe(true);
    // Back to normal: the next events go one by one.
    const a = await h.send(rooms[0]!, alice, 'after 1');
    const b = await h.send(rooms[0]!, alice, 'after 2');
    await until(() => h!.client.pdusDeliveredTo(REMOTE1).includes(b));
    expect(h.client.pdusDeliveredTo(REMOTE1).slice(-2)).toEqual([a, b]);
  });

  it('sends the whole backlog when it is small', async () => {
    h = await senderHarness({ senderOptions: { backoff: { initialMs: 100, maxMs: 100, jitter: 0 } } });
    const roomId = await sharedRoom(h);
    let down = true;
    h.client.responders.set(REMOTE1, (txn) => {
      if (down) throw networkDown(txn.destination);
      return {};
    });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await h.send(roomId, alice, `short ${i}`));
    await until(() => h!.sender.destinationStatus(REMOTE1).retryIntervalMs > 0);
    down = false;
    await until(() => ids.every((id) => h!.client.pdusDeliveredTo(REMOTE1).includes(id)));
    expect(h.sender.destinationStatus(REMOTE1).catchingUp).toBe(false);
  });

  it('catch-up survives a restart and events during catch-up are not lost', async () => {
    const client = new FakeFederationClient();
    h = await senderHarness({ client, senderOptions: { backoff: { initialMs: 50, maxMs: 50, jitter: 0 } } });
    const roomId = await sharedRoom(h);
    client.responders.set(REMOTE1, (txn) => {
      throw networkDown(txn.destination);
    });
    for (let i = 0; i < 60; i++) await h.send(roomId, alice, `backlog ${i}`);
    // Wait until the retry after the first failure has switched the destination to catch-up.
    await until(() => h!.sender.destinationStatus(REMOTE1).catchingUp, 5_000, 'catch-up mode');
    const during = await h.send(roomId, alice, 'while catching up');
    expect(h.sender.destinationStatus(REMOTE1).pendingPdus).toBe(0);
    client.responders.delete(REMOTE1);
    h = await h.restart();
    await until(() => client.pdusDeliveredTo(REMOTE1).includes(during), 5_000, 'latest after restart');
    await h.sender.whenIdle();
    expect(h.sender.destinationStatus(REMOTE1).catchingUp).toBe(false);
  });
});
