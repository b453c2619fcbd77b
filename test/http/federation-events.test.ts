// Serving events to other servers: GET /event, /state, /state_ids, /event_auth, /backfill,
// /timestamp_to_event and POST /get_missing_events. Stored PDU texts are sent byte for byte; the
// origin must be in the room and pass its ACL; history it may not see is sent redacted.
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { topLevelArrayElements } from '../../src/federation/inbound/raw-json.js';
import { enc, FED, instance, Network, remotePdu, sendTxn, V3, type Instance } from './federation-inbound-harness.js';
import type { Session } from './users-harness.js';

const HS = 'hs.test';
const REMOTE = 'remote.test';
const REM = `@rem:${REMOTE}`;

interface Fixture {
  net: Network;
  hs: Instance;
  alice: Session;
  roomId: string;
  remote: { serverName: string; key: ReturnType<typeof generateSigningKey> };
  joinId: string;
}

async function setup(createBody: JsonObject = {}): Promise<Fixture> {
  const net = new Network();
  const hs = await instance(net, HS);
  const remote = { serverName: REMOTE, key: net.addKeyOnly(REMOTE) };
  const alice = await hs.register('alice');
  const roomId = await hs.createRoom(alice, { preset: 'public_chat', room_version: '10', ...createBody });
  const join = await remotePdu(hs, roomId, { sender: REM, type: 'm.room.member', stateKey: REM, content: { membership: 'join' } }, remote);
  expect((await sendTxn(hs, remote, [join.pdu])).body.pdus[join.eventId]).toEqual({});
  return { net, hs, alice, roomId, remote, joinId: join.eventId };
}

function get(f: Fixture, path: string, origin = f.remote) {
  return f.hs.fed(origin.serverName, origin.key, 'GET', `${FED}${path}`);
}

describe('GET /event/{eventId}', () => {
  it('serves a received PDU byte for byte as it came (whitespace and all), unsigned trimmed', async () => {
    const f = await setup();
    const m = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.message', content: { msgtype: 'm.text', body: 'héllo \u2603' } }, f.remote);
    const body = { origin: REMOTE, origin_server_ts: 1, pdus: [m.pdu], edus: [] };
    const text = JSON.stringify(body, null, 2);
    const sent = topLevelArrayElements(text, 'pdus')![0]!;
    expect(sent).toContain('\n');
    const r = await f.hs.fed(REMOTE, f.remote.key, 'PUT', `${FED}/send/pretty`, body, text);
    expect(r.body.pdus[m.eventId]).toEqual({});
    const served = await get(f, `/event/${enc(m.eventId)}`);
    expect(served.status).toBe(200);
    expect(served.raw.body).toContain(`"pdus":[${sent}]`);
    expect(served.body.origin).toBe(HS);
    expect(typeof served.body.origin_server_ts).toBe('number');
    expect(served.body.pdus).toEqual([m.pdu]);
  });

  it('serves our own events exactly as stored', async () => {
    const f = await setup();
    const id = await f.hs.send(f.alice, f.roomId, 'local');
    const served = await get(f, `/event/${enc(id)}`);
    expect(served.raw.body).toContain(`"pdus":[${(await f.hs.store.getEventJson(id))!}]`);
  });

  it('404 for an unknown event; 403 for a server with nobody in the room; 403 for a server the ACL denies', async () => {
    const f = await setup();
    const id = await f.hs.send(f.alice, f.roomId, 'private');
    expect((await get(f, `/event/${enc('$nope')}`)).status).toBe(404);
    const stranger = { serverName: 'stranger.test', key: f.net.addKeyOnly('stranger.test') };
    const r = await get(f, `/event/${enc(id)}`, stranger);
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
    await f.hs.req('PUT', `${V3}/rooms/${enc(f.roomId)}/state/m.room.server_acl/`, { token: f.alice.access_token, body: { allow: ['*'], deny: [REMOTE] } });
    expect((await get(f, `/event/${enc(id)}`)).status).toBe(403);
  });

  it('a server that left the room is refused', async () => {
    const f = await setup();
    const id = await f.hs.send(f.alice, f.roomId, 'after');
    const leave = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.member', stateKey: REM, content: { membership: 'leave' } }, f.remote);
    expect((await sendTxn(f.hs, f.remote, [leave.pdu])).body.pdus[leave.eventId]).toEqual({});
    expect((await get(f, `/event/${enc(id)}`)).status).toBe(403);
  });
});

describe('history visibility for servers', () => {
  it('with "joined" visibility, events from before the server joined are served redacted', async () => {
    const net = new Network();
    const hs = await instance(net, HS);
    const remote = { serverName: REMOTE, key: net.addKeyOnly(REMOTE) };
    const alice = await hs.register('alice');
    const roomId = await hs.createRoom(alice, { preset: 'public_chat', room_version: '10', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    const early = await hs.send(alice, roomId, 'before you came');
    const join = await remotePdu(hs, roomId, { sender: REM, type: 'm.room.member', stateKey: REM, content: { membership: 'join' } }, remote);
    await sendTxn(hs, remote, [join.pdu]);
    const late = await hs.send(alice, roomId, 'after you came');
    const f = { hs, remote } as unknown as Fixture;
    const e1 = await get(f, `/event/${enc(early)}`);
    expect(e1.status).toBe(200);
    expect(e1.body.pdus[0].content).toEqual({});
    expect(e1.body.pdus[0].signatures).toBeDefined();
    const e2 = await get(f, `/event/${enc(late)}`);
    expect(e2.body.pdus[0].content.body).toBe('after you came');
    // Its own join is visible to it (the membership after the event).
    const j = await get(f, `/event/${enc(join.eventId)}`);
    expect(j.body.pdus[0].content).toEqual({ membership: 'join' });
  });

  it('with "shared" visibility (the default), earlier history is served whole', async () => {
    const f = await setup();
    const msgs = await f.hs.messages(f.alice, f.roomId);
    const before = msgs.chunk.find((e: any) => e.type === 'm.room.create');
    const r = await get(f, `/event/${enc(before.event_id)}`);
    expect(r.body.pdus[0].content.room_version).toBe('10');
  });
});

describe('GET /state_ids and /state', () => {
  it('the state before the event, with its auth chain; /state has the same events in full', async () => {
    const f = await setup();
    const topic = await f.hs.req('PUT', `${V3}/rooms/${enc(f.roomId)}/state/m.room.topic/`, { token: f.alice.access_token, body: { topic: 't' } });
    const topicId = topic.body.event_id as string;
    const ids = await get(f, `/state_ids/${enc(f.roomId)}?event_id=${enc(topicId)}`);
    expect(ids.status).toBe(200);
    const before = await f.hs.store.getStateIdsBefore(topicId);
    expect([...ids.body.pdu_ids].sort()).toEqual([...before!.values()].sort());
    expect(ids.body.pdu_ids).not.toContain(topicId);
    expect(ids.body.pdu_ids).toContain(f.joinId);
    const chain = await f.hs.store.getAuthChainIds(ids.body.pdu_ids);
    expect([...ids.body.auth_chain_ids].sort()).toEqual([...chain].sort());
    const full = await get(f, `/state/${enc(f.roomId)}?event_id=${enc(topicId)}`);
    expect(full.body.pdus.map((p: any) => p.type).sort()).toEqual((await f.hs.store.getEvents(ids.body.pdu_ids)).map((e) => e.event.type).sort());
    expect(full.body.auth_chain).toHaveLength(ids.body.auth_chain_ids.length);
  });

  it('errors: missing event_id 400, unknown event 404, another room\'s event 404, non-member 403', async () => {
    const f = await setup();
    expect((await get(f, `/state_ids/${enc(f.roomId)}`)).status).toBe(400);
    expect((await get(f, `/state_ids/${enc(f.roomId)}?event_id=${enc('$unknown')}`)).status).toBe(404);
    const other = await f.hs.createRoom(f.alice, { preset: 'public_chat' });
    const otherEvent = (await f.hs.store.getForwardExtremities(other))[0]!;
    expect((await get(f, `/state_ids/${enc(f.roomId)}?event_id=${enc(otherEvent)}`)).status).toBe(404);
    const stranger = { serverName: 'stranger.test', key: f.net.addKeyOnly('stranger.test') };
    expect((await get(f, `/state/${enc(f.roomId)}?event_id=${enc(f.joinId)}`, stranger)).status).toBe(403);
  });
});

describe('GET /event_auth', () => {
  it('the auth chain of the event', async () => {
    const f = await setup();
    const id = await f.hs.send(f.alice, f.roomId, 'x');
    const r = await get(f, `/event_auth/${enc(f.roomId)}/${enc(id)}`);
    expect(r.status).toBe(200);
    const v10 = requireRoomVersion('10');
    const served = r.body.auth_chain.map((p: JsonObject) => computeEventId(p, v10)).sort();
    expect(served).toEqual([...(await f.hs.store.getAuthChainIds([id]))].sort());
    expect(r.body.auth_chain.map((p: any) => p.type).sort()).toEqual(['m.room.create', 'm.room.member', 'm.room.power_levels']);
  });
});

describe('GET /backfill and POST /get_missing_events', () => {
  async function chain(f: Fixture, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await f.hs.send(f.alice, f.roomId, `m${i}`));
    return ids;
  }

  it('/backfill: the given events and their predecessors, newest first, at most limit', async () => {
    const f = await setup();
    const ids = await chain(f, 5);
    const r = await get(f, `/backfill/${enc(f.roomId)}?v=${enc(ids[4]!)}&limit=3`);
    expect(r.status).toBe(200);
    expect(r.body.origin).toBe(HS);
    expect(r.body.pdus.map((p: any) => p.content.body)).toEqual(['m4', 'm3', 'm2']);
    const all = await get(f, `/backfill/${enc(f.roomId)}?v=${enc(ids[4]!)}&v=${enc(ids[1]!)}&limit=1000`);
    expect(all.body.pdus.length).toBe((await f.hs.store.getEventsByTopology(f.roomId, { direction: 'b', limit: 1000 })).length);
    expect(all.body.pdus.at(-1).type).toBe('m.room.create');
    expect((await get(f, `/backfill/${enc(f.roomId)}?limit=3`)).status).toBe(400);
    expect((await get(f, `/backfill/${enc(f.roomId)}?v=${enc(ids[4]!)}`)).status).toBe(400);
  });

  it('/backfill does not serve rejected events', async () => {
    const f = await setup();
    const pl = await f.hs.store.getCurrentStateEvent(f.roomId, 'm.room.power_levels', '');
    const bad = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.power_levels', stateKey: '', content: { ...(pl!.event.content as JsonObject), users: { [REM]: 100 } } }, f.remote);
    await sendTxn(f.hs, f.remote, [bad.pdu]);
    const after = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.message', content: { msgtype: 'm.text', body: 'after' }, prev: [bad.eventId] }, f.remote);
    expect((await sendTxn(f.hs, f.remote, [after.pdu])).body.pdus[after.eventId]).toEqual({});
    const r = await get(f, `/backfill/${enc(f.roomId)}?v=${enc(after.eventId)}&limit=10`);
    const served = r.body.pdus.map((p: any) => p.type);
    expect(served[0]).toBe('m.room.message');
    expect(r.raw.body).not.toContain(`"users":{"${REM}":100}`);
    // /event still serves it (a peer can then judge it itself).
    expect((await get(f, `/event/${enc(bad.eventId)}`)).status).toBe(200);
  });

  it('/get_missing_events: breadth-first from latest_events, stopping at earliest_events, oldest first', async () => {
    const f = await setup();
    const ids = await chain(f, 6);
    const post = (body: unknown) => f.hs.fed(REMOTE, f.remote.key, 'POST', `${FED}/get_missing_events/${enc(f.roomId)}`, body as JsonObject);
    const r = await post({ earliest_events: [ids[1]], latest_events: [ids[5]], limit: 10 });
    expect(r.status).toBe(200);
    expect(r.body.events.map((p: any) => p.content.body)).toEqual(['m2', 'm3', 'm4']);
    const limited = await post({ earliest_events: [ids[0]], latest_events: [ids[5]], limit: 2 });
    expect(limited.body.events.map((p: any) => p.content.body)).toEqual(['m3', 'm4']);
    const deep = await post({ earliest_events: [], latest_events: [ids[5]], limit: 10, min_depth: (await f.hs.store.getEvent(ids[3]!))!.depth });
    expect(deep.body.events.map((p: any) => p.content.body)).toEqual(['m3', 'm4']);
    expect((await post({ latest_events: [ids[5]] })).status).toBe(400);
    const stranger = { serverName: 'stranger.test', key: f.net.addKeyOnly('stranger.test') };
    const refused = await f.hs.fed(stranger.serverName, stranger.key, 'POST', `${FED}/get_missing_events/${enc(f.roomId)}`, { earliest_events: [], latest_events: [ids[5]!] });
    expect(refused.status).toBe(403);
  });
});

describe('GET /timestamp_to_event', () => {
  it('the closest event at or after (f) / at or before (b) the time', async () => {
    const f = await setup();
    f.net.clock.now += 10_000;
    const t1 = f.net.clock.now;
    const first = await f.hs.send(f.alice, f.roomId, 'first');
    f.net.clock.now += 10_000;
    const second = await f.hs.send(f.alice, f.roomId, 'second');
    const fwd = await get(f, `/timestamp_to_event/${enc(f.roomId)}?ts=${t1 + 1}&dir=f`);
    expect(fwd.body).toEqual({ event_id: second, origin_server_ts: t1 + 10_000 });
    const back = await get(f, `/timestamp_to_event/${enc(f.roomId)}?ts=${t1 + 1}&dir=b`);
    expect(back.body).toEqual({ event_id: first, origin_server_ts: t1 });
    expect((await get(f, `/timestamp_to_event/${enc(f.roomId)}?ts=${t1 + 50_000}&dir=f`)).status).toBe(404);
    expect((await get(f, `/timestamp_to_event/${enc(f.roomId)}?ts=1&dir=x`)).status).toBe(400);
  });
});
