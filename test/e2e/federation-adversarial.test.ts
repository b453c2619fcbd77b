// The adversarial list against real server processes on loopback (HTTPS, real key fetches):
// the test speaks for B (with B's own signing key, which B publishes) to A, whose room B's user
// joined. A PDU with a forged signature, a bad content hash, an event failing authorisation, a
// forged leave for A's user, a request with a bad X-Matrix signature, an oversized transaction and a
// replayed transaction ID: each is rejected or ignored as the spec says, and none changes A's room state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { api, federationRequest, register, startInstances, type Instance, type Instances, type TestUser } from './federation-harness.js';

const v10 = requireRoomVersion('10');
const enc = encodeURIComponent;

let cluster: Instances;
let A: Instance;
let B: Instance;
let bKey: SigningKey;
let alice: TestUser;
let roomId: string;
let bob: string;
let txn = 0;

/** The room's current state on A as alice sees it: (type, state_key) -> event ID. */
async function stateOnA(): Promise<Record<string, string>> {
  const r = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/state`);
  expect(r.status).toBe(200);
  const out: Record<string, string> = {};
  for (const e of r.body as JsonObject[]) out[`${e.type}|${e.state_key}`] = e.event_id as string;
  return out;
}

/** A PDU built as B would on A's latest event and current state (IDs read through the client API). */
async function pduOnA(spec: { sender: string; type: string; stateKey?: string; content: JsonObject }, key: SigningKey = bKey, origin = B.serverName) {
  const state = await stateOnA();
  const latest = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/messages?dir=b&limit=1`);
  const prev = latest.body.chunk[0].event_id as string;
  const auth = [state['m.room.create|'], state['m.room.power_levels|']];
  if (spec.type === 'm.room.member') {
    auth.push(state['m.room.join_rules|']);
    if (state[`m.room.member|${spec.stateKey}`]) auth.push(state[`m.room.member|${spec.stateKey}`]);
  } else if (state[`m.room.member|${spec.sender}`]) {
    auth.push(state[`m.room.member|${spec.sender}`]);
  }
  const pdu: JsonObject = {
    type: spec.type,
    room_id: roomId,
    sender: spec.sender,
    content: spec.content,
    depth: 1000 + ++txn,
    origin_server_ts: Date.now(),
    prev_events: [prev],
    auth_events: auth.filter((x): x is string => typeof x === 'string'),
  };
  if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
  const signed = hashAndSignEvent(pdu, origin, key, v10);
  return { pdu: signed, eventId: computeEventId(signed, v10) };
}

function send(pdus: JsonObject[], txnId = `t${++txn}`, as: { serverName: string; signingKey: SigningKey } = { serverName: B.serverName, signingKey: bKey }) {
  return federationRequest(A, as, 'PUT', `/_matrix/federation/v1/send/${enc(txnId)}`, { origin: as.serverName, origin_server_ts: Date.now(), pdus, edus: [] });
}

async function eventOnA(eventId: string) {
  return api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/event/${enc(eventId)}`);
}

let stateAfterJoin: Record<string, string>;

beforeAll(async () => {
  cluster = await startInstances(2);
  [A, B] = cluster.servers as [Instance, Instance];
  bKey = B.signingKey;
  bob = `@bob:${B.serverName}`;
  alice = await register(A, 'alice');
  const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat', room_version: '10' });
  expect(created.status).toBe(200);
  roomId = created.body.room_id;
  const bobJoin = await pduOnA({ sender: bob, type: 'm.room.member', stateKey: bob, content: { membership: 'join' } });
  const r = await send([bobJoin.pdu]);
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ pdus: { [bobJoin.eventId]: {} } });
  stateAfterJoin = await stateOnA();
  expect(stateAfterJoin[`m.room.member|${bob}`]).toBe(bobJoin.eventId);
}, 180_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('adversarial federation input between real servers', () => {
  it('a good message from B is accepted (the baseline)', async () => {
    const m = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'hello A' } });
    const r = await send([m.pdu]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    expect((await eventOnA(m.eventId)).body.content.body).toBe('hello A');
  });

  it('a PDU with a forged signature is dropped', async () => {
    const forger = generateSigningKey(bKey.keyId.slice('ed25519:'.length));
    const m = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'forged' } }, forger);
    const r = await send([m.pdu]);
    expect(r.status).toBe(200);
    expect(r.body.pdus[m.eventId].error).toMatch(/signature/);
    expect((await eventOnA(m.eventId)).status).toBe(404);
  });

  it('a PDU with a bad content hash is stored redacted', async () => {
    const m = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'real' } });
    const r = await send([{ ...m.pdu, content: { msgtype: 'm.text', body: 'swapped' } }]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    expect((await eventOnA(m.eventId)).body.content).toEqual({});
  });

  it('an event failing authorisation is rejected', async () => {
    const pl = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    const ev = await pduOnA({ sender: bob, type: 'm.room.power_levels', stateKey: '', content: { ...pl.body, users: { ...pl.body.users, [bob]: 100 } } });
    const r = await send([ev.pdu]);
    expect(r.body.pdus[ev.eventId].error).toMatch(/^rejected/);
    expect((await eventOnA(ev.eventId)).status).toBe(404);
  });

  it('B cannot forge a leave for A\'s user', async () => {
    const leave = await pduOnA({ sender: alice.userId, type: 'm.room.member', stateKey: alice.userId, content: { membership: 'leave' } });
    const r = await send([leave.pdu]);
    expect(r.body.pdus[leave.eventId].error).toBeDefined();
    const me = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId)}`);
    expect(me.body.membership).toBe('join');
  });

  it('a request with a bad X-Matrix signature is refused before anything is handled', async () => {
    const m = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'unsigned request' } });
    const r = await send([m.pdu], `t${++txn}`, { serverName: B.serverName, signingKey: generateSigningKey(bKey.keyId.slice('ed25519:'.length)) });
    expect(r.status).toBe(401);
    expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    expect((await eventOnA(m.eventId)).status).toBe(404);
  });

  it('an oversized transaction is refused', async () => {
    const m = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'too many' } });
    const r = await send(Array.from({ length: 51 }, () => m.pdu));
    expect(r.status).toBe(400);
    expect((await eventOnA(m.eventId)).status).toBe(404);
  });

  it('a replayed transaction ID gets the first answer; what it carries the second time is not handled', async () => {
    const first = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'first' } });
    const r1 = await send([first.pdu], 'replayed');
    expect(r1.body).toEqual({ pdus: { [first.eventId]: {} } });
    const second = await pduOnA({ sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'second' } });
    const r2 = await send([second.pdu], 'replayed');
    expect(r2.status).toBe(200);
    expect(r2.body).toEqual(r1.body);
    expect((await eventOnA(second.eventId)).status).toBe(404);
  });

  it('none of the above changed the room state', async () => {
    expect(await stateOnA()).toEqual(stateAfterJoin);
  });
});
