// Aliases and the published room directory through Fastify: PUT/GET/DELETE /directory/room,
// GET /rooms/{id}/aliases, the canonical alias checks, /directory/list/room and /publicRooms
// (order, pagination both ways, search, room types, counts), and the room summary's upkeep.
import { mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { createRoomLifecycle, validateCanonicalAlias } from '../../src/rooms/lifecycle/index.js';
import { createRoomsService } from '../../src/rooms/service.js';
import { DEFAULT_MIGRATIONS_DIR, openDatabase } from '../../src/store/db.js';
import { createStore } from '../../src/store/index.js';
import { lifecycleHarness, enc, SERVER, V3, type LifecycleHarness } from './rooms-lifecycle-harness.js';
import type { Session } from './users-harness.js';

const harnesses: LifecycleHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(opts: Parameters<typeof lifecycleHarness>[1] = {}): Promise<LifecycleHarness> {
  const h = await lifecycleHarness({}, opts);
  harnesses.push(h);
  return h;
}

const alias = (name: string) => `#${name}:${SERVER}`;

describe('room aliases', () => {
  it('PUT creates, GET resolves, a second PUT is 409, DELETE removes', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token);
    const put = await h.req('PUT', `${V3}/directory/room/${enc(alias('a'))}`, { token: ann.access_token, body: { room_id: roomId } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({});
    expect((await h.req('GET', `${V3}/directory/room/${enc(alias('a'))}`)).body).toEqual({ room_id: roomId, servers: [SERVER] });
    const dup = await h.req('PUT', `${V3}/directory/room/${enc(alias('a'))}`, { token: ann.access_token, body: { room_id: roomId } });
    expect(dup.status).toBe(409);
    expect(dup.body.errcode).toBe('M_UNKNOWN');
    expect((await h.req('GET', `${V3}/rooms/${enc(roomId)}/aliases`, { token: ann.access_token })).body).toEqual({ aliases: [alias('a')] });
    expect((await h.req('DELETE', `${V3}/directory/room/${enc(alias('a'))}`, { token: ann.access_token })).status).toBe(200);
    const gone = await h.req('GET', `${V3}/directory/room/${enc(alias('a'))}`);
    expect(gone.status).toBe(404);
    expect(gone.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('DELETE', `${V3}/directory/room/${enc(alias('a'))}`, { token: ann.access_token })).status).toBe(404);
  });

  it('checks the alias, the room and the requester', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const admin = await h.register('root', { admin: true });
    const roomId = await h.createRoom(ann.access_token);
    const put = (who: Session, a: string, body: unknown) => h.req('PUT', `${V3}/directory/room/${enc(a)}`, { token: who.access_token, body });
    expect((await put(ann, 'nohash', { room_id: roomId })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await put(ann, '#x:elsewhere.example', { room_id: roomId })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await put(ann, alias('has space'), { room_id: roomId })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await put(ann, alias('x'), {})).body.errcode).toBe('M_MISSING_PARAM');
    expect((await put(ann, alias('x'), { room_id: '!gone:test.local' })).status).toBe(400);
    const notMember = await put(bob, alias('x'), { room_id: roomId });
    expect(notMember.status).toBe(403);
    expect(notMember.body.errcode).toBe('M_FORBIDDEN');
    // Server admins need not be in the room.
    expect((await put(admin, alias('x'), { room_id: roomId })).status).toBe(200);
    expect((await h.req('PUT', `${V3}/directory/room/${enc(alias('y'))}`, { body: { room_id: roomId } })).status).toBe(401);
    expect((await h.req('GET', `${V3}/directory/room/${enc('bad')}`)).body.errcode).toBe('M_INVALID_PARAM');
  });

  it('lets the alias creator, room moderators and admins delete; others not', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const admin = await h.register('root', { admin: true });
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat', room_version: '10' });
    await h.req('POST', `${V3}/join/${enc(roomId)}`, { token: bob.access_token, body: {} });
    for (const n of ['b1', 'a1', 'a2']) {
      const who = n.startsWith('b') ? bob : ann;
      expect((await h.req('PUT', `${V3}/directory/room/${enc(alias(n))}`, { token: who.access_token, body: { room_id: roomId } })).status).toBe(200);
    }
    // Bob (level 0) cannot delete Ann's alias but can delete his own.
    expect((await h.req('DELETE', `${V3}/directory/room/${enc(alias('a1'))}`, { token: bob.access_token })).status).toBe(403);
    expect((await h.req('DELETE', `${V3}/directory/room/${enc(alias('b1'))}`, { token: bob.access_token })).status).toBe(200);
    // Ann (room admin) and a server admin may delete any.
    expect((await h.req('DELETE', `${V3}/directory/room/${enc(alias('a2'))}`, { token: admin.access_token })).status).toBe(200);
    expect((await h.req('GET', `${V3}/rooms/${enc(roomId)}/aliases`, { token: ann.access_token })).body).toEqual({ aliases: [alias('a1')] });
  });

  it('deleting an alias removes it from m.room.canonical_alias', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, { room_alias_name: 'main' });
    await h.req('PUT', `${V3}/directory/room/${enc(alias('alt'))}`, { token: ann.access_token, body: { room_id: roomId } });
    await h.rooms.sendLocalEvent(roomId, { type: 'm.room.canonical_alias', stateKey: '', sender: ann.user_id, content: { alias: alias('main'), alt_aliases: [alias('alt')] } });
    await h.req('DELETE', `${V3}/directory/room/${enc(alias('alt'))}`, { token: ann.access_token });
    expect(await h.state(roomId, 'm.room.canonical_alias')).toEqual({ alias: alias('main') });
    await h.req('DELETE', `${V3}/directory/room/${enc(alias('main'))}`, { token: ann.access_token });
    expect(await h.state(roomId, 'm.room.canonical_alias')).toEqual({});
  });

  it('GET /rooms/{roomId}/aliases: members, world_readable rooms, server admins', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const admin = await h.register('root', { admin: true });
    const roomId = await h.createRoom(ann.access_token, { room_alias_name: 'r' });
    const path = `${V3}/rooms/${enc(roomId)}/aliases`;
    const outsider = await h.req('GET', path, { token: bob.access_token });
    expect(outsider.status).toBe(403);
    expect(outsider.body.errcode).toBe('M_FORBIDDEN');
    expect((await h.req('GET', path, { token: admin.access_token })).body).toEqual({ aliases: [alias('r')] });
    const readable = await h.createRoom(ann.access_token, { room_alias_name: 'open', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] });
    expect((await h.req('GET', `${V3}/rooms/${enc(readable)}/aliases`, { token: bob.access_token })).body).toEqual({ aliases: [alias('open')] });
    expect((await h.req('GET', `${V3}/rooms/${enc('bad')}/aliases`, { token: bob.access_token })).status).toBe(400);
  });

  it('validateCanonicalAlias: malformed aliases and aliases of other rooms are refused', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomA = await h.createRoom(ann.access_token, { room_alias_name: 'a' });
    const roomB = await h.createRoom(ann.access_token, { room_alias_name: 'b' });
    const services = { roomLifecycle: h.lifecycle };
    await expect(validateCanonicalAlias(services, roomA, { alias: alias('a') })).resolves.toBeUndefined();
    await expect(validateCanonicalAlias(services, roomA, { alias: alias('b') })).rejects.toMatchObject({ errcode: 'M_BAD_ALIAS', status: 400 });
    await expect(validateCanonicalAlias(services, roomA, { alias: alias('none') })).rejects.toMatchObject({ errcode: 'M_BAD_ALIAS' });
    await expect(validateCanonicalAlias(services, roomA, { alt_aliases: [alias('b')] })).rejects.toMatchObject({ errcode: 'M_BAD_ALIAS' });
    await expect(validateCanonicalAlias(services, roomA, { alias: 'nope' })).rejects.toMatchObject({ errcode: 'M_INVALID_PARAM' });
    await expect(validateCanonicalAlias(services, roomA, { alt_aliases: 'x' })).rejects.toMatchObject({ errcode: 'M_INVALID_PARAM' });
    await expect(validateCanonicalAlias(services, roomA, { alias: null, alt_aliases: [] })).resolves.toBeUndefined();
    // Aliases already in the current event are not checked again (they may have drifted).
    await h.req('DELETE', `${V3}/directory/room/${enc(alias('b'))}`, { token: ann.access_token });
    await h.req('PUT', `${V3}/directory/room/${enc(alias('b'))}`, { token: ann.access_token, body: { room_id: roomA } });
    await h.rooms.sendLocalEvent(roomA, { type: 'm.room.canonical_alias', stateKey: '', sender: ann.user_id, content: { alias: alias('a'), alt_aliases: [alias('b')] } });
    await h.req('DELETE', `${V3}/directory/room/${enc(alias('b'))}`, { token: ann.access_token });
    await h.rooms.sendLocalEvent(roomA, { type: 'm.room.canonical_alias', stateKey: '', sender: ann.user_id, content: { alias: alias('a'), alt_aliases: [alias('b')] } });
    await expect(validateCanonicalAlias(services, roomA, { alias: alias('a'), alt_aliases: [alias('b')] })).resolves.toBeUndefined();
    await expect(validateCanonicalAlias(services, roomB, { alias: alias('a') })).rejects.toMatchObject({ errcode: 'M_BAD_ALIAS' });
    // Without the service nothing can be checked.
    await expect(validateCanonicalAlias({}, roomA, { alias: 'nope' })).resolves.toBeUndefined();
  });

  it('asks the federation hook for other servers\' aliases', async () => {
    const h = await setup({ remote: { queryAlias: async (a) => (a === '#x:remote.example' ? { roomId: '!x:remote.example', servers: ['a.example', 'remote.example'] } : undefined) } });
    expect((await h.req('GET', `${V3}/directory/room/${enc('#x:remote.example')}`)).body).toEqual({ room_id: '!x:remote.example', servers: ['remote.example', 'a.example'] });
    expect((await h.req('GET', `${V3}/directory/room/${enc('#y:remote.example')}`)).status).toBe(404);
  });
});

describe('room directory', () => {
  it('GET and PUT /directory/list/room/{roomId}', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    const path = `${V3}/directory/list/room/${enc(roomId)}`;
    expect((await h.req('GET', path)).body).toEqual({ visibility: 'private' });
    expect((await h.req('PUT', path, { token: ann.access_token, body: {} })).status).toBe(200);
    expect((await h.req('GET', path)).body).toEqual({ visibility: 'public' });
    // A member below the canonical alias level, and an outsider, cannot change it.
    await h.req('POST', `${V3}/join/${enc(roomId)}`, { token: bob.access_token, body: {} });
    expect((await h.req('PUT', path, { token: bob.access_token, body: { visibility: 'private' } })).status).toBe(403);
    const carol = await h.register('carol');
    expect((await h.req('PUT', path, { token: carol.access_token, body: { visibility: 'private' } })).status).toBe(403);
    expect((await h.req('PUT', path, { token: ann.access_token, body: { visibility: 'hidden' } })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.req('PUT', path, { token: ann.access_token, body: { visibility: 'private' } })).status).toBe(200);
    expect((await h.req('GET', path)).body).toEqual({ visibility: 'private' });
    const unknown = `${V3}/directory/list/room/${enc('!gone:test.local')}`;
    expect((await h.req('GET', unknown)).status).toBe(404);
    expect((await h.req('PUT', unknown, { token: ann.access_token, body: { visibility: 'public' } })).status).toBe(404);
  });

  it('/publicRooms lists published joinable rooms, most members first, with their summary', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const small = await h.createRoom(ann.access_token, { visibility: 'public', name: 'Small', topic: 'tiny', room_alias_name: 'small' });
    const big = await h.createRoom(ann.access_token, { visibility: 'public', name: 'Big' });
    await h.req('POST', `${V3}/join/${enc(big)}`, { token: bob.access_token, body: {} });
    // Not listed: unpublished, invite-only, or published but private and not world readable.
    await h.createRoom(ann.access_token, { preset: 'public_chat', name: 'Unlisted' });
    await h.createRoom(ann.access_token, { visibility: 'public', preset: 'private_chat', name: 'Private' });
    const readable = await h.createRoom(ann.access_token, {
      visibility: 'public',
      preset: 'private_chat',
      name: 'Readable',
      initial_state: [
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
        { type: 'm.room.avatar', content: { url: 'mxc://test.local/pic' } },
      ],
    });

    const r = await h.req('GET', `${V3}/publicRooms`);
    expect(r.status).toBe(200);
    expect(r.body.total_room_count_estimate).toBe(3);
    expect(r.body.next_batch).toBeUndefined();
    expect(r.body.prev_batch).toBeUndefined();
    const chunk = r.body.chunk as Record<string, unknown>[];
    expect(chunk[0]).toEqual({ room_id: big, name: 'Big', num_joined_members: 2, world_readable: false, guest_can_join: false, join_rule: 'public' });
    expect(chunk.slice(1).map((c) => c.room_id).sort()).toEqual([small, readable].sort());
    expect(chunk.find((c) => c.room_id === small)).toEqual({
      room_id: small,
      name: 'Small',
      topic: 'tiny',
      canonical_alias: alias('small'),
      num_joined_members: 1,
      world_readable: false,
      guest_can_join: false,
      join_rule: 'public',
    });
    expect(chunk.find((c) => c.room_id === readable)).toMatchObject({ world_readable: true, guest_can_join: true, join_rule: 'invite', avatar_url: 'mxc://test.local/pic' });

    // Member counts and names follow the room.
    await h.req('POST', `${V3}/rooms/${enc(big)}/leave`, { token: bob.access_token, body: {} });
    await h.req('POST', `${V3}/rooms/${enc(big)}/leave`, { token: ann.access_token, body: {} });
    await h.rooms.sendLocalEvent(small, { type: 'm.room.name', stateKey: '', sender: ann.user_id, content: { name: 'Renamed' } });
    const after = await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: {} });
    expect((after.body.chunk as Record<string, unknown>[]).map((c) => c.name).sort()).toEqual(['Readable', 'Renamed']);
    expect(after.body.total_room_count_estimate).toBe(2);
  });

  it('paginates forwards and backwards with next_batch and prev_batch', async () => {
    const h = await setup();
    const users = [];
    for (const n of ['u1', 'u2', 'u3', 'u4']) users.push(await h.register(n));
    const ann = await h.register('ann');
    // Rooms with 5, 4, 3, 2, 1 members, and two more with 1 (ties ordered by room ID, descending).
    const rooms: string[] = [];
    for (let i = 0; i < 7; i++) {
      const roomId = await h.createRoom(ann.access_token, { visibility: 'public', name: `r${i}` });
      for (const u of users.slice(0, Math.max(0, 4 - i))) await h.req('POST', `${V3}/join/${enc(roomId)}`, { token: u.access_token, body: {} });
      rooms.push(roomId);
    }
    const expected = [rooms[0], rooms[1], rooms[2], rooms[3], ...[rooms[4], rooms[5], rooms[6]].sort().reverse()];
    const seen: string[] = [];
    const pages: Record<string, any>[] = [];
    let since: string | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await h.req('GET', `${V3}/publicRooms?limit=3${since ? `&since=${encodeURIComponent(since)}` : ''}`);
      expect(r.status).toBe(200);
      pages.push(r.body);
      seen.push(...(r.body.chunk as { room_id: string }[]).map((c) => c.room_id));
      since = r.body.next_batch;
      if (!since) break;
    }
    expect(seen).toEqual(expected);
    expect(pages.map((p) => p.chunk.length)).toEqual([3, 3, 1]);
    expect(pages[0]!.prev_batch).toBeUndefined();
    // Back from the last page to the one before it, then to the first.
    const back = await h.req('GET', `${V3}/publicRooms?limit=3&since=${encodeURIComponent(pages[2]!.prev_batch)}`);
    expect((back.body.chunk as { room_id: string }[]).map((c) => c.room_id)).toEqual(expected.slice(3, 6));
    expect(back.body.next_batch).toBeDefined();
    const first = await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { limit: 3, since: back.body.prev_batch } });
    expect((first.body.chunk as { room_id: string }[]).map((c) => c.room_id)).toEqual(expected.slice(0, 3));
    expect(first.body.prev_batch).toBeUndefined();
    expect(first.body.next_batch).toBeDefined();
    // Bad tokens and limits.
    expect((await h.req('GET', `${V3}/publicRooms?since=garbage`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.req('GET', `${V3}/publicRooms?limit=-1`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { limit: 'x' } })).body.errcode).toBe('M_INVALID_PARAM');
  });

  it('filters by search term (name, topic, alias) and room type', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const cats = await h.createRoom(ann.access_token, { visibility: 'public', name: 'Cat Lovers' });
    const dogs = await h.createRoom(ann.access_token, { visibility: 'public', topic: 'All about DOGS' });
    const alias100 = await h.createRoom(ann.access_token, { visibility: 'public', room_alias_name: 'percent_100' });
    const space = await h.createRoom(ann.access_token, { visibility: 'public', name: 'A space of cats', creation_content: { type: 'm.space' } });
    const search = async (filter: unknown) => {
      const r = await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { filter } });
      expect(r.status).toBe(200);
      return { ids: (r.body.chunk as { room_id: string }[]).map((c) => c.room_id).sort(), total: r.body.total_room_count_estimate, chunk: r.body.chunk };
    };
    expect((await search({ generic_search_term: 'cat' })).ids).toEqual([cats, space].sort());
    expect((await search({ generic_search_term: 'dogs' })).ids).toEqual([dogs]);
    expect((await search({ generic_search_term: 'percent_' })).ids).toEqual([alias100]);
    // LIKE wildcards in the term are literal.
    expect((await search({ generic_search_term: '%' })).ids).toEqual([]);
    // A term far longer than SQLite's LIKE pattern limit (50,000 bytes) is searched for, not a 500.
    expect((await search({ generic_search_term: 'cat'.repeat(40_000) })).ids).toEqual([]);
    expect((await search({ generic_search_term: 'CAT LOVERS' })).ids).toEqual([cats]);
    expect((await search({ room_types: ['m.space'] })).ids).toEqual([space]);
    const plain = await search({ room_types: [null] });
    expect(plain.ids).toEqual([cats, dogs, alias100].sort());
    expect(plain.total).toBe(3);
    expect((await search({ room_types: [null, 'm.space'], generic_search_term: 'cat' })).ids).toEqual([cats, space].sort());
    expect((await search({ room_types: ['m.space'] })).chunk[0].room_type).toBe('m.space');
    // Bad shapes.
    expect((await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { filter: { room_types: 'x' } } })).body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { include_all_networks: true, third_party_instance_id: 'irc' } })).status).toBe(400);
    // A third-party network lists nothing (no application services).
    expect((await h.req('POST', `${V3}/publicRooms`, { token: ann.access_token, body: { third_party_instance_id: 'irc' } })).body.chunk).toEqual([]);
  });

  it('needs a token for POST only; other servers go to the federation hook', async () => {
    const asked: unknown[] = [];
    const h = await setup({ remote: { publicRooms: async (server, params) => (asked.push([server, params]), { chunk: [], total_room_count_estimate: 7 }) } });
    const ann = await h.register('ann');
    expect((await h.req('GET', `${V3}/publicRooms`)).status).toBe(200);
    expect((await h.req('POST', `${V3}/publicRooms`, { body: {} })).status).toBe(401);
    const remote = await h.req('POST', `${V3}/publicRooms?server=remote.example`, { token: ann.access_token, body: { limit: 5 } });
    expect(remote.body).toEqual({ chunk: [], total_room_count_estimate: 7 });
    expect(asked).toEqual([['remote.example', { limit: 5 }]]);
    expect((await h.req('GET', `${V3}/publicRooms?server=${SERVER}`)).status).toBe(200);
    expect((await h.req('GET', `${V3}/publicRooms?server=bad_server!`)).body.errcode).toBe('M_INVALID_PARAM');
  });

  it('answers 502 for another server without federation', async () => {
    const h = await setup();
    const r = await h.req('GET', `${V3}/publicRooms?server=remote.example`);
    expect(r.status).toBe(502);
  });
});

describe('room summary upkeep', () => {
  it('a room written before the lifecycle service existed is summarised when published', async () => {
    const db = openDatabase(':memory:');
    try {
      const store = createStore(db);
      const rooms = createRoomsService({ store, serverName: SERVER, signingKey: generateSigningKey('k') });
      const creator = `@ann:${SERVER}`;
      const { roomId } = await rooms.createRoom('10', creator);
      await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, sender: creator, content: { membership: 'join' } });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', sender: creator, content: { join_rule: 'public' } });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.name', stateKey: '', sender: creator, content: { name: 'Old' } });
      const lifecycle = createRoomLifecycle({ rooms, users: { getMemberProfile: async () => ({}), store: { getUser: async () => undefined } }, serverName: SERVER });
      // A later event of a room without a summary rebuilds it from the whole current state.
      await rooms.sendLocalEvent(roomId, { type: 'm.room.topic', stateKey: '', sender: creator, content: { topic: 'T' } });
      await lifecycle.setVisibility({ userId: creator, isGuest: false, isAdmin: false }, roomId, { visibility: 'public' });
      const list = await lifecycle.publicRooms({});
      expect(list.chunk).toEqual([{ room_id: roomId, name: 'Old', topic: 'T', num_joined_members: 1, world_readable: false, guest_can_join: false, join_rule: 'public' }]);
    } finally {
      db.close();
    }
  });

  it('the migration summarises rooms that existed before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifecycle-mig-'));
    const early = join(dir, 'early');
    const path = join(dir, 'db.sqlite');
    try {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(early);
      for (const f of ['0001_init.sql', '0100_users.sql']) copyFileSync(join(DEFAULT_MIGRATIONS_DIR, f), join(early, f));
      const before = openDatabase(path, { migrationsDir: early });
      const rooms = createRoomsService({ db: before, serverName: SERVER, signingKey: generateSigningKey('k') });
      const creator = `@ann:${SERVER}`;
      const { roomId } = await rooms.createRoom('10', creator, { type: 'm.space', 'm.federate': false });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, sender: creator, content: { membership: 'join' } });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.name', stateKey: '', sender: creator, content: { name: 'Before' } });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', sender: creator, content: { join_rule: 'knock' } });
      before.close();
      const after = openDatabase(path);
      try {
        const row = after.prepare('SELECT name, join_rule, room_type, federatable, joined_members, topic FROM room_stats').get();
        expect(row).toEqual({ name: 'Before', join_rule: 'knock', room_type: 'm.space', federatable: 0, joined_members: 1, topic: null });
      } finally {
        after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
