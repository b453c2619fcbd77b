// POST /rooms/{roomId}/upgrade through Fastify: the permission check, the replacement room (create
// content with predecessor, copied state, power levels, bans), the tombstone, moved aliases and
// directory listing, and the old room's restricted power levels.
import { afterEach, describe, expect, it } from 'vitest';
import { normalisePowerLevels } from '../../src/rooms/lifecycle/upgrade.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { lifecycleHarness, enc, SERVER, V3, type LifecycleHarness } from './rooms-lifecycle-harness.js';

const harnesses: LifecycleHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<LifecycleHarness> {
  const h = await lifecycleHarness();
  harnesses.push(h);
  return h;
}

const alias = (name: string) => `#${name}:${SERVER}`;

describe('POST /rooms/{roomId}/upgrade', () => {
  it('replaces a v10 room with a v12 room: predecessor, copied state, tombstone, aliases, directory, power levels', async () => {
    const h = await setup();
    const ann = await h.register('ann', { displayname: 'Ann' });
    const bob = await h.register('bob');
    const eve = await h.register('eve');
    const carol = await h.register('carol');
    const oldRoom = await h.createRoom(ann.access_token, {
      room_version: '10',
      visibility: 'public',
      name: 'Old name',
      topic: 'Old topic',
      room_alias_name: 'team',
      power_level_content_override: { users: { [ann.user_id]: 100, [bob.user_id]: 50 } },
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://test.local/a' } },
        { type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
        { type: 'm.room.server_acl', content: { allow: ['*'], deny: ['bad.example'], allow_ip_literals: false } },
        { type: 'org.example.private', content: { secret: true } },
      ],
    });
    await h.req('PUT', `${V3}/directory/room/${enc(alias('alt'))}`, { token: ann.access_token, body: { room_id: oldRoom } });
    await h.rooms.sendLocalEvent(oldRoom, { type: 'm.room.canonical_alias', stateKey: '', sender: ann.user_id, content: { alias: alias('team'), alt_aliases: [alias('alt'), '#far:remote.example'] } });
    await h.req('POST', `${V3}/join/${enc(oldRoom)}`, { token: bob.access_token, body: {} });
    await h.req('POST', `${V3}/join/${enc(oldRoom)}`, { token: carol.access_token, body: {} });
    await h.req('POST', `${V3}/rooms/${enc(oldRoom)}/ban`, { token: ann.access_token, body: { user_id: eve.user_id, reason: 'spam' } });

    const r = await h.req('POST', `${V3}/rooms/${enc(oldRoom)}/upgrade`, { token: ann.access_token, body: { new_version: '12' } });
    expect(r.status).toBe(200);
    const newRoom = r.body.replacement_room as string;
    expect(Object.keys(r.body)).toEqual(['replacement_room']);
    expect(await h.store.getRoomVersion(newRoom)).toBe('12');

    // v12: the predecessor names the room only.
    expect(await h.state(newRoom, 'm.room.create')).toEqual({ room_version: '12', predecessor: { room_id: oldRoom } });
    for (const type of ['m.room.name', 'm.room.topic', 'm.room.avatar', 'm.room.encryption', 'm.room.server_acl', 'm.room.join_rules', 'm.room.history_visibility']) {
      expect(await h.state(newRoom, type), type).toEqual(await h.state(oldRoom, type));
    }
    expect(await h.state(newRoom, 'org.example.private')).toBeUndefined();
    expect(await h.state(newRoom, 'm.room.member', ann.user_id)).toEqual({ membership: 'join', displayname: 'Ann' });
    expect(await h.membership(newRoom, bob.user_id)).toBeUndefined();
    expect(await h.state(newRoom, 'm.room.member', eve.user_id)).toEqual({ membership: 'ban', reason: 'spam' });
    // The creator (infinite power in v12) leaves the users map; others keep their levels.
    const newPl = (await h.state(newRoom, 'm.room.power_levels'))!;
    expect(newPl.users).toEqual({ [bob.user_id]: 50 });

    // The tombstone, and the old room closed to ordinary members.
    const tombstone = await h.stateEvent(oldRoom, 'm.room.tombstone');
    expect(tombstone!.event.content).toEqual({ body: 'This room has been replaced', replacement_room: newRoom });
    expect(tombstone!.event.sender).toBe(ann.user_id);
    const oldPl = (await h.state(oldRoom, 'm.room.power_levels'))!;
    expect(oldPl.events_default).toBe(50);
    expect(oldPl.invite).toBe(50);

    // Local aliases now point at the new room; the canonical alias events were split.
    expect((await h.req('GET', `${V3}/directory/room/${enc(alias('team'))}`)).body.room_id).toBe(newRoom);
    expect((await h.req('GET', `${V3}/directory/room/${enc(alias('alt'))}`)).body.room_id).toBe(newRoom);
    expect(await h.state(newRoom, 'm.room.canonical_alias')).toEqual({ alias: alias('team'), alt_aliases: [alias('alt')] });
    expect(await h.state(oldRoom, 'm.room.canonical_alias')).toEqual({ alt_aliases: ['#far:remote.example'] });

    // The directory lists the new room instead of the old one.
    expect((await h.req('GET', `${V3}/directory/list/room/${enc(newRoom)}`)).body).toEqual({ visibility: 'public' });
    expect((await h.req('GET', `${V3}/directory/list/room/${enc(oldRoom)}`)).body).toEqual({ visibility: 'private' });

    // The public join rule was copied: Bob can follow into the new room.
    expect((await h.req('POST', `${V3}/join/${enc(newRoom)}`, { token: bob.access_token, body: {} })).status).toBe(200);
    // Carol (level 0) can no longer talk in the old room; Bob (50) still can.
    const msg = { body: 'hi', msgtype: 'm.text' };
    await expect(h.rooms.sendLocalEvent(oldRoom, { type: 'm.room.message', sender: carol.user_id, content: msg })).rejects.toMatchObject({ errcode: 'M_FORBIDDEN' });
    await expect(h.rooms.sendLocalEvent(oldRoom, { type: 'm.room.message', sender: bob.user_id, content: msg })).resolves.toMatchObject({ status: 'accepted' });
  });

  it('to v11 the predecessor names the old room\'s last event, and the upgrader is raised only while copying', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    // Ann is a moderator at 60 who may send tombstones (60) but not everything the room protects.
    const oldRoom = await h.createRoom(bob.access_token, {
      room_version: '10',
      preset: 'public_chat',
      power_level_content_override: {
        users: { [bob.user_id]: 100, [ann.user_id]: 60 },
        events: { 'm.room.tombstone': 60, 'm.room.power_levels': 100, 'm.room.encryption': 100 },
      },
    });
    await h.req('POST', `${V3}/join/${enc(oldRoom)}`, { token: ann.access_token, body: {} });
    const last = (await h.store.getForwardExtremities(oldRoom))[0];
    const r = await h.req('POST', `${V3}/rooms/${enc(oldRoom)}/upgrade`, { token: ann.access_token, body: { new_version: '11' } });
    expect(r.status).toBe(200);
    const newRoom = r.body.replacement_room as string;
    const create = (await h.stateEvent(newRoom, 'm.room.create'))!;
    expect(create.event.sender).toBe(ann.user_id);
    expect(create.event.content).toEqual({ room_version: '11', predecessor: { room_id: oldRoom, event_id: last } });
    // While copying Ann had 100 (the highest level of the room); afterwards her own 60 again.
    const pls = (await h.timeline(newRoom)).filter((e) => e.type === 'm.room.power_levels').map((e) => (e.content.users as Record<string, number>)[ann.user_id]);
    expect(pls).toEqual([100, 60]);
    expect((await h.state(newRoom, 'm.room.power_levels'))!.users).toEqual({ [bob.user_id]: 100, [ann.user_id]: 60 });
  });

  it('needs the power to send a tombstone, a known room and a supported version', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token, { preset: 'public_chat' });
    await h.req('POST', `${V3}/join/${enc(roomId)}`, { token: bob.access_token, body: {} });
    const path = `${V3}/rooms/${enc(roomId)}/upgrade`;
    const weak = await h.req('POST', path, { token: bob.access_token, body: { new_version: '12' } });
    expect(weak.status).toBe(403);
    expect(weak.body.errcode).toBe('M_FORBIDDEN');
    const carol = await h.register('carol');
    expect((await h.req('POST', path, { token: carol.access_token, body: { new_version: '12' } })).status).toBe(403);
    const bad = await h.req('POST', path, { token: ann.access_token, body: { new_version: '99' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_UNSUPPORTED_ROOM_VERSION');
    expect((await h.req('POST', path, { token: ann.access_token, body: {} })).body.errcode).toBe('M_MISSING_PARAM');
    expect((await h.req('POST', path, { token: ann.access_token, body: { new_version: 12 } })).body.errcode).toBe('M_BAD_JSON');
    const unknown = await h.req('POST', `${V3}/rooms/${enc('!gone:test.local')}/upgrade`, { token: ann.access_token, body: { new_version: '12' } });
    expect(unknown.status).toBe(404);
    expect(await h.state(roomId, 'm.room.tombstone')).toBeUndefined();
  });

  it('sets additional creators of a v12 replacement and copies the room type and m.federate', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const space = await h.createRoom(ann.access_token, { room_version: '9', creation_content: { type: 'm.space', 'm.federate': false }, power_level_content_override: { users: { [ann.user_id]: 100, [bob.user_id]: 100 } } });
    await h.rooms.sendLocalEvent(space, { type: 'm.space.child', stateKey: '!child:test.local', sender: ann.user_id, content: { via: [SERVER] } });
    await h.rooms.sendLocalEvent(space, { type: 'm.space.child', stateKey: '!removed:test.local', sender: ann.user_id, content: {} });
    const r = await h.req('POST', `${V3}/rooms/${enc(space)}/upgrade`, { token: ann.access_token, body: { new_version: '12', additional_creators: [bob.user_id] } });
    expect(r.status).toBe(200);
    const newRoom = r.body.replacement_room as string;
    expect(await h.state(newRoom, 'm.room.create')).toEqual({
      room_version: '12',
      predecessor: { room_id: space },
      type: 'm.space',
      'm.federate': false,
      additional_creators: [bob.user_id],
    });
    // Both creators leave the users map.
    expect((await h.state(newRoom, 'm.room.power_levels'))!.users).toEqual({});
    expect(await h.state(newRoom, 'm.space.child', '!child:test.local')).toEqual({ via: [SERVER] });
    expect(await h.state(newRoom, 'm.space.child', '!removed:test.local')).toBeUndefined();
  });

  it('a repeated request while upgrading gets the same replacement; another user gets 400', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await h.createRoom(ann.access_token, { room_version: '10', power_level_content_override: { users: { [ann.user_id]: 100, [bob.user_id]: 100 } } });
    await h.rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: bob.user_id, sender: ann.user_id, content: { membership: 'invite' } });
    await h.req('POST', `${V3}/join/${enc(roomId)}`, { token: bob.access_token, body: {} });
    const path = `${V3}/rooms/${enc(roomId)}/upgrade`;
    const [a, b] = await Promise.all([
      h.req('POST', path, { token: ann.access_token, body: { new_version: '11' } }),
      h.req('POST', path, { token: ann.access_token, body: { new_version: '11' } }),
    ]);
    expect(a.status).toBe(200);
    expect(b.body).toEqual(a.body);
    // A retry a little later too (Synapse keeps the answer five minutes).
    h.clock.now += 60_000;
    expect((await h.req('POST', path, { token: ann.access_token, body: { new_version: '11' } })).body).toEqual(a.body);
    const other = await h.req('POST', path, { token: bob.access_token, body: { new_version: '11' } });
    expect(other.status).toBe(400);
    expect((await h.timeline(roomId)).filter((e) => e.type === 'm.room.tombstone')).toHaveLength(1);
    // Later, the old room may be upgraded again (to another replacement).
    h.clock.now += 5 * 60_000;
    const again = await h.req('POST', path, { token: ann.access_token, body: { new_version: '11' } });
    expect(again.status).toBe(200);
    expect(again.body.replacement_room).not.toBe(a.body.replacement_room);
  });

  it('a v12 creator upgrading to an older version keeps admin power there', async () => {
    const h = await setup();
    const ann = await h.register('ann');
    const roomId = await h.createRoom(ann.access_token);
    const r = await h.req('POST', `${V3}/rooms/${enc(roomId)}/upgrade`, { token: ann.access_token, body: { new_version: '10' } });
    expect(r.status).toBe(200);
    const newRoom = r.body.replacement_room as string;
    expect((await h.state(newRoom, 'm.room.power_levels'))!.users).toEqual({ [ann.user_id]: 150 });
    expect((await h.state(newRoom, 'm.room.create'))!.creator).toBe(ann.user_id);
  });
});

describe('normalisePowerLevels', () => {
  it('turns stringy and floaty levels of old rooms into integers and drops unreadable ones', () => {
    const v1 = requireRoomVersion('1');
    expect(
      normalisePowerLevels(
        { ban: '50', kick: 50.7, redact: 'x', users: { '@a:b': '100', '@c:d': 'no' }, events: { 'm.room.name': ' 25 ' }, other: 'kept' },
        v1,
      ),
    ).toEqual({ ban: 50, kick: 50, users: { '@a:b': 100 }, events: { 'm.room.name': 25 }, other: 'kept' });
  });
});
