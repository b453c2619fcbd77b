// The Synapse admin API subset that synadm and synapse-admin call: permissions, raw and encoded IDs
// in paths, the field names the tools read (total, next_token as a string, creation_ts,
// id_server_unbind_result, ...), user creation and changes, deactivation, rooms and members, media.
import { describe, expect, it } from 'vitest';
import { createMediaStore } from '../../src/media/store.js';
import { adminHarness, ADMIN, enc, NOW, R0, SERVER, V3 } from './admin-harness.js';

const alice = `@alice:${SERVER}`;

describe('permissions', () => {
  it('every endpoint but server_version needs a server admin: 401 without a token, 403 M_FORBIDDEN for others', async () => {
    const h = await adminHarness();
    const user = await h.register('alice');
    const roomId = await h.createRoom(user);
    const endpoints: [string, string, unknown?][] = [
      ['GET', `${ADMIN}/v2/users`],
      ['GET', `${ADMIN}/v2/users/${alice}`],
      ['PUT', `${ADMIN}/v2/users/@new:${SERVER}`, { password: 'x' }],
      ['POST', `${ADMIN}/v1/deactivate/${alice}`, {}],
      ['POST', `${ADMIN}/v1/reset_password/${alice}`, { new_password: 'x' }],
      ['GET', `${ADMIN}/v1/users/${alice}/joined_rooms`],
      ['GET', `${ADMIN}/v1/users/${alice}/media`],
      ['GET', `${ADMIN}/v1/rooms`],
      ['GET', `${ADMIN}/v1/rooms/${roomId}`],
      ['GET', `${ADMIN}/v1/rooms/${roomId}/members`],
      ['GET', `${ADMIN}/v1/whois/@bob:${SERVER}`],
    ];
    for (const [method, url, body] of endpoints) {
      const anon = await h.req(method as 'GET', url, body === undefined ? {} : { body });
      expect(anon.status, `${method} ${url}`).toBe(401);
      expect(anon.body.errcode).toBe('M_MISSING_TOKEN');
      const r = await h.req(method as 'GET', url, { token: user.access_token, ...(body === undefined ? {} : { body }) });
      expect(r.status, `${method} ${url}`).toBe(403);
      expect(r.body).toEqual({ errcode: 'M_FORBIDDEN', error: 'You are not a server admin' });
    }
    // Nothing was created or deactivated by the refused calls.
    expect(await h.users.store.getUser(`@new:${SERVER}`)).toBeUndefined();
    expect((await h.users.store.getUser(alice))!.deactivated).toBe(false);
  });

  it('server_version answers without a token', async () => {
    const h = await adminHarness();
    const r = await h.req('GET', `${ADMIN}/v1/server_version`);
    expect(r.status).toBe(200);
    expect(typeof r.body.server_version).toBe('string');
  });
});

describe('users', () => {
  it('lists users with total and next_token as a string integer, page by page', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    for (const n of ['bob', 'carol', 'dave']) await h.register(n);
    const all = await h.req('GET', `${ADMIN}/v2/users`, { token: root.access_token });
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    expect(all.body.next_token).toBeUndefined();
    expect(all.body.users.map((u: any) => u.name)).toEqual([`@bob:${SERVER}`, `@carol:${SERVER}`, `@dave:${SERVER}`, `@root:${SERVER}`]);
    const u0 = all.body.users[0];
    expect(u0).toEqual({
      name: `@bob:${SERVER}`,
      is_guest: false,
      admin: false,
      user_type: null,
      deactivated: false,
      erased: false,
      shadow_banned: false,
      displayname: 'bob',
      avatar_url: null,
      creation_ts: NOW,
      last_seen_ts: NOW,
      locked: false,
    });
    expect(all.body.users[3].admin).toBe(true);

    const names: string[] = [];
    let from: string | undefined = '0';
    let pages = 0;
    while (from !== undefined) {
      const page = await h.req('GET', `${ADMIN}/v2/users?limit=3&from=${from}`, { token: root.access_token });
      expect(page.body.total).toBe(4);
      names.push(...page.body.users.map((u: any) => u.name));
      from = page.body.next_token;
      if (from !== undefined) expect(typeof from).toBe('string');
      pages++;
    }
    expect(pages).toBe(2);
    expect(names).toHaveLength(4);

    const rev = await h.req('GET', `${ADMIN}/v2/users?dir=b&limit=1`, { token: root.access_token });
    expect(rev.body.users.map((u: any) => u.name)).toEqual([`@root:${SERVER}`]);
    expect(rev.body.next_token).toBe('1');

    for (const bad of ['from=-1', 'limit=x', 'guests=maybe', 'order_by=height', 'dir=x']) {
      const r = await h.req('GET', `${ADMIN}/v2/users?${bad}`, { token: root.access_token });
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode, bad).toBe('M_INVALID_PARAM');
    }
  });

  it('filters by name (localpart or display name), user_id, guests, admins and deactivated', async () => {
    const h = await adminHarness({ allow_guest_access: true });
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    await h.register('carol');
    await h.req('PUT', `${V3}/profile/${enc(bob.user_id)}/displayname`, { token: bob.access_token, body: { displayname: 'Bobby Tables' } });
    const guest = await h.req('POST', `${V3}/register?kind=guest`, { body: {} });
    expect(guest.status).toBe(200);
    await h.req('POST', `${ADMIN}/v1/deactivate/@carol:${SERVER}`, { token: root.access_token, body: {} });

    const list = async (q: string) => (await h.req('GET', `${ADMIN}/v2/users?${q}`, { token: root.access_token })).body.users.map((u: any) => u.name);
    expect(await list('name=tables')).toEqual([`@bob:${SERVER}`]);
    expect(await list('name=ro')).toEqual([`@root:${SERVER}`]);
    expect(await list(`user_id=${enc(':test.local')}&guests=false`)).toEqual([`@bob:${SERVER}`, `@root:${SERVER}`]);
    expect(await list('guests=false')).toEqual([`@bob:${SERVER}`, `@root:${SERVER}`]);
    expect(await list('')).toContain(guest.body.user_id);
    expect(await list('admins=true')).toEqual([`@root:${SERVER}`]);
    // Deactivated users only with deactivated=true (synadm -d).
    expect(await list('guests=false&deactivated=true')).toEqual([`@bob:${SERVER}`, `@carol:${SERVER}`, `@root:${SERVER}`]);
    const withDeactivated = (await h.req('GET', `${ADMIN}/v2/users?deactivated=true&guests=false`, { token: root.access_token })).body;
    expect(withDeactivated.total).toBe(3);
    expect(withDeactivated.users.find((u: any) => u.name === `@carol:${SERVER}`).deactivated).toBe(true);
    // Percent signs are literal, not wildcards.
    expect(await list(`name=${enc('%')}`)).toEqual([]);
    // Searches past 10,000 characters are refused (they would exceed SQLite's LIKE pattern limit).
    for (const q of ['name', 'user_id']) {
      const long = await h.req('GET', `${ADMIN}/v2/users?${q}=${'x'.repeat(30_000)}`, { token: root.access_token });
      expect([long.status, long.body.errcode], q).toEqual([400, 'M_INVALID_PARAM']);
    }
  });

  it('GET v2/users/{userId}: details with raw and percent-encoded IDs; 404 unknown, 400 remote', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    await h.register('alice');
    h.clock.now = NOW + 5000;
    await h.login('alice');
    for (const path of [alice, enc(alice)]) {
      const r = await h.req('GET', `${ADMIN}/v2/users/${path}`, { token: root.access_token });
      expect(r.status, path).toBe(200);
      expect(r.body).toMatchObject({
        name: alice,
        displayname: 'alice',
        avatar_url: null,
        threepids: [],
        external_ids: [],
        is_guest: false,
        admin: false,
        deactivated: false,
        erased: false,
        locked: false,
        suspended: false,
        shadow_banned: false,
        creation_ts: NOW,
        last_seen_ts: NOW + 5000,
        user_type: null,
        appservice_id: null,
      });
    }
    const unknown = await h.req('GET', `${ADMIN}/v2/users/@nobody:${SERVER}`, { token: root.access_token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    const remote = await h.req('GET', `${ADMIN}/v2/users/@x:elsewhere.org`, { token: root.access_token });
    expect(remote.status).toBe(400);
  });

  it('PUT v2/users creates a user (201) who can log in, then modifies them (200)', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const created = await h.req('PUT', `${ADMIN}/v2/users/@newbie:${SERVER}`, {
      token: root.access_token,
      body: { password: 'secret', displayname: 'New Bie', admin: false, user_type: 'bot', avatar_url: 'mxc://test.local/abc' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: `@newbie:${SERVER}`, displayname: 'New Bie', avatar_url: 'mxc://test.local/abc', user_type: 'bot', admin: false, creation_ts: NOW });
    const session = await h.login('newbie', 'secret');

    const roomId = await h.createRoom(session, { name: 'r' });
    const changed = await h.req('PUT', `${ADMIN}/v2/users/${enc(`@newbie:${SERVER}`)}`, {
      token: root.access_token,
      body: { displayname: 'Renamed', admin: true, user_type: null },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ displayname: 'Renamed', admin: true, user_type: null });
    // The display name reached the member event, as a change by the user would.
    expect((await h.store.getCurrentStateEvent(roomId, 'm.room.member', `@newbie:${SERVER}`))!.event.content.displayname).toBe('Renamed');
    // Now an admin: the same token reaches the admin API.
    expect((await h.req('GET', `${ADMIN}/v2/users`, { token: session.access_token })).status).toBe(200);

    // A new password logs the user out everywhere unless logout_devices is false.
    const kept = await h.req('PUT', `${ADMIN}/v2/users/@newbie:${SERVER}`, { token: root.access_token, body: { password: 'two', logout_devices: false } });
    expect(kept.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: session.access_token })).status).toBe(200);
    await h.req('PUT', `${ADMIN}/v2/users/@newbie:${SERVER}`, { token: root.access_token, body: { password: 'three' } });
    expect((await h.req('GET', `${V3}/account/whoami`, { token: session.access_token })).status).toBe(401);
    await h.login('newbie', 'three');

    for (const [body, code] of [
      [{ admin: 'yes' }, 'M_INVALID_PARAM'],
      [{ user_type: 'robot' }, 'M_INVALID_PARAM'],
      [{ password: 5 }, 'M_INVALID_PARAM'],
      [{ avatar_url: 'https://x' }, 'M_INVALID_PARAM'],
      [{ threepids: [{ medium: 'email', address: 'a@b.c' }] }, 'M_INVALID_PARAM'],
    ] as const) {
      const r = await h.req('PUT', `${ADMIN}/v2/users/@newbie:${SERVER}`, { token: root.access_token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode).toBe(code);
    }
    const demote = await h.req('PUT', `${ADMIN}/v2/users/${root.user_id}`, { token: root.access_token, body: { admin: false } });
    expect(demote.status).toBe(400);
    expect(demote.body.error).toBe('You may not demote yourself.');
    const remote = await h.req('PUT', `${ADMIN}/v2/users/@x:elsewhere.org`, { token: root.access_token, body: {} });
    expect(remote.status).toBe(400);
    const badName = await h.req('PUT', `${ADMIN}/v2/users/@Upper:${SERVER}`, { token: root.access_token, body: { password: 'x' } });
    expect(badName.status).toBe(400);
    expect(badName.body.errcode).toBe('M_INVALID_USERNAME');
  });

  it('PUT deactivated: true deactivates; false needs a password and reactivates', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const roomId = await h.createRoom(root, { preset: 'public_chat' });
    await h.join(bob, roomId);
    const off = await h.req('PUT', `${ADMIN}/v2/users/@bob:${SERVER}`, { token: root.access_token, body: { deactivated: true } });
    expect(off.status).toBe(200);
    expect(off.body.deactivated).toBe(true);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token })).status).toBe(401);
    expect((await h.store.getMembership(roomId, bob.user_id))?.membership).toBe('leave');

    const noPassword = await h.req('PUT', `${ADMIN}/v2/users/@bob:${SERVER}`, { token: root.access_token, body: { deactivated: false } });
    expect(noPassword.status).toBe(400);
    expect(noPassword.body.error).toBe('Must provide a password to re-activate an account.');
    const on = await h.req('PUT', `${ADMIN}/v2/users/@bob:${SERVER}`, { token: root.access_token, body: { deactivated: false, password: 'back' } });
    expect(on.status).toBe(200);
    expect(on.body.deactivated).toBe(false);
    const again = await h.login('bob', 'back');
    expect((await h.req('GET', `${V3}/account/whoami`, { token: again.access_token })).status).toBe(200);
  });

  it('POST v1/deactivate: id_server_unbind_result, tokens revoked, rooms left, erase recorded', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const roomId = await h.createRoom(root, { preset: 'public_chat' });
    await h.join(bob, roomId);
    // Raw user ID in the path, as synadm sends it.
    const r = await h.req('POST', `${ADMIN}/v1/deactivate/@bob:${SERVER}`, { token: root.access_token, body: { erase: true } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id_server_unbind_result: 'success' });
    expect((await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token })).body.errcode).toBe('M_UNKNOWN_TOKEN');
    expect((await h.store.getMembership(roomId, bob.user_id))?.membership).toBe('leave');
    const login = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bob' }, password: 'pw' } });
    expect(login.status).toBe(403);
    const details = await h.req('GET', `${ADMIN}/v2/users/${enc(bob.user_id)}`, { token: root.access_token });
    expect(details.body).toMatchObject({ deactivated: true, erased: true, displayname: null });

    // An empty body is accepted (older tools send none).
    const carol = await h.register('carol');
    const empty = await h.req('POST', `${ADMIN}/v1/deactivate/${enc(carol.user_id)}`, { token: root.access_token });
    expect(empty.status).toBe(200);
    expect(empty.body.id_server_unbind_result).toBe('success');
    expect((await h.req('POST', `${ADMIN}/v1/deactivate/@nobody:${SERVER}`, { token: root.access_token, body: {} })).status).toBe(404);
    expect((await h.req('POST', `${ADMIN}/v1/deactivate/@x:elsewhere.org`, { token: root.access_token, body: {} })).status).toBe(400);
    const badErase = await h.req('POST', `${ADMIN}/v1/deactivate/@root:${SERVER}`, { token: root.access_token, body: { erase: 'yes' } });
    expect(badErase.status).toBe(400);
    expect(badErase.body.errcode).toBe('M_BAD_JSON');
  });

  it('POST v1/reset_password sets the password and logs out unless told not to', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const missing = await h.req('POST', `${ADMIN}/v1/reset_password/@bob:${SERVER}`, { token: root.access_token, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
    const r = await h.req('POST', `${ADMIN}/v1/reset_password/@bob:${SERVER}`, { token: root.access_token, body: { new_password: 'fresh' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    expect((await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token })).status).toBe(401);
    await h.login('bob', 'fresh');
  });

  it('joined_rooms, and the synadm membership flow: each room’s aliases through r0 as an admin not in the room', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const withAlias = await h.createRoom(bob, { room_alias_name: 'bobs' });
    const plain = await h.createRoom(bob);
    for (const path of [bob.user_id, enc(bob.user_id)]) {
      const r = await h.req('GET', `${ADMIN}/v1/users/${path}/joined_rooms`, { token: root.access_token });
      expect(r.status).toBe(200);
      expect(r.body.total).toBe(2);
      expect([...r.body.joined_rooms].sort()).toEqual([withAlias, plain].sort());
    }
    const aliases = await h.req('GET', `${R0}/rooms/${enc(withAlias)}/aliases`, { token: root.access_token });
    expect(aliases.status).toBe(200);
    expect(aliases.body).toEqual({ aliases: [`#bobs:${SERVER}`] });
    expect((await h.req('GET', `${R0}/rooms/${enc(plain)}/aliases`, { token: root.access_token })).body).toEqual({ aliases: [] });
    // Not for other users who are not in the room.
    const carol = await h.register('carol');
    expect((await h.req('GET', `${R0}/rooms/${enc(withAlias)}/aliases`, { token: carol.access_token })).status).toBe(403);
    const none = await h.req('GET', `${ADMIN}/v1/users/${carol.user_id}/joined_rooms`, { token: root.access_token });
    expect(none.body).toEqual({ joined_rooms: [], total: 0 });
  });

  it('whois as an admin: the user’s devices with the addresses and user agents they were used from', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token, headers: { 'user-agent': 'synadm-test/1' }, remoteAddress: '10.1.2.3' });
    const r = await h.req('GET', `${ADMIN}/v1/whois/${bob.user_id}`, { token: root.access_token });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(bob.user_id);
    expect(r.body.devices[bob.device_id].sessions[0].connections).toEqual([{ ip: '10.1.2.3', last_seen: NOW, user_agent: 'synadm-test/1' }]);
  });

  it('users/{userId}/media: the user’s uploads newest first with created_ts, last_access_ts, total and next_token', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const media = createMediaStore(h.db);
    for (let i = 0; i < 3; i++) {
      await media.insertLocal({
        mediaId: `m${i}`,
        userId: bob.user_id,
        createdTs: NOW + i,
        mediaType: 'image/png',
        uploadName: `f${i}.png`,
        mediaLength: 10 + i,
        sha256: null,
        authenticated: false,
        urlCache: null,
      });
    }
    // A pending upload (no content yet) and another user's upload are not listed.
    await media.insertPending('pending', bob.user_id, NOW, false);
    await media.insertLocal({ mediaId: 'other', userId: root.user_id, createdTs: NOW, mediaType: 'text/plain', uploadName: null, mediaLength: 1, sha256: null, authenticated: false, urlCache: null });

    const r = await h.req('GET', `${ADMIN}/v1/users/${bob.user_id}/media`, { token: root.access_token });
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(3);
    expect(r.body.next_token).toBeUndefined();
    expect(r.body.media.map((m: any) => m.media_id)).toEqual(['m2', 'm1', 'm0']);
    expect(r.body.media[0]).toEqual({
      media_id: 'm2',
      media_type: 'image/png',
      media_length: 12,
      upload_name: 'f2.png',
      created_ts: NOW + 2,
      last_access_ts: null,
      quarantined_by: null,
      safe_from_quarantine: false,
    });
    const page = await h.req('GET', `${ADMIN}/v1/users/${enc(bob.user_id)}/media?limit=2&order_by=created_ts&dir=f`, { token: root.access_token });
    expect(page.body.media.map((m: any) => m.media_id)).toEqual(['m0', 'm1']);
    expect(page.body.next_token).toBe(2);
    expect(page.body.total).toBe(3);
    expect((await h.req('GET', `${ADMIN}/v1/users/@nobody:${SERVER}/media`, { token: root.access_token })).status).toBe(404);
  });
});

describe('rooms', () => {
  it('lists rooms with the fields synapse-admin reads, total_rooms, offset, next_batch and prev_batch', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const big = await h.createRoom(bob, { name: 'Big room', preset: 'public_chat', room_alias_name: 'big', visibility: 'public' });
    await h.join(root, big);
    const secret = await h.createRoom(bob, {
      name: 'Secret',
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    const space = await h.createRoom(root, { name: 'A space', creation_content: { type: 'm.space' } });

    const r = await h.req('GET', `${ADMIN}/v1/rooms`, { token: root.access_token });
    expect(r.status).toBe(200);
    expect(r.body.total_rooms).toBe(3);
    expect(r.body.offset).toBe(0);
    expect(r.body.next_batch).toBeUndefined();
    expect(r.body.rooms.map((x: any) => x.name)).toEqual(['A space', 'Big room', 'Secret']);
    const bigEntry = r.body.rooms.find((x: any) => x.room_id === big);
    const stateEvents = (await h.store.getCurrentStateIds(big)).size;
    expect(bigEntry).toEqual({
      room_id: big,
      name: 'Big room',
      canonical_alias: `#big:${SERVER}`,
      joined_members: 2,
      joined_local_members: 2,
      version: h.config.default_room_version,
      creator: bob.user_id,
      encryption: null,
      federatable: true,
      public: true,
      join_rules: 'public',
      guest_access: null,
      history_visibility: 'shared',
      state_events: stateEvents,
      room_type: null,
    });
    expect(r.body.rooms.find((x: any) => x.room_id === secret)).toMatchObject({ encryption: 'm.megolm.v1.aes-sha2', public: false, join_rules: 'invite' });
    expect(r.body.rooms.find((x: any) => x.room_id === space).room_type).toBe('m.space');

    const bySize = await h.req('GET', `${ADMIN}/v1/rooms?order_by=joined_members&limit=1`, { token: root.access_token });
    expect(bySize.body.rooms.map((x: any) => x.room_id)).toEqual([big]);
    expect(bySize.body.next_batch).toBe(1);
    const second = await h.req('GET', `${ADMIN}/v1/rooms?order_by=joined_members&limit=1&from=${bySize.body.next_batch}`, { token: root.access_token });
    expect(second.body.offset).toBe(1);
    expect(second.body.prev_batch).toBe(0);
    expect(second.body.next_batch).toBe(2);
    expect(second.body.rooms).toHaveLength(1);
    expect(second.body.rooms[0].room_id).not.toBe(big);

    const search = async (q: string) => (await h.req('GET', `${ADMIN}/v1/rooms?search_term=${enc(q)}`, { token: root.access_token })).body;
    expect((await search('big')).rooms.map((x: any) => x.room_id)).toEqual([big]);
    expect((await search('BIG')).total_rooms).toBe(1);
    expect((await search(secret)).rooms.map((x: any) => x.room_id)).toEqual([secret]);
    expect((await search('nothing')).total_rooms).toBe(0);
    const publicOnly = await h.req('GET', `${ADMIN}/v1/rooms?public_rooms=true`, { token: root.access_token });
    expect(publicOnly.body.rooms.map((x: any) => x.room_id)).toEqual([big]);
    const empty = await h.req('GET', `${ADMIN}/v1/rooms?search_term=`, { token: root.access_token });
    expect(empty.status).toBe(400);
    const long = await h.req('GET', `${ADMIN}/v1/rooms?search_term=${'x'.repeat(30_000)}`, { token: root.access_token });
    expect([long.status, long.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    expect((await h.req('GET', `${ADMIN}/v1/rooms?order_by=colour`, { token: root.access_token })).status).toBe(400);
  });

  it('room details and members, raw and encoded room IDs; 404 unknown, 400 malformed', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const roomId = await h.createRoom(bob, { name: 'Room', topic: 'About things', preset: 'public_chat' });
    await h.join(root, roomId);
    await h.req('PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.avatar/`, { token: bob.access_token, body: { url: 'mxc://test.local/av' } });
    for (const path of [roomId, enc(roomId)]) {
      const d = await h.req('GET', `${ADMIN}/v1/rooms/${path}`, { token: root.access_token });
      expect(d.status, path).toBe(200);
      expect(d.body).toMatchObject({
        room_id: roomId,
        name: 'Room',
        topic: 'About things',
        avatar: 'mxc://test.local/av',
        joined_members: 2,
        joined_local_members: 2,
        joined_local_devices: 2,
        creator: bob.user_id,
        forgotten: false,
        public: false,
      });
      const m = await h.req('GET', `${ADMIN}/v1/rooms/${path}/members`, { token: root.access_token });
      expect(m.status).toBe(200);
      expect(m.body.total).toBe(2);
      expect([...m.body.members].sort()).toEqual([bob.user_id, root.user_id].sort());
    }
    const unknown = await h.req('GET', `${ADMIN}/v1/rooms/!nope:${SERVER}`, { token: root.access_token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('GET', `${ADMIN}/v1/rooms/!nope:${SERVER}/members`, { token: root.access_token })).status).toBe(404);
    expect((await h.req('GET', `${ADMIN}/v1/rooms/not-a-room`, { token: root.access_token })).status).toBe(400);

    // Everyone leaves and forgets: the room is forgotten.
    for (const s of [root, bob]) {
      await h.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: s.access_token, body: {} });
      await h.req('POST', `${V3}/rooms/${enc(roomId)}/forget`, { token: s.access_token, body: {} });
    }
    const after = await h.req('GET', `${ADMIN}/v1/rooms/${roomId}`, { token: root.access_token });
    expect(after.body).toMatchObject({ joined_members: 0, forgotten: true });
  });
});
