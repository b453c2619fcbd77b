// The remaining client endpoints: mutual_rooms, timestamp_to_event, room_summary,
// /.well-known/matrix/support, the 3PID requestToken refusals, registration token validity,
// login/get_token (off), and the deprecated initialSync / events reads.
import { describe, expect, it } from 'vitest';
import { adminHarness, enc, NOW, SERVER, V1, V3 } from './admin-harness.js';

describe('mutual_rooms', () => {
  it('rooms both users are joined to, with count and next_batch pages; 400 for missing, bad or own user ID and bad tokens', async () => {
    const h = await adminHarness({}, { mutualRoomsPageSize: 2 });
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const shared: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.createRoom(alice, { preset: 'public_chat' });
      await h.join(bob, r);
      shared.push(r);
    }
    await h.createRoom(alice); // alice only
    const left = await h.createRoom(alice, { preset: 'public_chat' });
    await h.join(bob, left);
    await h.req('POST', `${V3}/rooms/${enc(left)}/leave`, { token: bob.access_token, body: {} });

    const got: string[] = [];
    let from: string | undefined;
    let pages = 0;
    do {
      const r = await h.req('GET', `${V1}/mutual_rooms?user_id=${enc(bob.user_id)}${from ? `&from=${enc(from)}` : ''}`, { token: alice.access_token });
      expect(r.status).toBe(200);
      expect(r.body.count).toBe(3);
      got.push(...r.body.joined);
      from = r.body.next_batch;
      pages++;
    } while (from !== undefined);
    expect(pages).toBe(2);
    expect(got.sort()).toEqual([...shared].sort());

    const stranger = await h.req('GET', `${V1}/mutual_rooms?user_id=${enc(`@nobody:${SERVER}`)}`, { token: alice.access_token });
    expect(stranger.body).toEqual({ joined: [], count: 0 });
    for (const [q, code] of [
      ['', 'M_MISSING_PARAM'],
      [`user_id=${enc('not a user')}`, 'M_INVALID_PARAM'],
      [`user_id=${enc(alice.user_id)}`, 'M_INVALID_PARAM'],
      [`user_id=${enc(bob.user_id)}&from=garbage!`, 'M_INVALID_PARAM'],
      [`user_id=${enc(bob.user_id)}&from=${Buffer.from('not-a-room').toString('base64url')}`, 'M_INVALID_PARAM'],
    ] as const) {
      const r = await h.req('GET', `${V1}/mutual_rooms?${q}`, { token: alice.access_token });
      expect(r.status, q).toBe(400);
      expect(r.body.errcode, q).toBe(code);
    }
    expect((await h.req('GET', `${V1}/mutual_rooms?user_id=${enc(bob.user_id)}`)).status).toBe(401);
  });
});

describe('timestamp_to_event', () => {
  it('the closest visible event after (f) or before (b) a time; 404 past the ends; members and world-readable rooms only', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice);
    h.clock.now = NOW + 10_000;
    const e1 = await h.send(alice, roomId, 'one');
    h.clock.now = NOW + 20_000;
    const e2 = await h.send(alice, roomId, 'two');
    const url = (ts: number, dir: string) => `${V1}/rooms/${enc(roomId)}/timestamp_to_event?ts=${ts}&dir=${dir}`;
    const t = { token: alice.access_token };

    expect((await h.req('GET', url(NOW + 15_000, 'f'), t)).body).toEqual({ event_id: e2, origin_server_ts: NOW + 20_000 });
    expect((await h.req('GET', url(NOW + 15_000, 'b'), t)).body).toEqual({ event_id: e1, origin_server_ts: NOW + 10_000 });
    expect((await h.req('GET', url(NOW + 10_000, 'f'), t)).body.event_id).toBe(e1);
    const past = await h.req('GET', url(NOW + 30_000, 'f'), t);
    expect(past.status).toBe(404);
    expect(past.body.errcode).toBe('M_NOT_FOUND');
    // The room's first events (creation) are found backwards from its start.
    const first = await h.req('GET', url(NOW, 'b'), t);
    expect(first.status).toBe(200);
    expect((await h.store.getEvent(first.body.event_id))!.event.originServerTs).toBe(NOW);

    const outsider = await h.req('GET', url(NOW + 15_000, 'f'), { token: bob.access_token });
    expect(outsider.status).toBe(403);
    expect(outsider.body.errcode).toBe('M_FORBIDDEN');
    await h.req('PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.history_visibility/`, { token: alice.access_token, body: { history_visibility: 'world_readable' } });
    expect((await h.req('GET', url(NOW + 15_000, 'f'), { token: bob.access_token })).body.event_id).toBe(e2);

    for (const q of ['dir=f', 'ts=1', 'ts=x&dir=f', 'ts=1&dir=up', 'ts=-5&dir=f']) {
      const r = await h.req('GET', `${V1}/rooms/${enc(roomId)}/timestamp_to_event?${q}`, t);
      expect(r.status, q).toBe(400);
      expect(['M_MISSING_PARAM', 'M_INVALID_PARAM']).toContain(r.body.errcode);
    }
  });
});

describe('room_summary', () => {
  it('summaries of public rooms for anyone, by ID or alias; private rooms only for members and invitees', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const pub = await h.createRoom(alice, {
      preset: 'public_chat',
      name: 'Lobby',
      topic: 'Say hello',
      room_alias_name: 'lobby',
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    const priv = await h.createRoom(alice, { name: 'Private' });

    const anon = await h.req('GET', `${V1}/room_summary/${enc(pub)}`);
    expect(anon.status).toBe(200);
    expect(anon.body).toEqual({
      room_id: pub,
      room_version: h.config.default_room_version,
      name: 'Lobby',
      topic: 'Say hello',
      canonical_alias: `#lobby:${SERVER}`,
      num_joined_members: 1,
      join_rule: 'public',
      world_readable: false,
      guest_can_join: false,
      encryption: 'm.megolm.v1.aes-sha2',
    });
    const byAlias = await h.req('GET', `${V1}/room_summary/${enc(`#lobby:${SERVER}`)}`, { token: bob.access_token });
    expect(byAlias.status).toBe(200);
    expect(byAlias.body).toMatchObject({ room_id: pub, membership: 'leave' });
    expect((await h.req('GET', `${V1}/room_summary/${enc(pub)}`, { token: alice.access_token })).body.membership).toBe('join');
    // Element's unstable path.
    const unstable = await h.req('GET', `/_matrix/client/unstable/im.nheko.summary/summary/${enc(pub)}`);
    expect(unstable.body.room_id).toBe(pub);

    for (const token of [undefined, bob.access_token]) {
      const r = await h.req('GET', `${V1}/room_summary/${enc(priv)}`, token ? { token } : {});
      expect(r.status).toBe(404);
      expect(r.body.errcode).toBe('M_NOT_FOUND');
    }
    await h.invite(alice, priv, bob.user_id);
    const invited = await h.req('GET', `${V1}/room_summary/${enc(priv)}`, { token: bob.access_token });
    expect(invited.status).toBe(200);
    expect(invited.body).toMatchObject({ room_id: priv, name: 'Private', join_rule: 'invite', membership: 'invite' });

    expect((await h.req('GET', `${V1}/room_summary/${enc(`#nothing:${SERVER}`)}`)).status).toBe(404);
    expect((await h.req('GET', `${V1}/room_summary/${enc(`!unknown:${SERVER}`)}`)).status).toBe(404);
    expect((await h.req('GET', `${V1}/room_summary/garbage`)).status).toBe(400);
  });

  it('restricted rooms: visible to members of an allowed room, with allowed_room_ids', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const space = await h.createRoom(alice, { preset: 'public_chat', creation_content: { type: 'm.space' } });
    await h.join(bob, space);
    const restricted = await h.createRoom(alice, {
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    const r = await h.req('GET', `${V1}/room_summary/${enc(restricted)}`, { token: bob.access_token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ join_rule: 'restricted', allowed_room_ids: [space], membership: 'leave' });
    expect((await h.req('GET', `${V1}/room_summary/${enc(restricted)}`, { token: carol.access_token })).status).toBe(404);
    expect((await h.req('GET', `${V1}/room_summary/${enc(space)}`)).body.room_type).toBe('m.space');
  });
});

describe('/.well-known/matrix/support', () => {
  it('404 M_NOT_FOUND until config `support` is set, then the contacts and page', async () => {
    const none = await adminHarness();
    const r = await none.req('GET', '/.well-known/matrix/support');
    expect(r.status).toBe(404);
    expect(r.body.errcode).toBe('M_NOT_FOUND');
    const h = await adminHarness({
      support: { contacts: [{ matrix_id: `@admin:${SERVER}`, role: 'm.role.admin' }, { email_address: 'sec@example.org', role: 'm.role.security' }], support_page: 'https://example.org/help' },
    });
    const ok = await h.req('GET', '/.well-known/matrix/support');
    expect(ok.status).toBe(200);
    expect(ok.raw.headers['access-control-allow-origin']).toBe('*');
    expect(ok.body).toEqual({
      contacts: [
        { matrix_id: `@admin:${SERVER}`, role: 'm.role.admin' },
        { email_address: 'sec@example.org', role: 'm.role.security' },
      ],
      support_page: 'https://example.org/help',
    });
    await expect(adminHarness({ support: { contacts: [{ role: 'm.role.admin' }] } })).rejects.toThrow(/matrix_id or email_address/);
  });
});

describe('3PID tokens, registration tokens, login tokens', () => {
  it('requestToken answers as Synapse without email or SMS', async () => {
    const h = await adminHarness();
    const email = { client_secret: 'abc', email: 'a@example.org', send_attempt: 1 };
    const msisdn = { client_secret: 'abc', country: 'GB', phone_number: '07700900000', send_attempt: 1 };
    const reg = await h.req('POST', `${V3}/register/email/requestToken`, { body: email });
    expect(reg.status).toBe(400);
    expect(reg.body).toEqual({ errcode: 'M_UNKNOWN', error: 'Email-based registration has been disabled on this server' });
    const pw = await h.req('POST', `/_matrix/client/r0/account/password/email/requestToken`, { body: email });
    expect(pw.status).toBe(400);
    expect(pw.body.error).toBe('Email-based password resets have been disabled on this server');
    for (const path of ['/register/msisdn/requestToken', '/account/password/msisdn/requestToken']) {
      const missing = await h.req('POST', `${V3}${path}`, { body: { client_secret: 'abc' } });
      expect(missing.status, path).toBe(400);
      expect(missing.body.errcode).toBe('M_MISSING_PARAM');
      const r = await h.req('POST', `${V3}${path}`, { body: msisdn });
      expect(r.status, path).toBe(400);
      expect(r.body.errcode).toBe('M_UNKNOWN');
      expect(r.body.error).toMatch(/phone number is not supported/);
    }
  });

  it('registration token validity: 403 with registration off, otherwise no token is valid', async () => {
    const off = await adminHarness({ enable_registration: false });
    const r = await off.req('GET', `${V1}/register/m.login.registration_token/validity?token=abc`);
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ errcode: 'M_FORBIDDEN', error: 'Registration has been disabled' });
    const on = await adminHarness();
    expect((await on.req('GET', `${V1}/register/m.login.registration_token/validity?token=abc`)).body).toEqual({ valid: false });
    expect((await on.req('GET', `${V1}/register/m.login.registration_token/validity`)).body.errcode).toBe('M_MISSING_PARAM');
  });

  it('POST /login/get_token is off: JSON 404 M_UNRECOGNIZED, and capabilities say so', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const r = await h.req('POST', `${V1}/login/get_token`, { token: alice.access_token, body: {} });
    expect(r.status).toBe(404);
    expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    expect(r.raw.headers['content-type']).toMatch(/json/);
    const caps = await h.req('GET', `${V3}/capabilities`, { token: alice.access_token });
    expect(caps.body.capabilities['m.get_login_token']).toEqual({ enabled: false });
  });
});

describe('deprecated initialSync and events', () => {
  it('GET /rooms/{roomId}/initialSync: state, latest messages oldest first with tokens, membership, receipts; peeking world-readable rooms', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice, { name: 'Old school' });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await h.send(alice, roomId, `m${i}`));
    await h.req('POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(ids[3]!)}`, { token: alice.access_token, body: {} });

    const r = await h.req('GET', `${V3}/rooms/${enc(roomId)}/initialSync?limit=3`, { token: alice.access_token });
    expect(r.status).toBe(200);
    expect(r.body.room_id).toBe(roomId);
    expect(r.body.membership).toBe('join');
    expect(r.body.visibility).toBe('private');
    expect(r.body.messages.chunk.map((e: any) => e.event_id)).toEqual(ids.slice(1));
    expect(r.body.messages.chunk[0].room_id).toBe(roomId);
    expect(typeof r.body.messages.end).toBe('string');
    // `start` pages further back through /messages.
    const older = await h.req('GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=1&from=${enc(r.body.messages.start)}`, { token: alice.access_token });
    expect(older.body.chunk.map((e: any) => e.event_id)).toEqual([ids[0]]);
    expect(r.body.state.map((e: any) => e.type)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.name', 'm.room.member']));
    expect(r.body.receipts).toEqual([{ type: 'm.receipt', room_id: roomId, content: { [ids[3]!]: { 'm.read': { [alice.user_id]: expect.any(Object) } } } }]);
    expect(Array.isArray(r.body.presence)).toBe(true);
    expect(r.body.account_data).toEqual([]);

    const denied = await h.req('GET', `${V3}/rooms/${enc(roomId)}/initialSync`, { token: bob.access_token });
    expect(denied.status).toBe(403);
    await h.req('PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.history_visibility/`, { token: alice.access_token, body: { history_visibility: 'world_readable' } });
    const peek = await h.req('GET', `${V3}/rooms/${enc(roomId)}/initialSync`, { token: bob.access_token });
    expect(peek.status).toBe(200);
    expect(peek.body.membership).toBeUndefined();
    expect(peek.body.messages.chunk.length).toBeGreaterThan(0);
  });

  it('GET /initialSync: joined rooms with their state and messages, invites, account data', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const joined = await h.createRoom(alice, { name: 'Mine' });
    await h.send(alice, joined, 'hello');
    const invitedTo = await h.createRoom(bob);
    await h.invite(bob, invitedTo, alice.user_id);
    await h.req('PUT', `${V3}/user/${enc(alice.user_id)}/account_data/org.example.setting`, { token: alice.access_token, body: { on: true } });

    const r = await h.req('GET', `${V3}/initialSync?limit=5`, { token: alice.access_token });
    expect(r.status).toBe(200);
    expect(typeof r.body.end).toBe('string');
    expect(r.body.account_data).toContainEqual({ type: 'org.example.setting', content: { on: true } });
    const mine = r.body.rooms.find((x: any) => x.room_id === joined);
    expect(mine.membership).toBe('join');
    expect(mine.messages.chunk.at(-1).content.body).toBe('hello');
    const inv = r.body.rooms.find((x: any) => x.room_id === invitedTo);
    expect(inv).toMatchObject({ membership: 'invite', inviter: bob.user_id });
    expect(inv.invite).toMatchObject({ type: 'm.room.member', state_key: alice.user_id, content: { membership: 'invite' } });
  });

  it('GET /events: new events after a token, long-polling until one arrives; GET /events/{eventId}', async () => {
    const h = await adminHarness();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(alice);
    const other = await h.createRoom(bob);

    const idle = await h.req('GET', `${V3}/events?timeout=0`, { token: alice.access_token });
    expect(idle.status).toBe(200);
    expect(idle.body.chunk).toEqual([]);
    const token = idle.body.end as string;

    await h.send(bob, other, 'not for alice');
    const e1 = await h.send(alice, roomId, 'one');
    const got = await h.req('GET', `${V3}/events?from=${enc(token)}&timeout=0`, { token: alice.access_token });
    expect(got.body.start).toBe(token);
    expect(got.body.chunk.map((e: any) => e.event_id)).toEqual([e1]);
    expect(got.body.chunk[0].room_id).toBe(roomId);

    // Long poll: the request waits until the next event.
    const pending = h.req('GET', `${V3}/events?from=${enc(got.body.end)}&timeout=10000`, { token: alice.access_token });
    await new Promise((r) => setTimeout(r, 50));
    const e2 = await h.send(alice, roomId, 'two');
    const woke = await pending;
    expect(woke.body.chunk.map((e: any) => e.event_id)).toEqual([e2]);

    // An invite to a new room reaches the invitee's stream.
    const third = await h.createRoom(bob);
    await h.invite(bob, third, alice.user_id);
    const invited = await h.req('GET', `${V3}/events?from=${enc(woke.body.end)}&timeout=0`, { token: alice.access_token });
    expect(invited.body.chunk.map((e: any) => [e.type, e.state_key, e.content.membership])).toEqual([['m.room.member', alice.user_id, 'invite']]);

    expect((await h.req('GET', `${V3}/events?from=garbage`, { token: alice.access_token })).status).toBe(400);
    const single = await h.req('GET', `${V3}/events/${enc(e1)}`, { token: alice.access_token });
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({ event_id: e1, room_id: roomId, content: { body: 'one' } });
    // Not visible to bob: not found, as GET /rooms/{roomId}/event/{eventId} answers.
    const hidden = await h.req('GET', `${V3}/events/${enc(e1)}`, { token: bob.access_token });
    expect(hidden.status).toBe(404);
    expect(hidden.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('GET', `${V3}/events/${enc('$nope')}`, { token: alice.access_token })).status).toBe(404);
  });
});
