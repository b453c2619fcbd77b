// PUT /_matrix/federation/v1/send/{txnId}: a remote server (a key pair published on the fake network)
// joins a room of ours and sends events; the checks on receipt of each PDU (format, signatures,
// content hash, auth), per-PDU results, idempotent transactions, limits, server ACLs, unsigned.
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { MAX_TXN_BODY_BYTES } from '../../src/federation/inbound/index.js';
import { enc, FED, instance, Network, remotePdu, sendTxn, V3, type Instance } from './federation-inbound-harness.js';
import type { Session } from './users-harness.js';

const HS = 'hs.test';
const REMOTE = 'remote.test:8448';
const REM = `@rem:${REMOTE}`;

interface Fixture {
  net: Network;
  hs: Instance;
  alice: Session;
  roomId: string;
  remote: { serverName: string; key: ReturnType<typeof generateSigningKey> };
}

/** A public room of alice on hs.test, joined by @rem over /send. */
async function setup(createBody: JsonObject = {}): Promise<Fixture> {
  const net = new Network();
  const hs = await instance(net, HS);
  const key = net.addKeyOnly(REMOTE);
  const remote = { serverName: REMOTE, key };
  const alice = await hs.register('alice');
  const roomId = await hs.createRoom(alice, { preset: 'public_chat', room_version: '10', ...createBody });
  const join = await remotePdu(hs, roomId, { sender: REM, type: 'm.room.member', stateKey: REM, content: { membership: 'join' } }, remote);
  const r = await sendTxn(hs, remote, [join.pdu]);
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ pdus: { [join.eventId]: {} } });
  return { net, hs, alice, roomId, remote };
}

function message(f: Fixture, body: string, extra: { prev?: string[]; sender?: string } = {}) {
  return remotePdu(f.hs, f.roomId, { sender: extra.sender ?? REM, type: 'm.room.message', content: { msgtype: 'm.text', body }, ...(extra.prev ? { prev: extra.prev } : {}) }, f.remote);
}

function timelineBodies(sync: Record<string, any>, roomId: string): string[] {
  return (sync.rooms?.join?.[roomId]?.timeline?.events ?? []).filter((e: any) => e.type === 'm.room.message').map((e: any) => e.content.body);
}

describe('PUT /send: accepted events', () => {
  it('a good PDU is accepted and reaches /sync and /messages', async () => {
    const f = await setup();
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    const m = await message(f, 'hello from afar');
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.body).toEqual({ pdus: { [m.eventId]: {} } });
    const sync = await f.hs.sync(f.alice, { since });
    expect(timelineBodies(sync, f.roomId)).toEqual(['hello from afar']);
    const msgs = await f.hs.messages(f.alice, f.roomId);
    expect(msgs.chunk[0]).toMatchObject({ event_id: m.eventId, sender: REM, content: { body: 'hello from afar' } });
    expect((await f.hs.store.getMembership(f.roomId, REM))?.membership).toBe('join');
    expect(await f.hs.store.getForwardExtremities(f.roomId)).toEqual([m.eventId]);
  });

  it('several PDUs of one room are handled in order, each with its own result', async () => {
    const f = await setup();
    const a = await message(f, 'one');
    const b = await message(f, 'two', { prev: [a.eventId] });
    const c = await message(f, 'three', { prev: [b.eventId] });
    const r = await sendTxn(f.hs, f.remote, [a.pdu, b.pdu, c.pdu]);
    expect(r.body.pdus).toEqual({ [a.eventId]: {}, [b.eventId]: {}, [c.eventId]: {} });
    const msgs = await f.hs.messages(f.alice, f.roomId, { limit: '3' });
    expect(msgs.chunk.map((e: any) => e.content.body)).toEqual(['three', 'two', 'one']);
  });

  it('a duplicate of an event we have is answered {} and stored once', async () => {
    const f = await setup();
    const m = await message(f, 'once');
    await sendTxn(f.hs, f.remote, [m.pdu]);
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    const msgs = await f.hs.messages(f.alice, f.roomId);
    expect(msgs.chunk.filter((e: any) => e.content?.body === 'once')).toHaveLength(1);
  });

  it('an event of another server\'s user relayed by the origin is accepted when that server signed it', async () => {
    const f = await setup();
    const otherKey = f.net.addKeyOnly('other.test');
    const other = { serverName: 'other.test', key: otherKey };
    const join = await remotePdu(f.hs, f.roomId, { sender: '@o:other.test', type: 'm.room.member', stateKey: '@o:other.test', content: { membership: 'join' } }, other);
    const r = await sendTxn(f.hs, f.remote, [join.pdu]);
    expect(r.body.pdus[join.eventId]).toEqual({});
    expect((await f.hs.store.getMembership(f.roomId, '@o:other.test'))?.membership).toBe('join');
  });
});

describe('PUT /send: refused events', () => {
  it('a forged signature: error in the results, nothing stored', async () => {
    const f = await setup();
    const impostor = { serverName: REMOTE, key: generateSigningKey('k1') }; // the same key ID, another key
    const m = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.message', content: { msgtype: 'm.text', body: 'forged' } }, impostor);
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.status).toBe(200);
    expect(r.body.pdus[m.eventId].error).toMatch(/signature/);
    expect(await f.hs.store.getEvent(m.eventId)).toBeUndefined();
  });

  it('a remote server cannot forge a leave for our user (not signed by our server)', async () => {
    const f = await setup();
    const leave = await remotePdu(f.hs, f.roomId, { sender: f.alice.user_id, type: 'm.room.member', stateKey: f.alice.user_id, content: { membership: 'leave' } }, f.remote);
    const r = await sendTxn(f.hs, f.remote, [leave.pdu]);
    expect(r.body.pdus[leave.eventId].error).toMatch(/signature|not signed/);
    expect(await f.hs.store.getEvent(leave.eventId)).toBeUndefined();
    expect((await f.hs.store.getMembership(f.roomId, f.alice.user_id))?.membership).toBe('join');
  });

  it('a bad content hash: the event is stored redacted', async () => {
    const f = await setup();
    const m = await message(f, 'original');
    // Signatures cover the redacted form only: changing the content keeps them valid, breaks the hash.
    const tampered = { ...m.pdu, content: { msgtype: 'm.text', body: 'tampered' } };
    const r = await sendTxn(f.hs, f.remote, [tampered]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    const stored = await f.hs.store.getEvent(m.eventId);
    expect(stored?.event.content).toEqual({});
    const served = await f.hs.req('GET', `${V3}/rooms/${enc(f.roomId)}/event/${enc(m.eventId)}`, { token: f.alice.access_token });
    expect(served.body.content).toEqual({});
  });

  it('an event failing authorisation is rejected and never enters the state', async () => {
    const f = await setup();
    // @rem has power 0: it may not change the power levels.
    const pl = await f.hs.store.getCurrentStateEvent(f.roomId, 'm.room.power_levels', '');
    const content = { ...(pl!.event.content as JsonObject), users: { [REM]: 100 } };
    const ev = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.power_levels', stateKey: '', content }, f.remote);
    const before = await f.hs.store.getCurrentStateIds(f.roomId);
    const r = await sendTxn(f.hs, f.remote, [ev.pdu]);
    expect(r.body.pdus[ev.eventId].error).toMatch(/^rejected/);
    const stored = await f.hs.store.getEvent(ev.eventId);
    expect(stored?.rejectedReason).not.toBeNull();
    expect(await f.hs.store.getCurrentStateIds(f.roomId)).toEqual(before);
    const msgs = await f.hs.messages(f.alice, f.roomId);
    expect(msgs.chunk.map((e: any) => e.event_id)).not.toContain(ev.eventId);
  });

  it('a user who is not in the room cannot send: rejected', async () => {
    const f = await setup();
    const m = await remotePdu(f.hs, f.roomId, { sender: `@stranger:${REMOTE}`, type: 'm.room.message', content: { msgtype: 'm.text', body: 'hi' } }, f.remote);
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.body.pdus[m.eventId].error).toMatch(/^rejected/);
  });

  it('one malformed PDU among good ones fails alone', async () => {
    const f = await setup();
    const a = await message(f, 'first');
    const bad = await message(f, 'bad', { prev: [a.eventId] });
    const malformed = { ...bad.pdu, depth: 'deep' };
    const b = await message(f, 'second', { prev: [a.eventId] });
    const r = await sendTxn(f.hs, f.remote, [a.pdu, malformed, 'not even an object', b.pdu]);
    expect(r.status).toBe(200);
    expect(r.body.pdus[a.eventId]).toEqual({});
    expect(r.body.pdus[b.eventId]).toEqual({});
    const errors = Object.entries(r.body.pdus).filter(([, v]: [string, any]) => v.error);
    expect(errors).toHaveLength(1);
    expect((errors[0]![1] as any).error).toMatch(/depth/);
    const msgs = await f.hs.messages(f.alice, f.roomId);
    expect(msgs.chunk.filter((e: any) => e.type === 'm.room.message').map((e: any) => e.content.body)).toEqual(['second', 'first']);
  });

  it('room version 10 numbers must be integers in the PDU text (1.0 is refused), other PDUs unaffected', async () => {
    const f = await setup();
    const good = await message(f, 'fine');
    const m = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'org.example.num', content: { n: 1 }, prev: [good.eventId] }, f.remote);
    const body = { origin: REMOTE, origin_server_ts: 1, pdus: [good.pdu, m.pdu], edus: [] };
    const text = JSON.stringify(body).replace('"n":1', '"n":1.0');
    expect(text).toContain('"n":1.0');
    const r = await f.hs.fed(REMOTE, f.remote.key, 'PUT', `${FED}/send/floaty`, body, text);
    expect(r.status).toBe(200);
    expect(r.body.pdus[good.eventId]).toEqual({});
    expect(r.body.pdus[m.eventId].error).toMatch(/room version 10/);
    expect(await f.hs.store.getEvent(m.eventId)).toBeUndefined();
  });

  it('room version 5 allows fractions: such an event is accepted whole, not redacted, and its content served', async () => {
    const f = await setup({ room_version: '5' });
    const content = { msgtype: 'm.text', body: 'ratio', ratio: 0.25, tiny: 1e-5, big: 1.5e16 };
    const m = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.message', content }, f.remote);
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ pdus: { [m.eventId]: {} } });
    const msgs = await f.hs.messages(f.alice, f.roomId);
    expect(msgs.chunk[0]).toMatchObject({ event_id: m.eventId, content });
  });

  it('PDUs of a room we do not know are not stored', async () => {
    const f = await setup();
    const m = await message(f, 'elsewhere');
    const stray = { ...m.pdu, room_id: '!unknown:remote.test:8448' };
    const r = await sendTxn(f.hs, f.remote, [stray]);
    expect(r.status).toBe(200);
    expect(Object.values(r.body.pdus).every((v: any) => v.error)).toBe(true);
    expect(await f.hs.store.getRoomVersion('!unknown:remote.test:8448')).toBeUndefined();
  });

  it('PDUs of a room we are no longer in get an error', async () => {
    const f = await setup();
    expect((await f.hs.req('POST', `${V3}/rooms/${enc(f.roomId)}/leave`, { token: f.alice.access_token, body: {} })).status).toBe(200);
    const m = await message(f, 'anyone?');
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.body.pdus[m.eventId].error).toMatch(/not in room/);
    expect(await f.hs.store.getEvent(m.eventId)).toBeUndefined();
  });

  it('a server denied by the room\'s ACL: every PDU of that room gets an error and is dropped', async () => {
    const f = await setup();
    const acl = await f.hs.req('PUT', `${V3}/rooms/${enc(f.roomId)}/state/m.room.server_acl/`, {
      token: f.alice.access_token,
      body: { allow: ['*'], deny: ['remote.test'], allow_ip_literals: false },
    });
    expect(acl.status).toBe(200);
    const m = await message(f, 'banned');
    const r = await sendTxn(f.hs, f.remote, [m.pdu]);
    expect(r.status).toBe(200);
    expect(r.body.pdus[m.eventId].error).toMatch(/banned/);
    expect(await f.hs.store.getEvent(m.eventId)).toBeUndefined();
  });
});

describe('PUT /send: the transaction', () => {
  it('more than 50 PDUs or 100 EDUs: 400 M_BAD_JSON, nothing handled, nothing remembered', async () => {
    const f = await setup();
    const m = await message(f, 'lost');
    const pdus = Array.from({ length: 51 }, () => m.pdu);
    const r = await sendTxn(f.hs, f.remote, pdus, [], 'big');
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_BAD_JSON');
    expect(await f.hs.store.getEvent(m.eventId)).toBeUndefined();
    const edus = Array.from({ length: 101 }, () => ({ edu_type: 'm.typing', content: {} }));
    expect((await sendTxn(f.hs, f.remote, [], edus, 'big2')).status).toBe(400);
    // The same transaction ID with an acceptable body is handled (the refusal was not stored).
    const ok = await sendTxn(f.hs, f.remote, [m.pdu], [], 'big');
    expect(ok.body.pdus[m.eventId]).toEqual({});
  });

  it('a body that is not UTF-8 JSON is refused before authentication; a non-strict one is parsed', async () => {
    const f = await setup();
    const url = `${FED}/send/bad`;
    const headers = { 'content-type': 'application/json', authorization: 'X-Matrix origin="remote.test:8448",key="ed25519:a1",sig="x"' };
    const bytes = await f.hs.app.inject({ method: 'PUT', url, headers, payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) });
    expect(bytes.statusCode).toBe(400);
    expect(bytes.json()).toMatchObject({ errcode: 'M_NOT_JSON', error: 'Content not JSON: body is not valid UTF-8' });
    const text = await f.hs.app.inject({ method: 'PUT', url, headers, payload: '{"a":' });
    expect(text.statusCode).toBe(400);
    expect(text.json().errcode).toBe('M_NOT_JSON');
    // Parsed (floats are allowed outside PDUs), so the request reaches authentication and fails it.
    const loose = await f.hs.app.inject({ method: 'PUT', url, headers, payload: '{"a":1.5}' });
    expect(loose.statusCode).toBe(401);
  });

  it('a body over the limit is refused with 413 before it is read', async () => {
    const f = await setup();
    const res = await f.hs.app.inject({
      method: 'PUT',
      url: `${FED}/send/huge`,
      headers: { 'content-length': String(MAX_TXN_BODY_BYTES + 1), 'content-type': 'application/json', authorization: 'X-Matrix origin="remote.test:8448",key="ed25519:a1",sig="x"' },
      payload: 'x'.repeat(16),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().errcode).toBe('M_TOO_LARGE');
  });

  it('a large transaction (50 PDUs of 20 KB) is accepted', async () => {
    const f = await setup();
    const pdus: JsonObject[] = [];
    let prev = (await f.hs.store.getForwardExtremities(f.roomId))[0]!;
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const m = await message(f, `${i} ${'x'.repeat(20_000)}`, { prev: [prev] });
      pdus.push(m.pdu);
      ids.push(m.eventId);
      prev = m.eventId;
    }
    const r = await sendTxn(f.hs, f.remote, pdus);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.pdus).sort()).toEqual([...ids].sort());
    expect(Object.values(r.body.pdus).every((v: any) => !v.error)).toBe(true);
  });

  it('a replayed transaction ID gets the same answer and is not handled again', async () => {
    const f = await setup();
    const m = await message(f, 'once only');
    const bad = { ...m.pdu, depth: -1 };
    let accepts = 0;
    const original = f.hs.rooms.acceptEvent.bind(f.hs.rooms);
    f.hs.rooms.acceptEvent = async (...args) => {
      accepts++;
      return original(...args);
    };
    const first = await sendTxn(f.hs, f.remote, [m.pdu, bad], [], 'same-id');
    const count = accepts;
    expect(count).toBeGreaterThan(0);
    const again = await sendTxn(f.hs, f.remote, [m.pdu, bad], [], 'same-id');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(accepts).toBe(count);
    // Another origin may use the same transaction ID.
    const other = { serverName: 'third.test', key: f.net.addKeyOnly('third.test') };
    const third = await sendTxn(f.hs, other, [], [], 'same-id');
    expect(third.body).toEqual({ pdus: {} });
  });

  it('concurrent deliveries of one transaction are handled once', async () => {
    const f = await setup();
    const m = await message(f, 'twice at once');
    let accepts = 0;
    const original = f.hs.rooms.acceptEvent.bind(f.hs.rooms);
    f.hs.rooms.acceptEvent = async (...args) => {
      accepts++;
      return original(...args);
    };
    const [a, b] = await Promise.all([sendTxn(f.hs, f.remote, [m.pdu], [], 'dup'), sendTxn(f.hs, f.remote, [m.pdu], [], 'dup')]);
    expect(a.body).toEqual(b.body);
    expect(accepts).toBe(1);
  });

  it('unsigned data from the remote is not kept (only invite/knock stripped state on member events)', async () => {
    const f = await setup();
    const m = await message(f, 'with extras');
    const withUnsigned = { ...m.pdu, unsigned: { age: 1234, redacted_because: { fake: true }, 'm.relations': { x: 1 } } };
    const r = await sendTxn(f.hs, f.remote, [withUnsigned]);
    expect(r.body.pdus[m.eventId]).toEqual({});
    const text = await f.hs.store.getEventJson(m.eventId);
    expect(JSON.parse(text!).unsigned).toBeUndefined();
    const served = await f.hs.req('GET', `${V3}/rooms/${enc(f.roomId)}/event/${enc(m.eventId)}`, { token: f.alice.access_token });
    expect(served.body.unsigned.redacted_because).toBeUndefined();
    expect(served.body.unsigned['m.relations']).toBeUndefined();
  });

  it('a transaction without X-Matrix is refused', async () => {
    const f = await setup();
    const res = await f.hs.app.inject({ method: 'PUT', url: `${FED}/send/x`, payload: { pdus: [] } });
    expect(res.statusCode).toBe(401);
  });
});
