// Per-user data through the HTTP API: profiles (incl. custom fields), capabilities, filters,
// global and per-room account data with stream positions, and room tags.
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER, usersHarness, type UsersHarness } from './users-harness.js';

const harnesses: UsersHarness[] = [];
async function setup(config: Record<string, unknown> = {}) {
  const h = await usersHarness(config);
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const V3 = '/_matrix/client/v3';
const R0 = '/_matrix/client/r0';
const ROOM = '!room:test.local';
const ROOM_V12 = '!' + 'A'.repeat(43);

describe('profiles', () => {
  it('sets, reads and clears displayname and avatar_url; GET /profile/{userId} gives the whole profile', async () => {
    const h = await setup();
    const s = await h.register('ada');
    const me = `@ada:${SERVER}`;
    const changes: unknown[] = [];
    h.users.hooks.profileChanged.push((u, c) => void changes.push([u, c]));
    expect((await h.req('PUT', `${V3}/profile/${me}/displayname`, { token: s.access_token, body: { displayname: 'Ada L.' } })).status).toBe(200);
    expect((await h.req('PUT', `${R0}/profile/${encodeURIComponent(me)}/avatar_url`, { token: s.access_token, body: { avatar_url: 'mxc://test.local/abc' } })).status).toBe(200);
    expect((await h.req('GET', `${V3}/profile/${me}`)).body).toEqual({ displayname: 'Ada L.', avatar_url: 'mxc://test.local/abc' });
    expect((await h.req('GET', `${R0}/profile/${me}/displayname`)).body).toEqual({ displayname: 'Ada L.' });
    expect((await h.req('GET', `${V3}/profile/${me}/avatar_url`)).body).toEqual({ avatar_url: 'mxc://test.local/abc' });
    expect(changes).toEqual([
      [me, { displayname: 'Ada L.' }],
      [me, { avatar_url: 'mxc://test.local/abc' }],
    ]);
    // An empty string clears the field.
    await h.req('PUT', `${V3}/profile/${me}/avatar_url`, { token: s.access_token, body: { avatar_url: '' } });
    const gone = await h.req('GET', `${V3}/profile/${me}/avatar_url`);
    expect([gone.status, gone.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    expect(changes[2]).toEqual([me, { avatar_url: undefined }]);
    expect(await h.users.getMemberProfile(me)).toEqual({ displayname: 'Ada L.' });
  });

  it('404 M_NOT_FOUND for unknown local users and remote users; 403 for changing someone else', async () => {
    const h = await setup();
    const s = await h.register('ben');
    await h.register('cleo');
    const unknown = await h.req('GET', `${V3}/profile/@nobody:${SERVER}`);
    expect([unknown.status, unknown.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const remote = await h.req('GET', `${V3}/profile/@someone:elsewhere.org`);
    expect([remote.status, remote.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const invalid = await h.req('GET', `${V3}/profile/not-a-user-id`);
    expect([invalid.status, invalid.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const other = await h.req('PUT', `${V3}/profile/@cleo:${SERVER}/displayname`, { token: s.access_token, body: { displayname: 'x' } });
    expect([other.status, other.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const remoteSet = await h.req('PUT', `${V3}/profile/@ben:elsewhere.org/displayname`, { token: s.access_token, body: { displayname: 'x' } });
    expect([remoteSet.status, remoteSet.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const noToken = await h.req('PUT', `${V3}/profile/@ben:${SERVER}/displayname`, { body: { displayname: 'x' } });
    expect([noToken.status, noToken.body.errcode]).toEqual([401, 'M_MISSING_TOKEN']);
  });

  it('validates values: missing key, wrong types, too long, non-mxc avatar, bad bodies', async () => {
    const h = await setup();
    const s = await h.register('dora');
    const base = `${V3}/profile/@dora:${SERVER}`;
    const t = s.access_token;
    const cases: [string, unknown, number, string][] = [
      ['displayname', { avatar_url: 'mxc://a/b' }, 400, 'M_MISSING_PARAM'],
      ['displayname', { displayname: 42 }, 400, 'M_BAD_JSON'],
      ['displayname', { displayname: 'x'.repeat(257) }, 400, 'M_INVALID_PARAM'],
      ['avatar_url', { avatar_url: 'https://example.org/a.png' }, 400, 'M_INVALID_PARAM'],
      ['m.tz', { 'm.tz': 5 }, 400, 'M_BAD_JSON'],
      ['displayname', ['displayname'], 400, 'M_BAD_JSON'],
    ];
    for (const [field, body, status, errcode] of cases) {
      const r = await h.req('PUT', `${base}/${field}`, { token: t, body });
      expect([field, r.status, r.body.errcode]).toEqual([field, status, errcode]);
    }
    const notJson = await h.req('PUT', `${base}/displayname`, { token: t, rawBody: '{nope' });
    expect([notJson.status, notJson.body.errcode]).toEqual([400, 'M_NOT_JSON']);
  });

  it('stores custom fields (spec v1.16) with key checks, the 64 KiB limit and DELETE', async () => {
    const h = await setup();
    const s = await h.register('emil');
    const me = `@emil:${SERVER}`;
    const t = s.access_token;
    expect((await h.req('PUT', `${V3}/profile/${me}/m.tz`, { token: t, body: { 'm.tz': 'Europe/Berlin' } })).status).toBe(200);
    expect((await h.req('PUT', `${V3}/profile/${me}/org.example.pets`, { token: t, body: { 'org.example.pets': ['cat', { n: 2 }] } })).status).toBe(200);
    expect((await h.req('GET', `${V3}/profile/${me}`)).body).toEqual({
      displayname: 'emil',
      'm.tz': 'Europe/Berlin',
      'org.example.pets': ['cat', { n: 2 }],
    });
    const badKey = await h.req('PUT', `${V3}/profile/${me}/Not_Namespaced`, { token: t, body: { Not_Namespaced: 1 } });
    expect([badKey.status, badKey.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const longKey = 'a.' + 'b'.repeat(260);
    const tooLongKey = await h.req('PUT', `${V3}/profile/${me}/${longKey}`, { token: t, body: { [longKey]: 1 } });
    expect([tooLongKey.status, tooLongKey.body.errcode]).toEqual([400, 'M_KEY_TOO_LARGE']);
    const big = 'x'.repeat(40_000);
    expect((await h.req('PUT', `${V3}/profile/${me}/org.example.a`, { token: t, body: { 'org.example.a': big } })).status).toBe(200);
    const tooBig = await h.req('PUT', `${V3}/profile/${me}/org.example.b`, { token: t, body: { 'org.example.b': big } });
    expect([tooBig.status, tooBig.body.errcode]).toEqual([400, 'M_PROFILE_TOO_LARGE']);
    expect((await h.req('DELETE', `${V3}/profile/${me}/org.example.a`, { token: t })).status).toBe(200);
    expect((await h.req('PUT', `${V3}/profile/${me}/org.example.b`, { token: t, body: { 'org.example.b': big } })).status).toBe(200);
    expect((await h.req('DELETE', `${V3}/profile/${me}/org.example.never`, { token: t })).status).toBe(200);
    const missing = await h.req('GET', `${V3}/profile/${me}/org.example.a`);
    expect([missing.status, missing.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
  });
});

describe('capabilities', () => {
  it('advertises password change, room versions 1-12 with the configured default, profile fields', async () => {
    const h = await setup({ default_room_version: '11' });
    const s = await h.register('fay');
    const r = await h.req('GET', `${V3}/capabilities`, { token: s.access_token });
    expect(r.status).toBe(200);
    const caps = r.body.capabilities;
    expect(caps['m.change_password']).toEqual({ enabled: true });
    expect(caps['m.room_versions'].default).toBe('11');
    expect(caps['m.room_versions'].available).toEqual(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [String(i + 1), 'stable'])));
    expect(caps['m.set_displayname']).toEqual({ enabled: true });
    expect(caps['m.set_avatar_url']).toEqual({ enabled: true });
    expect(caps['m.3pid_changes']).toEqual({ enabled: false });
    expect(caps['m.get_login_token']).toEqual({ enabled: false });
    expect(caps['m.profile_fields']).toEqual({ enabled: true });
    expect(caps['m.account_moderation']).toEqual({ suspend: false, lock: false });
    expect((await h.req('GET', `${R0}/capabilities`)).status).toBe(401);
  });

  it('defaults m.room_versions.default to 12', async () => {
    const h = await setup();
    const s = await h.register('gus');
    expect((await h.req('GET', `${V3}/capabilities`, { token: s.access_token })).body.capabilities['m.room_versions'].default).toBe('12');
  });
});

describe('filters', () => {
  it('stores a filter, returns its ID, reads it back; the same filter gets the same ID', async () => {
    const h = await setup();
    const s = await h.register('hal');
    const me = `@hal:${SERVER}`;
    const filter = {
      room: { timeline: { limit: 10, types: ['m.room.message'], not_rooms: [ROOM] }, state: { lazy_load_members: true }, include_leave: false },
      presence: { not_types: ['*'] },
      event_fields: ['type', 'content'],
      event_format: 'client',
      'org.example.unknown': true,
    };
    const created = await h.req('POST', `${V3}/user/${me}/filter`, { token: s.access_token, body: filter });
    expect(created.status).toBe(200);
    expect(created.body.filter_id).toMatch(/^[0-9]+$/);
    const back = await h.req('GET', `${R0}/user/${me}/filter/${created.body.filter_id}`, { token: s.access_token });
    expect(back.body).toEqual(filter);
    const same = await h.req('POST', `${R0}/user/${me}/filter`, { token: s.access_token, body: { ...filter } });
    expect(same.body.filter_id).toBe(created.body.filter_id);
    const other = await h.req('POST', `${V3}/user/${me}/filter`, { token: s.access_token, body: {} });
    expect(other.body.filter_id).not.toBe(created.body.filter_id);
    expect(await h.users.loadFilter(me, created.body.filter_id)).toEqual(filter);
  });

  it('refuses other users\' filters (403), unknown filters (404) and malformed filters (400 M_BAD_JSON)', async () => {
    const h = await setup();
    const s = await h.register('ida');
    const t = await h.register('jon');
    const me = `@ida:${SERVER}`;
    const id = (await h.req('POST', `${V3}/user/${me}/filter`, { token: s.access_token, body: {} })).body.filter_id;
    const theirs = await h.req('GET', `${V3}/user/${me}/filter/${id}`, { token: t.access_token });
    expect([theirs.status, theirs.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const forOther = await h.req('POST', `${V3}/user/@jon:${SERVER}/filter`, { token: s.access_token, body: {} });
    expect([forOther.status, forOther.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const remote = await h.req('GET', `${V3}/user/@ida:elsewhere.org/filter/0`, { token: s.access_token });
    expect([remote.status, remote.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const unknown = await h.req('GET', `${V3}/user/${me}/filter/999`, { token: s.access_token });
    expect([unknown.status, unknown.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const badId = await h.req('GET', `${V3}/user/${me}/filter/abc`, { token: s.access_token });
    expect([badId.status, badId.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const bad = [
      [],
      { event_format: 'xml' },
      { event_fields: 'type' },
      { room: { timeline: { limit: -1 } } },
      { room: { timeline: { limit: 1.5 } } },
      { room: { rooms: ['not-a-room'] } },
      { room: { state: { senders: ['nobody'] } } },
      { room: { include_leave: 'yes' } },
      { presence: [] },
      { room: { ephemeral: { types: [1] } } },
    ];
    for (const body of bad) {
      const r = await h.req('POST', `${V3}/user/${me}/filter`, { token: s.access_token, body });
      expect([JSON.stringify(body), r.status, r.body.errcode]).toEqual([JSON.stringify(body), 400, 'M_BAD_JSON']);
    }
  });
});

describe('account data', () => {
  it('global and per-room PUT/GET, with increasing stream positions readable by sync', async () => {
    const h = await setup();
    const s = await h.register('kim');
    const me = `@kim:${SERVER}`;
    const t = s.access_token;
    const woken: [string, number][] = [];
    h.users.hooks.accountDataChanged.push((u, id) => void woken.push([u, id]));
    const start = h.users.accountDataPosition();
    expect((await h.req('PUT', `${V3}/user/${me}/account_data/im.vector.setting`, { token: t, body: { a: 1 } })).status).toBe(200);
    expect((await h.req('PUT', `${R0}/user/${me}/rooms/${ROOM}/account_data/org.example.room`, { token: t, body: { b: 2 } })).status).toBe(200);
    expect((await h.req('PUT', `${V3}/user/${me}/rooms/${ROOM_V12}/account_data/org.example.room`, { token: t, body: { c: 3 } })).status).toBe(200);
    expect((await h.req('GET', `${V3}/user/${me}/account_data/im.vector.setting`, { token: t })).body).toEqual({ a: 1 });
    expect((await h.req('GET', `${R0}/user/${me}/rooms/${ROOM}/account_data/org.example.room`, { token: t })).body).toEqual({ b: 2 });
    // Global and room data of the same type do not fall back to each other.
    const noGlobal = await h.req('GET', `${V3}/user/${me}/account_data/org.example.room`, { token: t });
    expect([noGlobal.status, noGlobal.body.errcode]).toEqual([404, 'M_NOT_FOUND']);

    expect(woken.map(([u]) => u)).toEqual([me, me, me]);
    expect(woken.map(([, id]) => id)).toEqual([start + 1, start + 2, start + 3]);
    expect(h.users.accountDataPosition()).toBe(start + 3);

    // Overwrite: the entry moves to a new position; sync "since" sees only changes after a token.
    await h.req('PUT', `${V3}/user/${me}/account_data/im.vector.setting`, { token: t, body: { a: 2 } });
    const since = await h.users.accountDataSince(me, start + 2);
    expect(since.map((c) => [c.roomId, c.type, JSON.parse(c.content), c.streamId])).toEqual([
      [ROOM_V12, 'org.example.room', { c: 3 }, start + 3],
      [null, 'im.vector.setting', { a: 2 }, start + 4],
    ]);
    expect(await h.users.accountDataSince(me, start + 4)).toEqual([]);
    expect(await h.users.accountDataSince(`@nobody:${SERVER}`, 0)).toEqual([]);
  });

  it('refuses other users (403), server-managed types (405), non-objects, bad room IDs; 404 when unset', async () => {
    const h = await setup();
    const s = await h.register('lou');
    await h.register('max');
    const me = `@lou:${SERVER}`;
    const t = s.access_token;
    const other = await h.req('PUT', `${V3}/user/@max:${SERVER}/account_data/x.y`, { token: t, body: {} });
    expect([other.status, other.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const otherGet = await h.req('GET', `${V3}/user/@max:${SERVER}/rooms/${ROOM}/account_data/x.y`, { token: t });
    expect([otherGet.status, otherGet.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    for (const type of ['m.fully_read', 'm.push_rules']) {
      const r = await h.req('PUT', `${V3}/user/${me}/account_data/${type}`, { token: t, body: {} });
      expect([r.status, r.body.errcode]).toEqual([405, 'M_BAD_JSON']);
      const rr = await h.req('PUT', `${V3}/user/${me}/rooms/${ROOM}/account_data/${type}`, { token: t, body: {} });
      expect([rr.status, rr.body.errcode]).toEqual([405, 'M_BAD_JSON']);
    }
    const arr = await h.req('PUT', `${V3}/user/${me}/account_data/x.y`, { token: t, body: [1] });
    expect([arr.status, arr.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const notJson = await h.req('PUT', `${V3}/user/${me}/account_data/x.y`, { token: t, rawBody: 'nope' });
    expect([notJson.status, notJson.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    const badRoom = await h.req('PUT', `${V3}/user/${me}/rooms/not-a-room/account_data/x.y`, { token: t, body: {} });
    expect([badRoom.status, badRoom.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const unset = await h.req('GET', `${V3}/user/${me}/account_data/x.y`, { token: t });
    expect([unset.status, unset.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const unauth = await h.req('GET', `${V3}/user/${me}/account_data/x.y`);
    expect([unauth.status, unauth.body.errcode]).toEqual([401, 'M_MISSING_TOKEN']);
  });
});

describe('room tags', () => {
  it('adds, lists and removes tags, stored as m.tag room account data with stream positions', async () => {
    const h = await setup();
    const s = await h.register('nina');
    const me = `@nina:${SERVER}`;
    const t = s.access_token;
    const base = `${V3}/user/${me}/rooms/${ROOM}/tags`;
    expect((await h.req('GET', base, { token: t })).body).toEqual({ tags: {} });
    const p0 = h.users.accountDataPosition();
    expect((await h.req('PUT', `${base}/m.favourite`, { token: t, body: { order: 0.25 } })).status).toBe(200);
    expect((await h.req('PUT', `${R0}/user/${me}/rooms/${ROOM}/tags/u.Work`, { token: t, body: {} })).status).toBe(200);
    expect((await h.req('GET', base, { token: t })).body).toEqual({ tags: { 'm.favourite': { order: 0.25 }, 'u.Work': {} } });
    expect((await h.req('GET', `${V3}/user/${me}/rooms/${ROOM}/account_data/m.tag`, { token: t })).body).toEqual({
      tags: { 'm.favourite': { order: 0.25 }, 'u.Work': {} },
    });
    expect((await h.req('DELETE', `${base}/m.favourite`, { token: t })).status).toBe(200);
    expect((await h.req('DELETE', `${base}/never.set`, { token: t })).status).toBe(200);
    expect((await h.req('GET', base, { token: t })).body).toEqual({ tags: { 'u.Work': {} } });
    const changes = await h.users.accountDataSince(me, p0);
    expect(changes.map((c) => [c.roomId, c.type, JSON.parse(c.content)])).toEqual([[ROOM, 'm.tag', { tags: { 'u.Work': {} } }]]);
    expect(h.users.accountDataPosition()).toBe(p0 + 4);
  });

  it('refuses other users, long tag names, non-numeric order, bad room IDs', async () => {
    const h = await setup();
    const s = await h.register('otto');
    await h.register('pam');
    const t = s.access_token;
    const other = await h.req('PUT', `${V3}/user/@pam:${SERVER}/rooms/${ROOM}/tags/u.x`, { token: t, body: {} });
    expect([other.status, other.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const otherList = await h.req('GET', `${V3}/user/@pam:${SERVER}/rooms/${ROOM}/tags`, { token: t });
    expect([otherList.status, otherList.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const me = `@otto:${SERVER}`;
    const long = await h.req('PUT', `${V3}/user/${me}/rooms/${ROOM}/tags/${'u.' + 'x'.repeat(300)}`, { token: t, body: {} });
    expect([long.status, long.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const order = await h.req('PUT', `${V3}/user/${me}/rooms/${ROOM}/tags/u.x`, { token: t, body: { order: 'first' } });
    expect([order.status, order.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const badRoom = await h.req('GET', `${V3}/user/${me}/rooms/nope/tags`, { token: t });
    expect([badRoom.status, badRoom.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });
});
