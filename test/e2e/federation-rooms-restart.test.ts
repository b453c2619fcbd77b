// A server that was down catches up (real processes on loopback): B is stopped while A keeps
// sending more than a transaction's worth of events, then restarted; A's sender catches it up with
// the latest event, B fetches missing events and backfills the hole in its history when /messages
// pages through it, so that /messages on B shows every event, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, register, startInstances, type Instance, type Instances, type TestUser } from './federation-harness.js';

const enc = encodeURIComponent;

let cluster: Instances;
let A: Instance;
let B: Instance;
let alice: TestUser;
let bob: TestUser;
let roomId: string;
let txn = 0;

async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function send(server: Instance, user: TestUser, body: string): Promise<string> {
  const r = await api(server, user.accessToken, 'PUT', `/rooms/${enc(roomId)}/send/m.room.message/r${++txn}`, { msgtype: 'm.text', body });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id;
}

/** Every message body on `server` from the newest back to `stopAt` (exclusive), oldest first, paginating /messages. */
async function bodiesBackTo(server: Instance, user: TestUser, stopAt: string): Promise<string[]> {
  const out: string[] = [];
  let from: string | undefined;
  for (let page = 0; page < 40; page++) {
    const r = await api(server, user.accessToken, 'GET', `/rooms/${enc(roomId)}/messages?dir=b&limit=25${from ? `&from=${enc(from)}` : ''}`);
    expect(r.status).toBe(200);
    for (const e of r.body.chunk as { type: string; content: { body?: string } }[]) {
      if (e.type !== 'm.room.message') continue;
      if (e.content.body === stopAt) return out.reverse();
      out.push(e.content.body ?? '');
    }
    if (!r.body.end) break;
    from = r.body.end;
  }
  return out.reverse();
}

beforeAll(async () => {
  cluster = await startInstances(2);
  [A, B] = cluster.servers as [Instance, Instance];
  [alice, bob] = await Promise.all([register(A, 'alice'), register(B, 'bob')]);
  const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat' });
  roomId = created.body.room_id;
  const j = await api(B, bob.accessToken, 'POST', `/join/${enc(roomId)}?server_name=${enc(A.serverName)}`, {});
  expect(j.status, JSON.stringify(j.body)).toBe(200);
}, 180_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('a server restarted after missing events', () => {
  it('B stopped while A keeps sending, then restarted: /messages on B has every event, in order', async () => {
    await send(A, alice, 'before the outage');
    await eventually(async () => (await bodiesBackTo(B, bob, '__none__')).includes('before the outage'), 'B to have the first message');
    await B.stop();
    const sent: string[] = [];
    for (let i = 0; i < 80; i++) {
      const body = `while B was down ${i}`;
      await send(A, alice, body);
      sent.push(body);
    }
    await B.start();
    // B stays quiet: A's next retry finds it back with a backlog larger than a transaction and
    // catches it up with the latest event only; B fetches some of the gap itself and backfills the
    // rest when its client pages back through the hole.
    const last = sent[sent.length - 1]!;
    await eventually(async () => (await bodiesBackTo(B, bob, '__none__')).includes(last), 'B to receive the latest message', 120_000);
    let seen: string[] = [];
    const onB = await eventually(async () => {
      const bodies = (await bodiesBackTo(B, bob, 'before the outage')).filter((b) => b.startsWith('while B was down'));
      seen = bodies;
      return bodies.length === sent.length ? bodies : undefined;
    }, 'B to fill the gap', 120_000).catch((e: Error) => {
      throw new Error(`${e.message}; B has ${seen.length} of ${sent.length}: ${JSON.stringify(seen)}\n${B.logTail(60)}`);
    });
    expect(onB).toEqual(sent);
    // And B's messages reach A again.
    await send(B, bob, 'B is back');
    await eventually(async () => (await bodiesBackTo(A, alice, 'before the outage')).includes('B is back'), 'A to receive B\'s message');
  }, 360_000);
});
