// The outbound federation sender between real server processes on loopback (HTTPS): a message on
// A reaches B and C; typing, receipts, to-device messages and device list updates travel as EDUs;
// events sent while B is stopped reach it after it restarts (A's persisted queue, retried after
// its backoff).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { deviceKeysOf, type Device } from '../http/e2ee-harness.js';
import { api, register, startInstances, type Instance, type Instances, type TestUser } from './federation-harness.js';

const enc = encodeURIComponent;

let cluster: Instances;
let A: Instance;
let B: Instance;
let C: Instance;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let roomId: string;

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Bodies of the room's latest messages on a server, newest last. */
async function messageBodies(server: Instance, user: TestUser, limit = 50): Promise<string[]> {
  const r = await api(server, user.accessToken, 'GET', `/rooms/${enc(roomId)}/messages?dir=b&limit=${limit}`);
  if (r.status !== 200) return [];
  return (r.body.chunk as { type: string; content: { body?: string } }[])
    .filter((e) => e.type === 'm.room.message')
    .map((e) => e.content.body ?? '')
    .reverse();
}

async function send(body: string): Promise<string> {
  const r = await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/send/m.room.message/${enc(`${body}-${Date.now()}`)}`, { msgtype: 'm.text', body });
  expect(r.status).toBe(200);
  return r.body.event_id;
}

beforeAll(async () => {
  cluster = await startInstances(3);
  [A, B, C] = cluster.servers as [Instance, Instance, Instance];
  [alice, bob, carol] = await Promise.all([register(A, 'alice'), register(B, 'bob'), register(C, 'carol')]);
  const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat', room_version: '10' });
  expect(created.status).toBe(200);
  roomId = created.body.room_id;
  for (const [server, user] of [[B, bob], [C, carol]] as const) {
    const j = await api(server, user.accessToken, 'POST', `/join/${enc(roomId)}?server_name=${enc(A.serverName)}`, {});
    expect(j.status, `${user.userId} joins: ${JSON.stringify(j.body)}\n${server.logTail()}`).toBe(200);
  }
}, 180_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('outbound federation between instances', () => {
  it('a message sent on A reaches B and C', async () => {
    const eventId = await send('hello from A');
    for (const [server, user] of [[B, bob], [C, carol]] as const) {
      const ev = await eventually(async () => {
        const r = await api(server, user.accessToken, 'GET', `/rooms/${enc(roomId)}/event/${enc(eventId)}`);
        return r.status === 200 ? r.body : undefined;
      }, `the message on ${server.serverName}`);
      expect(ev.content.body).toBe('hello from A');
      expect(ev.sender).toBe(alice.userId);
    }
  }, 60_000);

  it('typing and read receipts reach the other servers as EDUs', async () => {
    const eventId = await send('read me');
    const typing = await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 30_000 });
    expect(typing.status).toBe(200);
    const sawTyping = await eventually(async () => {
      const r = await api(B, bob.accessToken, 'GET', '/sync?timeout=0');
      const ephemeral = r.body?.rooms?.join?.[roomId]?.ephemeral?.events ?? [];
      const t = ephemeral.find((e: { type: string }) => e.type === 'm.typing');
      return t?.content.user_ids.includes(alice.userId) ? t : undefined;
    }, 'typing on B');
    expect(sawTyping.content.user_ids).toContain(alice.userId);

    // B must have the event before a receipt for it is useful.
    await eventually(async () => ((await api(B, bob.accessToken, 'GET', `/rooms/${enc(roomId)}/event/${enc(eventId)}`)).status === 200 ? true : undefined), 'event on B');
    const receipt = await api(A, alice.accessToken, 'POST', `/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {});
    expect(receipt.status).toBe(200);
    await eventually(async () => {
      const r = await api(C, carol.accessToken, 'GET', '/sync?timeout=0');
      const ephemeral = r.body?.rooms?.join?.[roomId]?.ephemeral?.events ?? [];
      const rec = ephemeral.find((e: { type: string }) => e.type === 'm.receipt');
      return rec?.content?.[eventId]?.['m.read']?.[alice.userId] ? rec : undefined;
    }, 'receipt on C');
  }, 60_000);

  it('a to-device message for a user on B arrives in their /sync', async () => {
    const first = await api(B, bob.accessToken, 'GET', '/sync?timeout=0');
    const since = first.body.next_batch as string;
    const r = await api(A, alice.accessToken, 'PUT', `/sendToDevice/m.test.fed/t${Date.now()}`, { messages: { [bob.userId]: { [bob.deviceId]: { hello: 'bob' } } } });
    expect(r.status).toBe(200);
    const msg = await eventually(async () => {
      const s = await api(B, bob.accessToken, 'GET', `/sync?timeout=0&since=${enc(since)}`);
      return (s.body?.to_device?.events ?? []).find((e: { type: string }) => e.type === 'm.test.fed');
    }, 'to-device on B');
    expect(msg).toMatchObject({ sender: alice.userId, type: 'm.test.fed', content: { hello: 'bob' } });
  }, 60_000);

  it("a device key upload on A shows in B's device_lists.changed", async () => {
    const first = await api(B, bob.accessToken, 'GET', '/sync?timeout=0');
    const since = first.body.next_batch as string;
    const device: Device = { user_id: alice.userId, device_id: alice.deviceId, access_token: alice.accessToken, key: generateSigningKey(alice.deviceId), curve25519: 'c'.repeat(43) };
    const up = await api(A, alice.accessToken, 'POST', '/keys/upload', { device_keys: deviceKeysOf(device) });
    expect(up.status).toBe(200);
    await eventually(async () => {
      const s = await api(B, bob.accessToken, 'GET', `/sync?timeout=0&since=${enc(since)}`);
      return (s.body?.device_lists?.changed ?? []).includes(alice.userId) ? true : undefined;
    }, 'device list change on B');
  }, 60_000);

  it('events sent while B is stopped reach it after it restarts', async () => {
    await B.stop();
    const bodies = ['while down 1', 'while down 2', 'while down 3'];
    for (const b of bodies) await send(b);
    // C was up all along.
    await eventually(async () => ((await messageBodies(C, carol)).slice(-3).join('|') === bodies.join('|') ? true : undefined), 'the messages on C');
    await B.start();
    // A retries after its backoff (5 s, then doubling) and B fetches whatever catch-up left out.
    await eventually(async () => {
      const got = await messageBodies(B, bob);
      return bodies.every((b) => got.includes(b)) ? got : undefined;
    }, 'the messages on B after its restart', 90_000);
    const got = await messageBodies(B, bob);
    expect(got.slice(-3)).toEqual(bodies);
  }, 150_000);
});
