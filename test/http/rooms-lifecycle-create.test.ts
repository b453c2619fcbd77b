// POST /createRoom through Fastify: presets, power levels (v1-v11 and v12), the event order,
// aliases, initial_state, name/topic, invites, room versions and the error cases.
import { afterEach, describe, expect, it } from 'vitest';
import { lifecycleHarness, enc, SERVER, V3, type LifecycleHarness } from './rooms-lifecycle-harness.js';

const harnesses: LifecycleHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(config: Record<string, unknown> = {}): Promise<LifecycleHarness> {
  const h = await lifecycleHarness(config);
  harnesses.push(h);
  return h;
}

describe('POST /createRoom', () => {
  it('private_chat by default: invite join rule, shared history, guests can join, room version 12', async () => {
    const h = await setup();
    const ann = await h.register('ann', { displayname: 'Ann' });
    const r = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['room_id']);
    const roomId = r.body.room_id as string;
    expect(await h.store.getRoomVersion(roomId)).toBe('12');
    expect(await h.state(roomId, 'm.room.join_rules')).toEqual({ join_rule: 'invite' });
    expect(await h.state(roomId, 'm.room.history_visibility')).toEqual({ history_visibility: 'shared' });
    expect(await h.state(roomId, 'm.room.guest_access')).toEqual({ guest_access: 'can_join' });
    expect(await h.state(roomId, 'm.room.member', ann.user_id)).toEqual({ membership: 'join', displayname: 'Ann' });
    // v12: the creator has infinite power and is not listed; tombstones need 150 (> state_default).
    const pl = (await h.state(roomId, 'm.room.power_levels'))!;
    expect(pl.users).toEqual({});
    expect(pl.invite).toBe(0);
    expect((pl.events as Record<string, number>)['m.room.tombstone']).toBe(150);
    expect(pl.state_default).toBe(50);
    // Not published.
    expect((await h.req('GET', `${V3}/directory/list/room/${enc(roomId)}`)).body).toEqual({ visibility: 'private' });
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body).toEqual({ joined_rooms: [roomId] });
  });

  it('sends the events in the spec order: create, join, power levels, alias, preset, initial_state, name, topic, invites', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token, {
      room_version: '10',
      room_alias_name: 'order',
      name: 'The room',
      topic: 'About things',
      invite: [bob.user_id],
      initial_state: [{ type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    const types = (await h.timeline(roomId)).map((e) => (e.type === 'm.room.member' ? `${e.type}:${e.content.membership}` : e.type));
    expect(types).toEqual([
      'm.room.create',
      'm.room.member:join',
      'm.room.power_levels',
      'm.room.canonical_alias',
      'm.room.join_rules',
      'm.room.history_visibility',
      'm.room.guest_access',
      'm.room.encryption',
      'm.room.name',
      'm.room.topic',
      'm.room.member:invite',
    ]);
    // v1-v10: the creator is named in the create event and has 100 in the power levels.
    expect((await h.state(roomId, 'm.room.create'))!.creator).toBe(ann.user_id);
    const pl = (await h.state(roomId, 'm.room.power_levels'))!;
    expect(pl.users).toEqual({ [ann.user_id]: 100 });
    expect((pl.events as Record<string, number>)['m.room.tombstone']).toBe(100);
    expect(await h.state(roomId, 'm.room.name')).toEqual({ name: 'The room' });
    // The topic also as an m.topic content block (spec v1.15).
    expect(await h.state(roomId, 'm.room.topic')).toEqual({ topic: 'About things', 'm.topic': { 'm.text': [{ body: 'About things' }] } });
  });

  it('public_chat (also implied by visibility public): public join rule, no guest access, published', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, { visibility: 'public' });
    expect(await h.state(roomId, 'm.room.join_rules')).toEqual({ join_rule: 'public' });
    expect(await h.state(roomId, 'm.room.history_visibility')).toEqual({ history_visibility: 'shared' });
    expect(await h.state(roomId, 'm.room.guest_access')).toBeUndefined();
    expect((await h.state(roomId, 'm.room.power_levels'))!.invite).toBe(50);
    expect((await h.req('GET', `${V3}/directory/list/room/${enc(roomId)}`)).body).toEqual({ visibility: 'public' });

    // An explicit preset wins over the visibility.
    const other = await h.createRoom(ann.access_token, { visibility: 'public', preset: 'private_chat' });
    expect(await h.state(other, 'm.room.join_rules')).toEqual({ join_rule: 'invite' });
    expect((await h.req('GET', `${V3}/directory/list/room/${enc(other)}`)).body).toEqual({ visibility: 'public' });
  });

  it('trusted_private_chat: invitees get the creator power (v10) or become additional creators (v12)', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob', { displayname: 'Bob' });
    const v10 = await h.createRoom(ann.access_token, { preset: 'trusted_private_chat', invite: [bob.user_id], room_version: '10', is_direct: true });
    expect((await h.state(v10, 'm.room.power_levels'))!.users).toEqual({ [ann.user_id]: 100, [bob.user_id]: 100 });
    // is_direct on the invite, with the invitee's profile (as Synapse does).
    expect(await h.state(v10, 'm.room.member', bob.user_id)).toEqual({ membership: 'invite', is_direct: true, displayname: 'Bob' });

    const v12 = await h.createRoom(ann.access_token, { preset: 'trusted_private_chat', invite: [bob.user_id] });
    expect((await h.state(v12, 'm.room.create'))!.additional_creators).toEqual([bob.user_id]);
    expect((await h.state(v12, 'm.room.power_levels'))!.users).toEqual({});
    expect(await h.membership(v12, bob.user_id)).toBe('invite');
    // Bob joins and, being a creator, may change the power levels.
    expect((await h.req('POST', `${V3}/join/${enc(v12)}`, { token: bob.access_token, body: {} })).status).toBe(200);
    const pl = (await h.state(v12, 'm.room.power_levels'))!;
    const put = await h.rooms.sendLocalEvent(v12, { type: 'm.room.power_levels', stateKey: '', sender: bob.user_id, content: { ...pl, users: { '@x:test.local': 99 } } });
    expect(put.status).toBe('accepted');
  });

  it('applies power_level_content_override on top of the defaults', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, {
      room_version: '11',
      power_level_content_override: { events_default: 50, users: { [ann.user_id]: 100, '@carol:test.local': 75 }, kick: 75 },
    });
    const pl = (await h.state(roomId, 'm.room.power_levels'))!;
    expect(pl.events_default).toBe(50);
    expect(pl.kick).toBe(75);
    expect(pl.ban).toBe(50);
    expect(pl.users).toEqual({ [ann.user_id]: 100, '@carol:test.local': 75 });
    // v12: creators named in an override are dropped (they cannot be listed), others kept.
    const v12 = await h.createRoom(ann.access_token, { power_level_content_override: { users: { [ann.user_id]: 100, '@carol:test.local': 75 } } });
    expect((await h.state(v12, 'm.room.power_levels'))!.users).toEqual({ '@carol:test.local': 75 });
  });

  it('refuses an override whose users leave out the creator (v1-v11), and state the creator cannot send', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const r = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_version: '10', power_level_content_override: { users: {} } } });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_INVALID_PARAM');
    // The creator at 10 cannot send the join rules (50): nothing is created.
    const weak = await h.req('POST', `${V3}/createRoom`, {
      token: ann.access_token,
      body: { room_version: '10', power_level_content_override: { users: { [ann.user_id]: 10 } } },
    });
    expect(weak.status).toBe(400);
    expect(weak.body.errcode).toBe('M_INVALID_ROOM_STATE');
    // A second m.room.create in initial_state cannot be sent either.
    const create = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { initial_state: [{ type: 'm.room.create', content: {} }] } });
    expect(create.status).toBe(400);
    expect(create.body.errcode).toBe('M_INVALID_ROOM_STATE');
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body.joined_rooms).toEqual([]);
  });

  it('initial_state overrides the preset and its power levels replace the defaults; name and topic override initial_state', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, {
      room_version: '10',
      preset: 'private_chat',
      name: 'From name',
      initial_state: [
        { type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } },
        { type: 'm.room.name', content: { name: 'From state' } },
        { type: 'org.example.custom', state_key: 'k', content: { v: 1 } },
        { type: 'org.example.custom', state_key: 'k', content: { v: 2 } },
        { type: 'm.room.power_levels', content: { users: { [ann.user_id]: 100 }, state_default: 0 } },
      ],
      power_level_content_override: { ban: 1 },
    });
    expect(await h.state(roomId, 'm.room.join_rules')).toEqual({ join_rule: 'public' });
    expect(await h.state(roomId, 'm.room.name')).toEqual({ name: 'From name' });
    expect(await h.state(roomId, 'org.example.custom', 'k')).toEqual({ v: 2 });
    expect(await h.state(roomId, 'm.room.power_levels')).toEqual({ users: { [ann.user_id]: 100 }, state_default: 0 });
    const joinRules = (await h.timeline(roomId)).filter((e) => e.type === 'm.room.join_rules');
    expect(joinRules).toHaveLength(1);
  });

  it('room_alias_name creates the alias and the canonical alias; a taken alias is M_ROOM_IN_USE', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, { room_alias_name: 'pub' });
    const alias = `#pub:${SERVER}`;
    expect(await h.state(roomId, 'm.room.canonical_alias')).toEqual({ alias });
    const got = await h.req('GET', `${V3}/directory/room/${enc(alias)}`);
    expect(got.body).toEqual({ room_id: roomId, servers: [SERVER] });
    const again = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_alias_name: 'pub' } });
    expect(again.status).toBe(400);
    expect(again.body.errcode).toBe('M_ROOM_IN_USE');
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body.joined_rooms).toEqual([roomId]);
    for (const bad of ['has space', `pub:${SERVER}`, '']) {
      const r = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_alias_name: bad } });
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode, bad).toBe('M_INVALID_PARAM');
    }
    // An initial canonical alias may only name the alias being created.
    const wrong = await h.req('POST', `${V3}/createRoom`, {
      token: ann.access_token,
      body: { room_alias_name: 'other', initial_state: [{ type: 'm.room.canonical_alias', content: { alias } }] },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errcode).toBe('M_BAD_ALIAS');
    expect((await h.req('GET', `${V3}/directory/room/${enc(`#other:${SERVER}`)}`)).status).toBe(404);
  });

  it('accepts every room version 1-12 and refuses unknown ones', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    for (let v = 1; v <= 12; v++) {
      const roomId = await h.createRoom(ann.access_token, { room_version: String(v), name: `v${v}` });
      expect(await h.store.getRoomVersion(roomId)).toBe(String(v));
      expect(await h.state(roomId, 'm.room.name')).toEqual({ name: `v${v}` });
    }
    const r = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_version: '99' } });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_UNSUPPORTED_ROOM_VERSION');
    const num = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_version: 10 } });
    expect(num.status).toBe(400);
    expect(num.body.errcode).toBe('M_BAD_JSON');
  });

  it('uses the configured default room version', async () => {
    const h = await setup({ default_room_version: '9' });
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token);
    expect(await h.store.getRoomVersion(roomId)).toBe('9');
  });

  it('creation_content keys reach the create event; creator and room_version are the server\'s', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token, {
      room_version: '10',
      creation_content: { 'm.federate': false, type: 'm.space', creator: '@mallory:test.local', room_version: '1' },
    });
    expect(await h.state(roomId, 'm.room.create')).toEqual({ 'm.federate': false, type: 'm.space', creator: ann.user_id, room_version: '10' });
  });

  it('refuses bad requests', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const cases: [unknown, string][] = [
      [[1, 2], 'M_NOT_JSON'],
      [{ preset: 'party' }, 'M_BAD_JSON'],
      [{ name: 5 }, 'M_BAD_JSON'],
      [{ visibility: 'secret' }, 'M_INVALID_PARAM'],
      [{ invite: ['not-a-user'] }, 'M_INVALID_PARAM'],
      [{ invite: 'x' }, 'M_BAD_JSON'],
      [{ initial_state: [{ type: 'x' }] }, 'M_BAD_JSON'],
      [{ creation_content: 'x' }, 'M_BAD_JSON'],
      [{ invite_3pid: [{ medium: 'email', address: 'a@b.c' }] }, 'M_MISSING_PARAM'],
      [{ creation_content: { additional_creators: ['nope'] } }, 'M_INVALID_PARAM'],
      [{ initial_state: [{ type: 'x'.repeat(256), content: {} }] }, 'M_INVALID_PARAM'],
      [{ initial_state: [{ type: 'org.example', state_key: 'k'.repeat(256), content: {} }] }, 'M_INVALID_PARAM'],
      [{ initial_state: [{ type: 'org.example', content: { n: 1.5 } }] }, 'M_BAD_JSON'],
    ];
    for (const [body, errcode] of cases) {
      const r = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
    }
    // Events over 65536 bytes would be refused by every other server.
    const big = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { topic: 'x'.repeat(70_000) } });
    expect(big.status).toBe(413);
    expect(big.body.errcode).toBe('M_TOO_LARGE');
    // Even where the room version would allow floats (v1-v5), canonical JSON (hashes, signatures) cannot hold them.
    const float = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { room_version: '5', initial_state: [{ type: 'org.example', content: { n: 1.5 } }] } });
    expect(float.status).toBe(400);
    expect(float.body.errcode).toBe('M_BAD_JSON');
    // Third-party invites need identity-server lookups, which this server does not do.
    const tpi = await h.req('POST', `${V3}/createRoom`, {
      token: ann.access_token,
      body: { invite_3pid: [{ medium: 'email', address: 'a@b.c', id_server: 'id.example.org', id_access_token: 't' }] },
    });
    expect(tpi.status).toBe(403);
    expect(tpi.body.errcode).toBe('M_FORBIDDEN');
    // Unknown local invitees, and remote ones without federation.
    const unknown = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { invite: ['@ghost:test.local'] } });
    expect(unknown.status).toBe(404);
    const remote = await h.req('POST', `${V3}/createRoom`, { token: ann.access_token, body: { invite: ['@zed:elsewhere.example'] } });
    expect(remote.status).toBe(403);
    expect((await h.req('POST', `${V3}/createRoom`, { body: {} })).status).toBe(401);
    expect((await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body.joined_rooms).toEqual([]);
  });

  it('two identical v12 rooms in the same millisecond get different room IDs', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    // The clock is fixed: the create events would be identical but for the timestamp the writer steps back.
    const [a, b] = await Promise.all([h.createRoom(ann.access_token), h.createRoom(ann.access_token)]);
    const c = await h.createRoom(ann.access_token);
    expect(new Set([a, b, c]).size).toBe(3);
    const joined = (await h.req('GET', `${V3}/joined_rooms`, { token: ann.access_token })).body.joined_rooms as string[];
    expect(joined.sort()).toEqual([a, b, c].sort());
  });

  it('is served under r0 too', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const r = await h.req('POST', '/_matrix/client/r0/createRoom', { token: ann.access_token, body: {} });
    expect(r.status).toBe(200);
    expect((await h.req('GET', '/_matrix/client/r0/joined_rooms', { token: ann.access_token })).body.joined_rooms).toEqual([r.body.room_id]);
  });
});
