// The federation queries between in-process servers: /query/directory and remote aliases,
// /query/profile and remote profiles, /user/devices, /user/keys/query and /claim behind the client
// /keys endpoints, /publicRooms both ways, /hierarchy and the client hierarchy walk (pagination,
// rooms of another server), /openid/userinfo, and federated media (multipart answers, the remote
// fetcher with its legacy fallback).
import { afterEach, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { signJson } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { createNode, enc, federation, Network, signedRequest, V3, type Node } from './federation-membership-harness.js';
import type { Session } from './users-harness.js';

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

describe('directory and profiles', () => {
  it('/query/directory answers for our aliases only; B resolves A\'s aliases for its clients', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const roomId = await A.createRoom(alice, { preset: 'public_chat', room_alias_name: 'town' });
    const ok = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc('#town:a.test')}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ room_id: roomId, servers: ['a.test'] });
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc('#none:a.test')}`)).status).toBe(404);
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc('#town:b.test')}`)).status).toBe(404);
    expect((await signedRequest(A, B, 'GET', '/_matrix/federation/v1/query/directory')).body.errcode).toBe('M_MISSING_PARAM');
    // Unsigned requests never reach the handler.
    expect((await A.app.inject({ method: 'GET', url: `/_matrix/federation/v1/query/directory?room_alias=${enc('#town:a.test')}` })).statusCode).toBe(401);

    const client = await B.req('GET', `${V3}/directory/room/${enc('#town:a.test')}`, { token: bob.access_token });
    expect(client.status).toBe(200);
    expect(client.body).toEqual({ room_id: roomId, servers: ['a.test'] });
    expect((await B.req('GET', `${V3}/directory/room/${enc('#nope:a.test')}`, { token: bob.access_token })).status).toBe(404);
  });

  it('/query/profile and GET /profile of another server\'s user', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    await A.req('PUT', `${V3}/profile/${enc(alice.user_id)}/displayname`, { token: alice.access_token, body: { displayname: 'Alice A.' } });
    await A.req('PUT', `${V3}/profile/${enc(alice.user_id)}/avatar_url`, { token: alice.access_token, body: { avatar_url: 'mxc://a.test/pic' } });
    const full = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/profile?user_id=${enc(alice.user_id)}`);
    expect(full.body).toEqual({ displayname: 'Alice A.', avatar_url: 'mxc://a.test/pic' });
    const one = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/profile?user_id=${enc(alice.user_id)}&field=displayname`);
    expect(one.body).toEqual({ displayname: 'Alice A.' });
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/profile?user_id=${enc('@ghost:a.test')}`)).status).toBe(404);
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/query/profile?user_id=${enc('@bob:b.test')}`)).status).toBe(404);

    expect((await B.req('GET', `${V3}/profile/${enc(alice.user_id)}`)).body).toEqual({ displayname: 'Alice A.', avatar_url: 'mxc://a.test/pic' });
    expect((await B.req('GET', `${V3}/profile/${enc(alice.user_id)}/displayname`)).body).toEqual({ displayname: 'Alice A.' });
    expect((await B.req('GET', `${V3}/profile/${enc('@ghost:a.test')}`)).status).toBe(404);
    expect((await B.req('GET', `${V3}/profile/${enc('@x:unreachable.test')}`)).status).toBe(502);
  });
});

describe('devices and keys', () => {
  interface Dev {
    session: Session;
    key: SigningKey;
  }
  async function uploadKeys(node: Node, session: Session): Promise<Dev> {
    const key = generateSigningKey(session.device_id);
    const deviceKeys = signJson(
      {
        user_id: session.user_id,
        device_id: session.device_id,
        algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
        keys: { [`curve25519:${session.device_id}`]: 'Y3VydmUyNTUxOWtleWN1cnZlMjU1MTlrZXljdXJ2ZTI', [`ed25519:${session.device_id}`]: key.publicKey },
      },
      session.user_id,
      key,
    );
    const otk = signJson({ key: 'b25ldGltZWtleW9uZXRpbWVrZXlvbmV0aW1la2V5b24' }, session.user_id, key);
    const r = await node.req('POST', `${V3}/keys/upload`, {
      token: session.access_token,
      body: { device_keys: deviceKeys, one_time_keys: { 'signed_curve25519:AAAAAQ': otk } },
    });
    expect(r.status).toBe(200);
    return { session, key };
  }

  it('/user/devices lists a user\'s devices with their keys and names; other servers\' users are refused', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    await uploadKeys(A, alice);
    await A.req('PUT', `${V3}/devices/${enc(alice.device_id)}`, { token: alice.access_token, body: { display_name: 'Phone' } });
    const r = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/user/devices/${enc(alice.user_id)}`);
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(alice.user_id);
    expect(typeof r.body.stream_id).toBe('number');
    expect(r.body.devices).toHaveLength(1);
    expect(r.body.devices[0]).toMatchObject({ device_id: alice.device_id, device_display_name: 'Phone' });
    expect(r.body.devices[0].keys.user_id).toBe(alice.user_id);
    expect(r.body.devices[0].keys.unsigned).toBeUndefined();
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/user/devices/${enc('@bob:b.test')}`)).status).toBe(403);
    // The client side of the same query.
    const remote = await B.services.federation!.queries!.remoteUserDevices(alice.user_id);
    expect(remote.devices).toHaveLength(1);
  });

  it('the client /keys/query and /keys/claim of B reach A through /user/keys/query and /user/keys/claim', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    await uploadKeys(A, alice);
    const q = await B.req('POST', `${V3}/keys/query`, { token: bob.access_token, body: { device_keys: { [alice.user_id]: [] } } });
    expect(q.status).toBe(200);
    expect(q.body.failures).toEqual({});
    expect(q.body.device_keys[alice.user_id][alice.device_id].user_id).toBe(alice.user_id);
    expect(net.sent('/_matrix/federation/v1/user/keys/query', 'b.test', 'a.test')).toHaveLength(1);

    const c = await B.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { [alice.user_id]: { [alice.device_id]: 'signed_curve25519' } } } });
    expect(c.status).toBe(200);
    const claimed = c.body.one_time_keys[alice.user_id][alice.device_id];
    expect(Object.keys(claimed)).toEqual(['signed_curve25519:AAAAAQ']);
    // Claimed once: a second claim finds none.
    const again = await B.req('POST', `${V3}/keys/claim`, { token: bob.access_token, body: { one_time_keys: { [alice.user_id]: { [alice.device_id]: 'signed_curve25519' } } } });
    expect(again.body.one_time_keys[alice.user_id] ?? {}).toEqual({});

    // A answers only about its own users.
    const mixed = await signedRequest(A, B, 'POST', '/_matrix/federation/v1/user/keys/query', { device_keys: { [alice.user_id]: [], '@bob:b.test': [] } });
    expect(Object.keys(mixed.body.device_keys)).toEqual([alice.user_id]);
    // An unreachable server is a failure, not an error.
    const down = await B.req('POST', `${V3}/keys/query`, { token: bob.access_token, body: { device_keys: { '@x:down.test': [] } } });
    expect(down.status).toBe(200);
    expect(Object.keys(down.body.failures)).toEqual(['down.test']);
  });
});

describe('room directory and spaces', () => {
  it('/publicRooms (GET and POST) lists A\'s directory; B\'s clients read it with ?server=', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const r1 = await A.createRoom(alice, { preset: 'public_chat', visibility: 'public', name: 'Gardening' });
    await A.createRoom(alice, { preset: 'public_chat', visibility: 'public', name: 'Cooking' });
    await A.createRoom(alice, { preset: 'public_chat', name: 'Unlisted' });
    const get = await signedRequest(A, B, 'GET', '/_matrix/federation/v1/publicRooms?limit=10');
    expect(get.status).toBe(200);
    expect((get.body.chunk as JsonObject[]).map((c) => c.name).sort()).toEqual(['Cooking', 'Gardening']);
    const post = await signedRequest(A, B, 'POST', '/_matrix/federation/v1/publicRooms', { filter: { generic_search_term: 'garden' } });
    expect((post.body.chunk as JsonObject[]).map((c) => c.room_id)).toEqual([r1]);

    const client = await B.req('GET', `${V3}/publicRooms?server=a.test`, { token: bob.access_token });
    expect(client.status).toBe(200);
    expect((client.body.chunk as JsonObject[]).length).toBe(2);
    const filtered = await B.req('POST', `${V3}/publicRooms?server=a.test`, { token: bob.access_token, body: { filter: { generic_search_term: 'cook' } } });
    expect((filtered.body.chunk as JsonObject[]).map((c) => c.name)).toEqual(['Cooking']);
    const paged = await B.req('GET', `${V3}/publicRooms?server=a.test&limit=1`, { token: bob.access_token });
    expect(paged.body.chunk).toHaveLength(1);
    expect(typeof paged.body.next_batch).toBe('string');
    const page2 = await B.req('GET', `${V3}/publicRooms?server=a.test&limit=1&since=${enc(paged.body.next_batch)}`, { token: bob.access_token });
    expect(page2.body.chunk[0].room_id).not.toBe(paged.body.chunk[0].room_id);
  });

  async function space(A: Node, owner: Session) {
    const spaceId = await A.createRoom(owner, { preset: 'public_chat', name: 'Space', creation_content: { type: 'm.space' } });
    const open = await A.createRoom(owner, { preset: 'public_chat', name: 'Open child' });
    const secret = await A.createRoom(owner, { preset: 'private_chat', name: 'Secret child' });
    const sub = await A.createRoom(owner, { preset: 'public_chat', name: 'Sub space', creation_content: { type: 'm.space' } });
    const leaf = await A.createRoom(owner, { preset: 'public_chat', name: 'Leaf' });
    const child = async (parent: string, c: string, content: JsonObject) => {
      const r = await A.req('PUT', `${V3}/rooms/${enc(parent)}/state/m.space.child/${enc(c)}`, { token: owner.access_token, body: content });
      expect(r.status).toBe(200);
    };
    await child(spaceId, open, { via: ['a.test'], order: 'b' });
    await child(spaceId, secret, { via: ['a.test'] });
    await child(spaceId, sub, { via: ['a.test'], order: 'a', suggested: true });
    await child(sub, leaf, { via: ['a.test'] });
    return { spaceId, open, secret, sub, leaf };
  }

  it('/hierarchy answers the space, its children the server may see, and the others as inaccessible', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const s = await space(A, alice);
    const r = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/hierarchy/${enc(s.spaceId)}`);
    expect(r.status).toBe(200);
    expect(r.body.room).toMatchObject({ room_id: s.spaceId, name: 'Space', room_type: 'm.space', join_rule: 'public', num_joined_members: 1 });
    expect((r.body.room.children_state as JsonObject[]).map((c) => c.state_key).sort()).toEqual([s.open, s.secret, s.sub].sort());
    expect(typeof r.body.room.children_state[0].origin_server_ts).toBe('number');
    expect((r.body.children as JsonObject[]).map((c) => c.room_id)).toEqual([s.sub, s.open]);
    expect(r.body.inaccessible_children).toEqual([s.secret]);
    const suggested = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/hierarchy/${enc(s.spaceId)}?suggested_only=true`);
    expect((suggested.body.children as JsonObject[]).map((c) => c.room_id)).toEqual([s.sub]);
    // A private room is not shown to a server with nobody in it.
    expect((await signedRequest(A, B, 'GET', `/_matrix/federation/v1/hierarchy/${enc(s.secret)}`)).status).toBe(404);
  });

  it('the client hierarchy walks our rooms in the spec\'s order, with pagination and max_depth', async () => {
    const { A } = await pair();
    const alice = await A.register('alice');
    const s = await space(A, alice);
    const all = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy`, { token: alice.access_token });
    expect(all.status).toBe(200);
    // Breadth first; `order` first ('a' sub before 'b' open), then the others.
    expect((all.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Space', 'Sub space', 'Open child', 'Secret child', 'Leaf']);
    expect(all.body.next_batch).toBeUndefined();
    const p1 = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy?limit=2`, { token: alice.access_token });
    expect((p1.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Space', 'Sub space']);
    const p2 = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy?limit=2&from=${enc(p1.body.next_batch)}`, { token: alice.access_token });
    expect((p2.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Open child', 'Secret child']);
    const p3 = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy?limit=2&from=${enc(p2.body.next_batch)}`, { token: alice.access_token });
    expect((p3.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Leaf']);
    expect(p3.body.next_batch).toBeUndefined();
    const shallow = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy?max_depth=0`, { token: alice.access_token });
    expect((shallow.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Space']);
    const sugg = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy?suggested_only=true`, { token: alice.access_token });
    expect((sugg.body.rooms as JsonObject[]).map((r) => r.name)).toEqual(['Space', 'Sub space']);
    // A token from another walk is refused.
    const bad = await A.req('GET', `/_matrix/client/v1/rooms/${enc(s.sub)}/hierarchy?from=${enc(p1.body.next_batch)}`, { token: alice.access_token });
    expect(bad.status).toBe(400);
  });

  it('a user of B walks a space B joined: the children held only by A come from A\'s /hierarchy; private ones stay hidden', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const s = await space(A, alice);
    expect((await B.req('POST', `${V3}/join/${enc(s.spaceId)}?via=a.test`, { token: bob.access_token, body: {} })).status).toBe(200);
    const r = await B.req('GET', `/_matrix/client/v1/rooms/${enc(s.spaceId)}/hierarchy`, { token: bob.access_token });
    expect(r.status).toBe(200);
    expect((r.body.rooms as JsonObject[]).map((x) => x.name)).toEqual(['Space', 'Sub space', 'Open child', 'Leaf']);
    expect(net.sent('/_matrix/federation/v1/hierarchy/', 'b.test', 'a.test').length).toBeGreaterThan(0);
    // A space B does not hold and bob is not in: 403.
    const other = await A.createRoom(alice, { preset: 'public_chat' });
    expect((await B.req('GET', `/_matrix/client/v1/rooms/${enc(other)}/hierarchy`, { token: bob.access_token })).status).toBe(403);
  });
});

describe('OpenID', () => {
  it('/openid/userinfo names the user of a token issued by the client API; unknown tokens are 401', async () => {
    const { A } = await pair();
    const alice = await A.register('alice');
    const t = await A.req('POST', `${V3}/user/${enc(alice.user_id)}/openid/request_token`, { token: alice.access_token, body: {} });
    expect(t.status).toBe(200);
    const ok = await A.app.inject({ method: 'GET', url: `/_matrix/federation/v1/openid/userinfo?access_token=${enc(t.body.access_token)}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ sub: alice.user_id });
    const bad = await A.app.inject({ method: 'GET', url: '/_matrix/federation/v1/openid/userinfo?access_token=nope' });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().errcode).toBe('M_UNKNOWN_TOKEN');
    expect((await A.app.inject({ method: 'GET', url: '/_matrix/federation/v1/openid/userinfo' })).statusCode).toBe(401);
  });
});

describe('federated media', () => {
  async function upload(node: Node, s: Session, bytes: Buffer, type: string, name = 'file.bin'): Promise<string> {
    const r = await node.app.inject({
      method: 'POST',
      url: `/_matrix/media/v3/upload?filename=${enc(name)}`,
      headers: { authorization: `Bearer ${s.access_token}`, 'content-type': type },
      payload: bytes,
    });
    expect(r.statusCode).toBe(200);
    return r.json().content_uri as string;
  }

  it('/media/download answers multipart/mixed: {} then the file; unknown media 404', async () => {
    const { A, B } = await pair();
    const alice = await A.register('alice');
    const bytes = Buffer.from('hello media\r\n--not-a-boundary\r\n', 'utf8');
    const uri = await upload(A, alice, bytes, 'text/plain', 'note.txt');
    const mediaId = uri.split('/').pop()!;
    const r = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/media/download/${mediaId}`);
    expect(r.status).toBe(200);
    const type = String(r.headers['content-type']);
    const boundary = /boundary=([^;]+)/.exec(type)![1]!;
    expect(type.startsWith('multipart/mixed')).toBe(true);
    const parts = r.text.split(`--${boundary}`);
    expect(parts[1]).toBe('\r\nContent-Type: application/json\r\n\r\n{}\r\n');
    expect(parts[2]).toContain('Content-Type: text/plain');
    expect(parts[2]).toContain('note.txt');
    expect(parts[2]!.split('\r\n\r\n').slice(1).join('\r\n\r\n')).toBe(bytes.toString('utf8') + '\r\n');
    expect(parts[3]).toBe('--\r\n');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.text));
    expect((await signedRequest(A, B, 'GET', '/_matrix/federation/v1/media/download/nothere')).status).toBe(404);
  });

  it('B\'s clients download A\'s media through federation (cached afterwards), and thumbnails of it', async () => {
    const { net, A, B } = await pair();
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer();
    const uri = await upload(A, alice, png, 'image/png', 'red.png');
    const mediaId = uri.split('/').pop()!;
    const dl = await B.app.inject({ method: 'GET', url: `/_matrix/client/v1/media/download/a.test/${mediaId}`, headers: { authorization: `Bearer ${bob.access_token}` } });
    expect(dl.statusCode).toBe(200);
    expect(Buffer.compare(dl.rawPayload, png)).toBe(0);
    expect(dl.headers['content-type']).toBe('image/png');
    expect(String(dl.headers['content-disposition'])).toContain('red.png');
    expect(net.sent('/_matrix/federation/v1/media/download/', 'b.test', 'a.test')).toHaveLength(1);
    const again = await B.app.inject({ method: 'GET', url: `/_matrix/client/v1/media/download/a.test/${mediaId}`, headers: { authorization: `Bearer ${bob.access_token}` } });
    expect(Buffer.compare(again.rawPayload, png)).toBe(0);
    expect(net.sent('/_matrix/federation/v1/media/download/')).toHaveLength(1);

    const thumb = await signedRequest(A, B, 'GET', `/_matrix/federation/v1/media/thumbnail/${mediaId}?width=32&height=32&method=scale`);
    expect(thumb.status).toBe(200);
    expect(String(thumb.headers['content-type'])).toContain('multipart/mixed');
    expect(thumb.text).toContain('Content-Type: image/');

    const missing = await B.app.inject({ method: 'GET', url: '/_matrix/client/v1/media/download/a.test/nothere', headers: { authorization: `Bearer ${bob.access_token}` } });
    expect(missing.statusCode).toBe(404);
  });

  it('falls back to the legacy download when the peer lacks the federation media endpoint', async () => {
    const net = new Network();
    const A = await createNode(net, 'a.test', { enable_authenticated_media: false });
    const B = await createNode(net, 'b.test');
    closeAll = async () => {
      await A.close();
      await B.close();
    };
    const alice = await A.register('alice');
    const bob = await B.register('bob');
    const bytes = Buffer.from('legacy bytes');
    const uri = await upload(A, alice, bytes, 'application/octet-stream');
    const mediaId = uri.split('/').pop()!;
    net.interceptor = (r) => (r.path.startsWith('/_matrix/federation/v1/media/') ? { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' } } : undefined);
    const dl = await B.app.inject({ method: 'GET', url: `/_matrix/client/v1/media/download/a.test/${mediaId}`, headers: { authorization: `Bearer ${bob.access_token}` } });
    expect(dl.statusCode).toBe(200);
    expect(dl.rawPayload.toString()).toBe('legacy bytes');
    const legacy = net.sent('/_matrix/media/v3/download/', 'b.test', 'a.test');
    expect(legacy).toHaveLength(1);
    expect(legacy[0]!.path).toContain('allow_remote=false');
  });
});

describe('multipart parsing of media answers', () => {
  it('splits the file part out whatever the chunking, a delimiter-like sequence inside the file included', async () => {
    const { multipartBody, splitMultipart, multipartBoundary, dispositionFileName } = await import('../../src/federation/queries/media.js');
    const { Readable } = await import('node:stream');
    const file = Buffer.concat([Buffer.from('start\r\n--'), Buffer.alloc(70_000, 7), Buffer.from('\r\n--bound'), Buffer.from('end')]);
    const built = multipartBody({ contentType: 'application/octet-stream', disposition: "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf", length: file.length, stream: Readable.from([file]) }, 'bound4r7');
    const chunks: Buffer[] = [];
    for await (const c of built.body) chunks.push(c as Buffer);
    const whole = Buffer.concat(chunks);
    expect(whole.length).toBe(built.length);
    const boundary = multipartBoundary(built.contentType)!;
    expect(boundary).toBe('bound4r7');
    for (const size of [1, 7, 64, 1000, 65_536]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < whole.length; i += size) pieces.push(whole.subarray(i, i + size));
      const parts = await splitMultipart(Readable.from(pieces), boundary);
      expect(parts.meta).toBe('{}');
      expect(parts.headers['content-type']).toBe('application/octet-stream');
      expect(dispositionFileName(parts.headers['content-disposition'])).toBe('résumé.pdf');
      const out: Buffer[] = [];
      for await (const c of parts.file) out.push(c as Buffer);
      expect(Buffer.compare(Buffer.concat(out), file)).toBe(0);
    }
    // A truncated answer is an error, not a short file.
    const parts = await splitMultipart(Readable.from([whole.subarray(0, whole.length - 20)]), boundary);
    await expect(async () => {
      for await (const _ of parts.file) void _;
    }).rejects.toThrow();
    expect(dispositionFileName('inline; filename="a \\"b\\".txt"')).toBe('a "b".txt');
    expect(multipartBoundary('application/json')).toBeUndefined();
  });
});
