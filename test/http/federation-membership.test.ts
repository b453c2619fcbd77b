// The membership handshakes between in-process servers (federation-membership-harness.ts): joins by
// alias and by room ID (make_join with every room version, send_join v2 with the v1 fallback, the
// answer verified and stored), the resident's checks on make_join/send_join (versions, origins,
// forged or altered events, restricted rooms signed as the authorising server), invites both ways
// with the invite state in /sync, rejections through make_leave/send_leave (or locally when the
// room's servers are down), knocks, and a rejoin after a kick on stale state.
import { afterEach, describe, expect, it } from 'vitest';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent, verifyEventSignature } from '../../src/core/events/signing.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { isJsonObject, type JsonObject } from '../../src/core/json/types.js';
import { enc, federation, signedRequest, V3, type Network, type Node } from './federation-membership-harness.js';

let closeAll: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeAll?.();
  closeAll = undefined;
});

async function pair(names?: string[]): Promise<{ net: Network; A: Node; B: Node; C?: Node }> {
  const f = await federation(names);
  closeAll = f.close;
  return { net: f.net, A: f.nodes[0]!, B: f.nodes[1]!, ...(f.nodes[2] ? { C: f.nodes[2] } : {}) };
}

async function publicRoomWithAlias(A: Node, owner: { access_token: string }, alias: string, extra: JsonObject = {}): Promise<string> {
  return A.createRoom(owner as never, { preset: 'public_chat', room_alias_name: alias, name: 'Lobby', ...extra });
}

describe('remote joins', () => {
  it('a user of B joins a public room of A by alias: make_join with every version, send_join v2, state stored on B', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await publicRoomWithAlias(A, alice, 'lobby');
    await A.req('PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/t1`, { token: alice.access_token, body: { msgtype: 'm.text', body: 'hello' } });

    const r = await B.req('POST', `${V3}/join/${enc('#lobby:a.test')}`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(r.body.room_id).toBe(roomId);

    // The alias was resolved through /query/directory; make_join offered every version.
    expect(net.sent('/_matrix/federation/v1/query/directory', 'b.test', 'a.test')).toHaveLength(1);
    const make = net.sent('/_matrix/federation/v1/make_join/', 'b.test', 'a.test')[0]!;
    for (const v of ['1', '2', '6', '10', '11', '12']) expect(make.path).toContain(`ver=${v}`);
    expect(net.sent('/_matrix/federation/v2/send_join/', 'b.test', 'a.test')).toHaveLength(1);
    expect(net.sent('/_matrix/federation/v1/send_join/')).toHaveLength(0);

    // Both servers agree on the membership and the room's state.
    expect(await A.membership(roomId, bob.user_id)).toBe('join');
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
    expect(await B.membership(roomId, alice.user_id)).toBe('join');
    const stateA = await A.services.store.getCurrentStateIds(roomId);
    const stateB = await B.services.store.getCurrentStateIds(roomId);
    expect(new Map(stateB)).toEqual(new Map(stateA));
    const name = await B.services.store.getCurrentStateEvent(roomId, 'm.room.name', '');
    expect(name?.event.content.name).toBe('Lobby');
    // The state events are outliers on B; the join is an ordinary event there.
    const createB = await B.services.store.getCurrentStateEvent(roomId, 'm.room.create', '');
    expect(createB?.outlier).toBe(true);
    const joinId = stateB.get(`m.room.member\u0000${bob.user_id}`)!;
    expect((await B.services.store.getEvent(joinId))?.outlier).toBe(false);
    // B does not fan its join out itself: the resident does.
    expect(B.skipped).toContain(joinId);
    // The client sees the room: /joined_rooms and state through the client API.
    const joined = await B.req('GET', `${V3}/joined_rooms`, { token: bob.access_token });
    expect(joined.body.joined_rooms).toEqual([roomId]);
    const st = await B.req('GET', `${V3}/rooms/${enc(roomId)}/state/m.room.name`, { token: bob.access_token });
    expect(st.body).toEqual({ name: 'Lobby' });
  });

  it('joins by room ID with server_name, and the join is sent by the resident to the other servers', async () => {
    const { A, B, C } = await pair(['a.test', 'b.test', 'c.test']);
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const carol = await C!.register('carol');
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    expect((await B.req('POST', `${V3}/join/${enc(roomId)}?server_name=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    // Carol joins through B: B is resident now.
    expect((await C!.req('POST', `${V3}/join/${enc(roomId)}?via=b.test`, { token: carol.access_token, body: {} })).status).toBe(200);
    const carolJoin = (await B.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${carol.user_id}`)!;
    const queued = B.fanout.find((f) => f.eventId === carolJoin);
    expect(queued?.destinations).toEqual(['a.test']);
    expect(await C!.membership(roomId, alice.user_id)).toBe('join');
    expect(await C!.membership(roomId, bob.user_id)).toBe('join');
  });

  it('falls back to send_join v1 only when the peer does not know v2 (404 / 400 M_UNRECOGNIZED)', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', room_version: '10' });
    net.interceptor = (r) => (r.path.startsWith('/_matrix/federation/v2/send_join/') ? { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' } } : undefined);
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(net.sent('/_matrix/federation/v1/send_join/', 'b.test', 'a.test')).toHaveLength(1);
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
    expect(await A.membership(roomId, bob.user_id)).toBe('join');
  });

  it('does not fall back to v1 on other errors, and tries the next server', async () => {
    const { net, A, B, C } = await pair(['a.test', 'b.test', 'c.test']);
    const alice = await A.register('alice');
    const carol = await C!.register('carol');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    expect((await C!.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: carol.access_token, body: {} })).status).toBe(200);
    net.interceptor = (r) =>
      r.destination === 'a.test' && r.path.startsWith('/_matrix/federation/v2/send_join/') ? { status: 500, body: { errcode: 'M_UNKNOWN', error: 'boom' } } : undefined;
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test&via=c.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(net.sent('/_matrix/federation/v1/send_join/')).toHaveLength(0);
    expect(net.sent('/_matrix/federation/v2/send_join/', 'b.test', 'c.test')).toHaveLength(1);
    expect(await C!.membership(roomId, bob.user_id)).toBe('join');
    // C, the resident that took the join, queues it for a.test (this harness's sender only records).
    const joinId = (await C!.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${bob.user_id}`)!;
    expect(C!.fanout.find((f) => f.eventId === joinId)?.destinations).toEqual(['a.test']);
  });

  it('send_join answers: events with bad signatures are dropped, those with a bad content hash redacted', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', name: 'Real name', topic: 'Real topic' });
    // A tampering peer: the name's content changed (hashed, not signed: the event is redacted), the
    // topic's timestamp changed (signed: the event is dropped).
    net.transform = (r, text) => {
      if (!r.path.startsWith('/_matrix/federation/v2/send_join/')) return text;
      const body = JSON.parse(text) as JsonObject;
      for (const e of [...(body.state as JsonObject[]), ...(body.auth_chain as JsonObject[])]) {
        if (e.type === 'm.room.name') (e.content as JsonObject).name = 'Forged name';
        if (e.type === 'm.room.topic') e.origin_server_ts = 1;
      }
      return JSON.stringify(body);
    };
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect((await B.services.store.getCurrentStateEvent(roomId, 'm.room.name', ''))?.event.content).toEqual({});
    expect(await B.services.store.getCurrentStateEvent(roomId, 'm.room.topic', '')).toBeUndefined();
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
  });

  it('an event of the answer that its own auth events do not allow is stored rejected and left out of the state', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', name: 'Real name' });
    let forgedId = '';
    net.transform = (r, text) => {
      if (!r.path.startsWith('/_matrix/federation/v2/send_join/')) return text;
      const body = JSON.parse(text) as JsonObject;
      const state = body.state as JsonObject[];
      const i = state.findIndex((e) => e.type === 'm.room.name');
      // Properly signed by a.test, but its sender is not in the room.
      const { signatures: _s, hashes: _h, ...rest } = state[i]!;
      const forged = hashAndSignEvent({ ...rest, sender: '@mallory:a.test', content: { name: 'Mallory was here' } }, 'a.test', A.key, requireRoomVersion('12'));
      forgedId = computeEventId(forged, requireRoomVersion('12'));
      state[i] = forged;
      return JSON.stringify(body);
    };
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(await B.services.store.getCurrentStateEvent(roomId, 'm.room.name', '')).toBeUndefined();
    const stored = await B.services.store.getEvent(forgedId);
    expect(stored?.rejectedReason).toMatch(/auth events/);
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
  });

  it('a forged create event in the answer fails the join and nothing is stored', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    net.transform = (r, text) => {
      if (!r.path.startsWith('/_matrix/federation/v2/send_join/')) return text;
      const body = JSON.parse(text) as JsonObject;
      for (const e of [...(body.state as JsonObject[]), ...(body.auth_chain as JsonObject[])]) {
        if (e.type === 'm.room.create') (e.content as JsonObject).room_version = '1';
      }
      return JSON.stringify(body);
    };
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(502);
    expect(await B.membership(roomId, bob.user_id)).toBeUndefined();
    expect(B.services.store.core.room(roomId)?.currentStateGroup ?? null).toBeNull();
  });

  it('a room version B does not support is refused by make_join with M_INCOMPATIBLE_ROOM_VERSION', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', room_version: '11' });
    const path = `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc('@bob:b.test')}?ver=1&ver=2`;
    const r = await signedRequest(A, B, 'GET', path);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ errcode: 'M_INCOMPATIBLE_ROOM_VERSION', room_version: '11' });
    // Without ver at all the origin only knows v1.
    const r2 = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc('@bob:b.test')}`);
    expect(r2.body.errcode).toBe('M_INCOMPATIBLE_ROOM_VERSION');
    const ok = await signedRequest(A, B, 'GET', `${path}&ver=11`);
    expect(ok.status).toBe(200);
    expect(ok.body.room_version).toBe('11');
    const t = ok.body.event as JsonObject;
    expect(t).toMatchObject({ type: 'm.room.member', room_id: roomId, sender: '@bob:b.test', state_key: '@bob:b.test', content: { membership: 'join' } });
    expect(t.signatures).toBeUndefined();
    expect(t.hashes).toBeUndefined();
  });

  it('make_join refuses users of other servers (403), unknown rooms (404) and users who may not join (403)', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const open = await A.createRoom(alice, { preset: 'public_chat' });
    const closed = await A.createRoom(alice, { preset: 'private_chat' });
    const ver = 'ver=10&ver=11&ver=12';
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(open)}/${enc('@eve:c.test')}?${ver}`)).status).toBe(403);
    const unknown = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc('!nope:a.test')}/${enc('@bob:b.test')}?${ver}`);
    expect(unknown.status).toBe(404);
    const refused = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(closed)}/${enc('@bob:b.test')}?${ver}`);
    expect(refused.status).toBe(403);
    expect(refused.body.errcode).toBe('M_FORBIDDEN');
    // The client of B sees the 403 too.
    const bob = await B.register('bob');
    const r = await B.req('POST', `${V3}/join/${enc(closed)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(403);
  });
});

describe('send_join checks (the resident server)', () => {
  async function template(A: Node, B: Node, roomId: string, userId: string) {
    const r = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}?ver=10`);
    expect(r.status).toBe(200);
    return r.body.event as JsonObject;
  }
  const v10 = requireRoomVersion('10');

  it('send_join and send_leave, v1 and v2: a body that is not UTF-8 JSON is refused before authentication', async () => {
    const { A } = await pair();
    const headers = { 'content-type': 'application/json', authorization: 'X-Matrix origin="b.test",key="ed25519:a1",sig="x"' };
    for (const path of ['v1/send_join', 'v2/send_join', 'v1/send_leave', 'v2/send_leave']) {
      const url = `/_matrix/federation/${path}/${enc('!r:a.test')}/${enc('$e')}`;
      const bytes = await A.app.inject({ method: 'PUT', url, headers, payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) });
      expect(bytes.statusCode, url).toBe(400);
      expect(bytes.json(), url).toMatchObject({ errcode: 'M_NOT_JSON', error: 'Content not JSON: body is not valid UTF-8' });
      const text = await A.app.inject({ method: 'PUT', url, headers, payload: '[1,' });
      expect(text.statusCode, url).toBe(400);
      expect(text.json().errcode, url).toBe('M_NOT_JSON');
      const parsed = await A.app.inject({ method: 'PUT', url, headers, payload: '{}' });
      expect(parsed.statusCode, url).toBe(401);
    }
  });

  it('refuses joins for users of another server, with bad signatures, altered content or a wrong event ID; state unchanged', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', room_version: '10' });
    const before = await A.services.store.getCurrentStateIds(roomId);
    const t = await template(A, B, roomId, '@bob:b.test');
    const send = (pdu: JsonObject, id = computeEventId(pdu, v10)) => signedRequest(A, B, 'PUT', `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(id)}`, pdu);

    // A join for a user of c.test, sent (and signed) by b.test.
    const forged = hashAndSignEvent({ ...t, sender: '@eve:c.test', state_key: '@eve:c.test', origin_server_ts: Date.now() }, 'b.test', B.key, v10);
    const r1 = await send(forged);
    expect(r1.status).toBe(400);
    expect(r1.body.errcode).toBe('M_INVALID_PARAM');
    // Signed with a key b.test does not have.
    const badSig = hashAndSignEvent({ ...t, origin_server_ts: Date.now() }, 'b.test', generateSigningKey(B.key.keyId.split(':')[1]), v10);
    expect((await send(badSig)).status).toBe(400);
    // Content changed after hashing and signing.
    const good = hashAndSignEvent({ ...t, origin_server_ts: Date.now() }, 'b.test', B.key, v10);
    const altered = { ...good, content: { membership: 'join', displayname: 'changed' } };
    expect((await send(altered, computeEventId(altered, v10))).status).toBe(400);
    // An event ID in the path that is not the event's.
    expect((await send(good, '$notthisevent')).status).toBe(400);
    // Not a join.
    const leave = hashAndSignEvent({ ...t, content: { membership: 'leave' }, origin_server_ts: Date.now() }, 'b.test', B.key, v10);
    expect((await send(leave)).status).toBe(400);
    expect(new Map(await A.services.store.getCurrentStateIds(roomId))).toEqual(new Map(before));

    // The genuine join is accepted; v1 answers [200, {...}].
    const v1 = await signedRequest(A, B, 'PUT', `/_matrix/federation/v1/send_join/${enc(roomId)}/${enc(computeEventId(good, v10))}`, good);
    expect(v1.status).toBe(200);
    expect(Array.isArray(v1.body)).toBe(true);
    expect(v1.body[0]).toBe(200);
    const answer = v1.body[1] as JsonObject;
    expect((answer.state as JsonObject[]).some((e) => e.type === 'm.room.create')).toBe(true);
    expect(answer.origin).toBe('a.test');
    expect(await A.membership(roomId, '@bob:b.test')).toBe('join');
  });

  it('serves the state as stored, byte for byte', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', room_version: '10', name: 'n' });
    const t = await template(A, B, roomId, '@bob:b.test');
    const good = hashAndSignEvent({ ...t, origin_server_ts: Date.now() }, 'b.test', B.key, v10);
    const r = await signedRequest(A, B, 'PUT', `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(computeEventId(good, v10))}`, good);
    expect(r.status).toBe(200);
    const name = (await A.services.store.getCurrentStateEvent(roomId, 'm.room.name', ''))!;
    expect(r.text).toContain(name.jsonText);
    expect(r.body.members_omitted).toBe(false);
    expect(r.body.servers_in_room).toEqual(['a.test']);
    expect(r.body.event).toBeUndefined();
  });

  it('restricted rooms: make_join names one of our users and send_join signs the join as the authorising server', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const space = await A.createRoom(alice, { preset: 'public_chat' });
    const roomId = await A.createRoom(alice, {
      preset: 'private_chat',
      room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    // Not in the allowed room yet: 403.
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(bob.user_id)}?ver=10`)).status).toBe(403);
    expect((await B.req('POST', `${V3}/join/${enc(space)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    const t = await template(A, B, roomId, bob.user_id);
    expect((t.content as JsonObject).join_authorised_via_users_server).toBe(alice.user_id);

    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    const joinId = (await B.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${bob.user_id}`)!;
    const stored = (await B.services.store.getEvent(joinId))!.event.json;
    const sigs = stored.signatures as Record<string, Record<string, string>>;
    expect(Object.keys(sigs).sort()).toEqual(['a.test', 'b.test']);
    expect(verifyEventSignature(stored, 'a.test', A.key.keyId, A.key.publicKey, v10)).toBe(true);
    expect(await A.membership(roomId, bob.user_id)).toBe('join');
  });

  it('restricted rooms where no user of ours may invite: 400 M_UNABLE_TO_GRANT_JOIN', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const space = await A.createRoom(alice, { preset: 'public_chat' });
    const roomId = await A.createRoom(alice, {
      preset: 'private_chat',
      room_version: '10',
      power_level_content_override: { invite: 150 },
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    expect((await B.req('POST', `${V3}/join/${enc(space)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    const r = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(bob.user_id)}?ver=10`);
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_UNABLE_TO_GRANT_JOIN');
  });
});

describe('invites, rejections and knocks', () => {
  it('invite from A to a user of B: signed by B, in B\'s /sync with the invite state, then accepted by joining', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'private_chat', name: 'Secret' });
    const r = await A.req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: alice.access_token, body: { user_id: bob.user_id } });
    expect(r.status).toBe(200);
    const sent = net.sent('/_matrix/federation/v2/invite/', 'a.test', 'b.test');
    expect(sent).toHaveLength(1);
    const body = sent[0]!.body as JsonObject;
    expect(body.room_version).toBe('12');
    // The invite state holds full PDUs (spec v1.16), the create event among them.
    const state = body.invite_room_state as JsonObject[];
    expect(state.some((e) => e.type === 'm.room.create' && isJsonObject(e.signatures))).toBe(true);
    expect(await A.membership(roomId, bob.user_id)).toBe('invite');
    const inviteId = (await A.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${bob.user_id}`)!;
    const invite = (await A.services.store.getEvent(inviteId))!.event.json;
    expect(Object.keys(invite.signatures as JsonObject).sort()).toEqual(['a.test', 'b.test']);

    // On B: an out-of-band invite, in /sync with the stripped state.
    expect(await B.membership(roomId, bob.user_id)).toBe('invite');
    const sync = await B.req('GET', `${V3}/sync`, { token: bob.access_token });
    expect(sync.status).toBe(200);
    const inv = sync.body.rooms.invite[roomId];
    const events = inv.invite_state.events as JsonObject[];
    expect(events.find((e) => e.type === 'm.room.name')?.content).toEqual({ name: 'Secret' });
    expect(events.find((e) => e.type === 'm.room.member' && e.state_key === bob.user_id)?.content).toMatchObject({ membership: 'invite' });

    // Bob accepts: the join goes through the inviter's server (no via needed, v12 room IDs name none).
    const j = await B.req('POST', `${V3}/rooms/${enc(roomId)}/join`, { token: bob.access_token, body: {} });
    expect(j.status).toBe(200);
    expect(await A.membership(roomId, bob.user_id)).toBe('join');
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
    const sync2 = await B.req('GET', `${V3}/sync?since=${enc(sync.body.next_batch)}`, { token: bob.access_token });
    expect(sync2.body.rooms.join[roomId]).toBeDefined();
  });

  it('invites of a user of B that B refuses (unknown user) fail on A with 404', async () => {
    const { A } = await pair();
    const alice = await A.register('alice');
    const roomId = await A.createRoom(alice, { preset: 'private_chat' });
    const r = await A.req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: alice.access_token, body: { user_id: '@nobody:b.test' } });
    expect(r.status).toBe(404);
    expect(await A.membership(roomId, '@nobody:b.test')).toBeUndefined();
  });

  it('the invitee server refuses invites not sent by the sender\'s server, and altered ones', async () => {
    const { A, B, C } = await pair(['a.test', 'b.test', 'c.test']);
    const alice = await A.register('alice');
    await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'private_chat', room_version: '10' });
    const v10 = requireRoomVersion('10');
    const built = await A.services.rooms.buildEvent(roomId, { type: 'm.room.member', stateKey: '@bob:b.test', content: { membership: 'invite' }, sender: alice.user_id });
    const path = `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(built.eventId)}`;
    // c.test relays a.test's invite: refused.
    const relayed = await signedRequest(B, C!, 'PUT', path, { room_version: '10', event: built.pdu, invite_room_state: [] });
    expect(relayed.status).toBe(400);
    const altered = { ...built.pdu, content: { membership: 'invite', reason: 'x' } };
    const r2 = await signedRequest(B, A, 'PUT', `/_matrix/federation/v2/invite/${enc(roomId)}/${enc(computeEventId(altered, v10))}`, { room_version: '10', event: altered, invite_room_state: [] });
    expect(r2.status).toBe(400);
    expect(await B.membership(roomId, '@bob:b.test')).toBeUndefined();
    const ok = await signedRequest(B, A, 'PUT', path, { room_version: '10', event: built.pdu, invite_room_state: [] });
    expect(ok.status).toBe(200);
    expect(verifyEventSignature(ok.body.event, 'b.test', B.key.keyId, B.key.publicKey, v10)).toBe(true);
  });

  it('a user of B rejects an invite: make_leave/send_leave through the inviter, the leave on both sides', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'private_chat' });
    expect((await A.req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: alice.access_token, body: { user_id: bob.user_id } })).status).toBe(200);
    const first = await B.req('GET', `${V3}/sync`, { token: bob.access_token });
    const r = await B.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: bob.access_token, body: { reason: 'no thanks' } });
    expect(r.status).toBe(200);
    expect(net.sent('/_matrix/federation/v1/make_leave/', 'b.test', 'a.test')).toHaveLength(1);
    expect(net.sent('/_matrix/federation/v2/send_leave/', 'b.test', 'a.test')).toHaveLength(1);
    expect(await A.membership(roomId, bob.user_id)).toBe('leave');
    expect(await B.membership(roomId, bob.user_id)).toBe('leave');
    const leaveId = (await A.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${bob.user_id}`)!;
    expect((await A.services.store.getEvent(leaveId))!.event.content).toEqual({ membership: 'leave', reason: 'no thanks' });
    // /sync moves the room from invite to leave.
    const next = await B.req('GET', `${V3}/sync?since=${enc(first.body.next_batch)}`, { token: bob.access_token });
    expect(next.body.rooms?.leave?.[roomId]).toBeDefined();
    expect(next.body.rooms?.invite?.[roomId]).toBeUndefined();
  });

  it('rejecting an invite while the room\'s servers are down rejects it locally', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'private_chat' });
    expect((await A.req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: alice.access_token, body: { user_id: bob.user_id } })).status).toBe(200);
    net.down.add('a.test');
    const r = await B.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(await B.membership(roomId, bob.user_id)).toBe('leave');
    expect(await A.membership(roomId, bob.user_id)).toBe('invite');
  });

  it('knocks on a room of A: make_knock/send_knock, the knock state kept for /sync; the knock rescinded by leaving', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, {
      preset: 'private_chat',
      name: 'Knock here',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }],
    });
    const r = await B.req('POST', `${V3}/knock/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: { reason: 'let me in' } });
    expect(r.status).toBe(200);
    expect(net.sent('/_matrix/federation/v1/make_knock/', 'b.test', 'a.test')[0]!.path).toContain('ver=12');
    expect(await A.membership(roomId, bob.user_id)).toBe('knock');
    expect(await B.membership(roomId, bob.user_id)).toBe('knock');
    const sync = await B.req('GET', `${V3}/sync`, { token: bob.access_token });
    const knock = sync.body.rooms.knock[roomId];
    expect((knock.knock_state.events as JsonObject[]).find((e) => e.type === 'm.room.name')?.content).toEqual({ name: 'Knock here' });
    // Alice lets bob in: an invite (over federation), then bob joins.
    expect((await A.req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: alice.access_token, body: { user_id: bob.user_id } })).status).toBe(200);
    expect(await B.membership(roomId, bob.user_id)).toBe('invite');
    expect((await B.req('POST', `${V3}/join/${enc(roomId)}`, { token: bob.access_token, body: {} })).status).toBe(200);
    expect(await A.membership(roomId, bob.user_id)).toBe('join');
  });

  it('a knock rescinded through make_leave/send_leave', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, {
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }],
    });
    expect((await B.req('POST', `${V3}/knock/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    expect((await B.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: bob.access_token, body: {} })).status).toBe(200);
    expect(await A.membership(roomId, bob.user_id)).toBe('leave');
    expect(await B.membership(roomId, bob.user_id)).toBe('leave');
  });

  it('knocking on a room that does not allow it is refused (403)', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'private_chat' });
    const r = await B.req('POST', `${V3}/knock/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(403);
    expect(await B.membership(roomId, bob.user_id)).toBeUndefined();
  });
});

describe('rejoining', () => {
  it('a user of B kicked from a room of A rejoins: the resident state replaces B\'s stale state', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    expect((await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    // The kick happens on A; B is not told here (no sender in this harness): B's state is stale.
    expect((await A.req('POST', `${V3}/rooms/${enc(roomId)}/kick`, { token: alice.access_token, body: { user_id: bob.user_id } })).status).toBe(200);
    expect((await A.req('PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic/`, { token: alice.access_token, body: { topic: 'after' } })).status).toBe(200);
    // Tell B about the kick the way /send would, so that no user of B is left in the room.
    const kickId = (await A.services.store.getCurrentStateIds(roomId)).get(`m.room.member\u0000${bob.user_id}`)!;
    const kick = (await A.services.store.getEvent(kickId))!;
    const txn = await signedRequest(B, A, 'PUT', '/_matrix/federation/v1/send/t1', { origin: 'a.test', origin_server_ts: Date.now(), pdus: [JSON.parse(kick.jsonText)] });
    expect(txn.status).toBe(200);
    expect(await B.membership(roomId, bob.user_id)).toBe('leave');
    const r = await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(await B.membership(roomId, bob.user_id)).toBe('join');
    expect((await B.services.store.getCurrentStateEvent(roomId, 'm.room.topic', ''))?.event.content).toEqual({ topic: 'after' });
    expect(new Map(await B.services.store.getCurrentStateIds(roomId))).toEqual(new Map(await A.services.store.getCurrentStateIds(roomId)));
  });
});

describe('history after a remote join', () => {
  it('a hole in B\'s history (events it missed) is backfilled when its client pages back through it', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    expect((await B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    const sendA = async (body: string) => {
      const r = await A.req('PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/${enc(body)}`, { token: alice.access_token, body: { msgtype: 'm.text', body } });
      expect(r.status).toBe(200);
      return r.body.event_id as string;
    };
    // This harness's sender only records: B hears of the last message alone, as after an outage.
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) sent.push(`m${i}`);
    let lastId = '';
    for (const b of sent) lastId = await sendA(b);
    const last = (await A.services.store.getEvent(lastId))!;
    const txn = await signedRequest(B, A, 'PUT', '/_matrix/federation/v1/send/hole1', { origin: 'a.test', origin_server_ts: Date.now(), pdus: [JSON.parse(last.jsonText)] });
    expect(txn.status).toBe(200);
    const bodies: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await B.req('GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=10${from ? `&from=${enc(from)}` : ''}`, { token: bob.access_token });
      expect(r.status).toBe(200);
      for (const e of r.body.chunk as { type: string; content: { body?: string } }[]) if (e.type === 'm.room.message') bodies.push(e.content.body!);
      if (!r.body.end) break;
      from = r.body.end;
    }
    expect(bodies.reverse()).toEqual(sent);
  });
});

describe('concurrent remote joins', () => {
  it('two users of B joining the same room of A at once both end up joined on both servers', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const [bob, bea] = [await B.register('bob'), await B.register('bea')];
    const roomId = await A.createRoom(alice, { preset: 'public_chat' });
    const [r1, r2] = await Promise.all([
      B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bob.access_token, body: {} }),
      B.req('POST', `${V3}/join/${enc(roomId)}?via=a.test`, { token: bea.access_token, body: {} }),
    ]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    for (const node of [A, B]) {
      expect(await node.membership(roomId, bob.user_id)).toBe('join');
      expect(await node.membership(roomId, bea.user_id)).toBe('join');
    }
  });
});
