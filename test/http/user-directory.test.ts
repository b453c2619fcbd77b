// POST /user_directory/search over a real database: who can find whom (shared rooms, public rooms,
// search_all_users), matching by user ID and display name words, profile and membership changes
// (local and remote users), deactivation, limits and validation.
import { afterEach, describe, expect, it } from 'vitest';
import { REMOTE, SERVER, V3, searchHarness, type SearchHarness } from './search-harness.js';

const harnesses: SearchHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(config: Record<string, unknown> = {}) {
  const h = await searchHarness(config);
  harnesses.push(h);
  return h;
}

const uid = (local: string) => `@${local}:${SERVER}`;

async function find(h: SearchHarness, token: string, term: string, limit?: number) {
  const r = await h.req('POST', `${V3}/user_directory/search`, { token, body: { search_term: term, ...(limit !== undefined ? { limit } : {}) } });
  expect(r.status).toBe(200);
  return r.body as { results: { user_id: string; display_name?: string; avatar_url?: string }[]; limited: boolean };
}

const userIds = (r: { results: { user_id: string }[] }) => r.results.map((x) => x.user_id).sort();

describe('POST /user_directory/search', () => {
  it('finds users sharing a room, and users in public rooms, but no one else', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    await h.register('bob');
    await h.register('carol');
    await h.register('dave');
    // Alice and Bob share a private room; Carol is alone in a public room; Dave is in no room.
    await h.room(uid('alice'), { joinRule: 'invite', others: [uid('bob')] });
    await h.room(uid('carol'), { joinRule: 'public' });
    const all = await find(h, alice.access_token, 'test');
    expect(userIds(all)).toEqual([uid('alice'), uid('bob'), uid('carol')]);
    expect(all.limited).toBe(false);
    expect(userIds(await find(h, alice.access_token, 'dave'))).toEqual([]);
    // Dave sees Carol (public room) but not Alice or Bob.
    const dave = await h.login('dave');
    expect(userIds(await find(h, dave, 'test'))).toEqual([uid('carol')]);
  });

  it('matches word prefixes of the user ID and display name, ignoring case', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    await h.register('bob.smith');
    const pub = await h.room(uid('alice'), { joinRule: 'public', others: [uid('bob.smith')] });
    expect(pub).toMatch(/^!/);
    const bob = await h.login('bob.smith');
    const set = await h.req('PUT', `${V3}/profile/${encodeURIComponent(uid('bob.smith'))}/displayname`, {
      token: bob,
      body: { displayname: 'Robert Zimmermann' },
    });
    expect(set.status).toBe(200);
    await h.req('PUT', `${V3}/profile/${encodeURIComponent(uid('bob.smith'))}/avatar_url`, { token: bob, body: { avatar_url: 'mxc://test.local/bob' } });
    for (const term of ['smi', 'Bob', '@bob.smith:test.local', 'zimm', 'ROBERT', 'rob zim', 'Zimmermann']) {
      expect(userIds(await find(h, alice.access_token, term)), term).toEqual([uid('bob.smith')]);
    }
    expect((await find(h, alice.access_token, 'zimm')).results[0]).toEqual({
      user_id: uid('bob.smith'),
      display_name: 'Robert Zimmermann',
      avatar_url: 'mxc://test.local/bob',
    });
    // Middles of words do not match; every word must.
    expect(userIds(await find(h, alice.access_token, 'mmermann'))).toEqual([]);
    expect(userIds(await find(h, alice.access_token, 'robert alice'))).toEqual([]);
    // The old name is gone from the index.
    await h.req('PUT', `${V3}/profile/${encodeURIComponent(uid('bob.smith'))}/displayname`, { token: bob, body: { displayname: 'Bobby' } });
    expect(userIds(await find(h, alice.access_token, 'robert'))).toEqual([]);
    expect(userIds(await find(h, alice.access_token, 'bobby'))).toEqual([uid('bob.smith')]);
    // Terms without any word character, or FTS syntax, are harmless.
    for (const term of ['', '***', '"', 'NEAR(', 'a OR', '-', '{user_id}: x']) {
      expect((await h.req('POST', `${V3}/user_directory/search`, { token: alice.access_token, body: { search_term: term } })).status).toBe(200);
    }
  });

  it('follows membership and join rule changes', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    await h.register('bob');
    const eve = await h.register('eve');
    const roomId = await h.room(uid('bob'), { joinRule: 'public' });
    expect(userIds(await find(h, alice.access_token, 'bob'))).toEqual([uid('bob')]);
    // The room becomes invite-only: Bob is no longer findable by strangers.
    await h.state(roomId, uid('bob'), 'm.room.join_rules', { join_rule: 'invite' });
    expect(userIds(await find(h, alice.access_token, 'bob'))).toEqual([]);
    // World-readable history makes a room's members public too (Synapse's rule).
    await h.state(roomId, uid('bob'), 'm.room.history_visibility', { history_visibility: 'world_readable' });
    expect(userIds(await find(h, alice.access_token, 'bob'))).toEqual([uid('bob')]);
    await h.state(roomId, uid('bob'), 'm.room.history_visibility', { history_visibility: 'shared' });
    expect(userIds(await find(h, alice.access_token, 'bob'))).toEqual([]);
    // Sharing a private room: found while both are joined, not after one leaves.
    const priv = await h.room(uid('bob'), { joinRule: 'invite', others: [uid('eve')] });
    expect(userIds(await find(h, eve.access_token, 'bob'))).toEqual([uid('bob')]);
    await h.leave(priv, uid('eve'));
    expect(userIds(await find(h, eve.access_token, 'bob'))).toEqual([]);
  });

  it('lists remote users joined to rooms here, with the profile of their member event', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    const roomId = await h.room(uid('alice'), { joinRule: 'public' });
    const rita = `@rita:${REMOTE}`;
    await h.remoteEvent(roomId, rita, 'm.room.member', { membership: 'join', displayname: 'Rita Remote', avatar_url: 'mxc://remote.example/r' }, rita);
    expect((await find(h, alice.access_token, 'rita')).results).toEqual([
      { user_id: rita, display_name: 'Rita Remote', avatar_url: 'mxc://remote.example/r' },
    ]);
    // A new member event with another name updates the entry.
    await h.remoteEvent(roomId, rita, 'm.room.member', { membership: 'join', displayname: 'Margarita' }, rita);
    expect((await find(h, alice.access_token, 'marga')).results).toEqual([{ user_id: rita, display_name: 'Margarita' }]);
    expect(userIds(await find(h, alice.access_token, 'remote'))).toEqual([rita]);
    // Once she has left every room here she is gone.
    await h.remoteEvent(roomId, rita, 'm.room.member', { membership: 'leave' }, rita);
    expect(userIds(await find(h, alice.access_token, 'rita'))).toEqual([]);
    const row = h.db.prepare('SELECT COUNT(*) AS n FROM user_directory WHERE user_id = ?').get(rita) as { n: number };
    expect(row.n).toBe(0);
  });

  it('with search_all_users, finds every user this server knows', async () => {
    const h = await setup({ user_directory: { search_all_users: true } });
    const alice = await h.register('alice');
    await h.register('hermit');
    expect(userIds(await find(h, alice.access_token, 'hermit'))).toEqual([uid('hermit')]);
  });

  it('drops deactivated users and support accounts', async () => {
    const h = await setup({ user_directory: { search_all_users: true } });
    const alice = await h.register('alice');
    await h.register('gone');
    await h.users.createAccount({ localpart: 'helpdesk', password: null, userType: 'support' });
    expect(userIds(await find(h, alice.access_token, 'gone'))).toEqual([uid('gone')]);
    const gone = await h.login('gone');
    const r = await h.req('POST', `${V3}/account/deactivate`, {
      token: gone,
      body: { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'gone' }, password: 'correct horse' } },
    });
    expect(r.status).toBe(200);
    expect(userIds(await find(h, alice.access_token, 'gone'))).toEqual([]);
    expect(userIds(await find(h, alice.access_token, 'helpdesk'))).toEqual([]);
  });

  it('honours limit and says when results were cut', async () => {
    const h = await setup({ user_directory: { search_all_users: true } });
    const alice = await h.register('alice');
    for (let i = 0; i < 12; i++) await h.users.createAccount({ localpart: `member${i}`, password: null });
    const dflt = await find(h, alice.access_token, 'member');
    expect(dflt.results).toHaveLength(10);
    expect(dflt.limited).toBe(true);
    const three = await find(h, alice.access_token, 'member', 3);
    expect(three.results).toHaveLength(3);
    expect(three.limited).toBe(true);
    const all = await find(h, alice.access_token, 'member', 50);
    expect(all.results).toHaveLength(12);
    expect(all.limited).toBe(false);
  });

  it('validates the body and needs a token', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    const post = (body: unknown) => h.req('POST', `${V3}/user_directory/search`, { token: alice.access_token, body });
    expect((await post({})).body.errcode).toBe('M_MISSING_PARAM');
    expect((await post({ search_term: 7 })).status).toBe(400);
    expect((await post({ search_term: 'a', limit: -1 })).status).toBe(400);
    expect((await post({ search_term: 'a', limit: 'ten' })).status).toBe(400);
    expect((await h.req('POST', `${V3}/user_directory/search`, { body: { search_term: 'a' } })).status).toBe(401);
  });

  it('answers an empty result when the directory is turned off', async () => {
    const h = await setup({ user_directory: { enabled: false, search_all_users: true } });
    const alice = await h.register('alice');
    expect(await find(h, alice.access_token, 'alice')).toEqual({ results: [], limited: false });
  });

  it('searches through the FTS index', async () => {
    const h = await setup();
    const plan = h.db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT d.user_id FROM user_directory_search s JOIN user_directory d ON d.id = s.rowid
         WHERE user_directory_search MATCH ?`,
      )
      .all('"a"*') as { detail: string }[];
    expect(plan.map((p) => p.detail).join('\n')).toMatch(/VIRTUAL TABLE INDEX/);
  });
});
