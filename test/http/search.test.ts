// POST /search through the HTTP API over a real database: ranking and recency, pagination, context,
// filters and keys, rooms the user cannot see, history visibility, redactions, groupings and state,
// and search terms full of FTS5 syntax.
import { afterEach, describe, expect, it } from 'vitest';
import { REMOTE, SERVER, V3, searchHarness, type SearchHarness } from './search-harness.js';

const harnesses: SearchHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(config: Record<string, unknown> = {}) {
  const h = await searchHarness(config);
  harnesses.push(h);
  const alice = await h.register('alice');
  const bob = await h.register('bob');
  return { h, alice, bob, A: `@alice:${SERVER}`, B: `@bob:${SERVER}` };
}

function search(h: SearchHarness, token: string, criteria: Record<string, unknown>, nextBatch?: string) {
  const url = `${V3}/search${nextBatch !== undefined ? `?next_batch=${encodeURIComponent(nextBatch)}` : ''}`;
  return h.req('POST', url, { token, body: { search_categories: { room_events: criteria } } });
}

function ids(res: { body: Record<string, any> }): string[] {
  return res.body.search_categories.room_events.results.map((r: any) => r.result.event_id);
}

describe('POST /search', () => {
  it('finds messages by word and word prefix, in the spec shape', async () => {
    const { h, alice, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    const e1 = await h.send(roomId, A, 'Martians are coming');
    await h.send(roomId, B, 'nothing to see');
    const r = await search(h, alice.access_token, { search_term: 'martians' });
    expect(r.status).toBe(200);
    const cat = r.body.search_categories.room_events;
    expect(cat.count).toBe(1);
    expect(cat.highlights).toEqual(['martians']);
    expect(cat.results).toHaveLength(1);
    const hit = cat.results[0];
    expect(hit.rank).toBeGreaterThan(0);
    expect(hit.result).toMatchObject({
      event_id: e1,
      room_id: roomId,
      sender: A,
      type: 'm.room.message',
      content: { msgtype: 'm.text', body: 'Martians are coming' },
    });
    expect(typeof hit.result.origin_server_ts).toBe('number');
    expect(cat.next_batch).toBeUndefined();
    // Word prefixes match; case and diacritics do not matter.
    expect(ids(await search(h, alice.access_token, { search_term: 'MART' }))).toEqual([e1]);
    const e3 = await h.send(roomId, A, 'Crème brûlée');
    expect(ids(await search(h, alice.access_token, { search_term: 'creme brulee' }))).toEqual([e3]);
    // Every word must match (AND); "or" gives alternatives; "-word" excludes.
    expect(ids(await search(h, alice.access_token, { search_term: 'martians nothing' }))).toEqual([]);
    expect(new Set(ids(await search(h, alice.access_token, { search_term: 'martians or nothing' }))).size).toBe(2);
    expect(ids(await search(h, alice.access_token, { search_term: 'see -martians' }))).toHaveLength(1);
    expect(ids(await search(h, alice.access_token, { search_term: '"are coming"' }))).toEqual([e1]);
    expect(ids(await search(h, alice.access_token, { search_term: '"coming are"' }))).toEqual([]);
  });

  it('orders by rank by default and by recency when asked', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    const weak = await h.send(roomId, A, 'apple banana cherry date elderberry fig grape');
    const strong = await h.send(roomId, A, 'apple apple apple');
    const middle = await h.send(roomId, A, 'apple pie');
    const byRank = await search(h, alice.access_token, { search_term: 'apple' });
    expect(ids(byRank)).toEqual([strong, middle, weak]);
    const ranks = byRank.body.search_categories.room_events.results.map((r: any) => r.rank);
    expect(ranks[0]).toBeGreaterThan(ranks[1]);
    expect(ranks[1]).toBeGreaterThan(ranks[2]);
    expect(ids(await search(h, alice.access_token, { search_term: 'apple', order_by: 'recent' }))).toEqual([middle, strong, weak]);
  });

  it('paginates with next_batch in both orders until the results run out', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) sent.push(await h.send(roomId, A, `needle number ${i}`));
    await h.send(roomId, A, 'haystack');
    for (const order of ['recent', 'rank'] as const) {
      const seen: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const r = await search(h, alice.access_token, { search_term: 'needle', order_by: order, filter: { limit: 3 } }, next);
        expect(r.status).toBe(200);
        const cat = r.body.search_categories.room_events;
        expect(cat.count).toBe(7);
        expect(cat.results.length).toBeLessThanOrEqual(3);
        seen.push(...ids(r));
        next = cat.next_batch;
        pages++;
      } while (next !== undefined && pages < 10);
      expect(new Set(seen).size).toBe(7);
      expect(new Set(seen)).toEqual(new Set(sent));
      if (order === 'recent') expect(seen).toEqual([...sent].reverse());
      expect(pages).toBeLessThanOrEqual(4);
    }
  });

  it('refuses a bad next_batch, or one issued for the other order, with 400', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    for (let i = 0; i < 3; i++) await h.send(roomId, A, `word ${i}`);
    for (const bad of ['nonsense', 's-1', 'r', 's12~!!', 'YWxsCgpOb25lLDM1ODcwOA', '']) {
      const r = await search(h, alice.access_token, { search_term: 'word' }, bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode).toBe('M_INVALID_PARAM');
    }
    const first = await search(h, alice.access_token, { search_term: 'word', order_by: 'recent', filter: { limit: 1 } });
    const token = first.body.search_categories.room_events.next_batch;
    expect(typeof token).toBe('string');
    expect((await search(h, alice.access_token, { search_term: 'word', order_by: 'rank' }, token)).status).toBe(400);
  });

  it('validates the request body', async () => {
    const { h, alice } = await setup();
    const post = (body: unknown) => h.req('POST', `${V3}/search`, { token: alice.access_token, body });
    expect((await post({})).body.errcode).toBe('M_MISSING_PARAM');
    expect((await post({ search_categories: { room_events: {} } })).body.errcode).toBe('M_MISSING_PARAM');
    expect((await post({ search_categories: { room_events: { search_term: 5 } } })).status).toBe(400);
    expect((await post({ search_categories: { room_events: { search_term: 'x', keys: ['content.url'] } } })).status).toBe(400);
    expect((await post({ search_categories: { room_events: { search_term: 'x', order_by: 'oldest' } } })).status).toBe(400);
    expect((await post({ search_categories: { room_events: { search_term: 'x', filter: { rooms: 'nope' } } } })).status).toBe(400);
    expect((await post({ search_categories: { room_events: { search_term: 'x', event_context: { before_limit: -1 } } } })).status).toBe(400);
    expect((await post({ search_categories: {} })).body).toEqual({ search_categories: {} });
    expect((await h.req('POST', `${V3}/search`, { body: { search_categories: {} } })).status).toBe(401);
  });

  it('never answers 500 to search terms full of FTS5 syntax', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    const target = await h.send(roomId, A, 'near body topic and or not star');
    const terms = [
      '"', '""', '"unclosed phrase', '*', 'star*', '^near', 'near(', 'NEAR(a b, 2)', 'a AND', 'OR', 'or', 'not', 'NOT near',
      '(', ')', '((body))', '{body}: near', 'body:near', 'topic : x', '-', '--near', '- -', 'a-b', "it's", '\\', '\u0000', '😀',
      'and or not', '+near', 'near + body', '"near" "body"', '"near body" -star', '-"near body"', 'x'.repeat(5000),
      Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '),
    ];
    for (const term of terms) {
      const r = await search(h, alice.access_token, { search_term: term });
      expect(r.status, JSON.stringify(term.slice(0, 40))).toBe(200);
      expect(Array.isArray(r.body.search_categories.room_events.results)).toBe(true);
    }
    // The syntax characters are ordinary separators: these still find the message.
    for (const term of ['near*', '(near)', 'body:near', '{body}', 'near AND body', '"near body"', 'NEAR(near body)']) {
      expect(ids(await search(h, alice.access_token, { search_term: term })), term).toEqual([target]);
    }
  });

  it('searches only the rooms and events the user may see', async () => {
    const { h, alice, bob, A, B } = await setup();
    const carol = await h.register('carol');
    const C = `@carol:${SERVER}`;
    const shared = await h.room(A, { others: [B] });
    const private_ = await h.room(A, { joinRule: 'invite' });
    const inShared = await h.send(shared, A, 'secret plans');
    await h.send(private_, A, 'secret diary');
    // Bob sees the shared room only; Carol sees nothing.
    expect(ids(await search(h, bob.access_token, { search_term: 'secret' }))).toEqual([inShared]);
    expect(ids(await search(h, carol.access_token, { search_term: 'secret' }))).toEqual([]);
    expect((await search(h, carol.access_token, { search_term: 'secret' })).body.search_categories.room_events.count).toBe(0);
    // Alice sees both, unless a filter narrows the rooms.
    expect(ids(await search(h, alice.access_token, { search_term: 'secret' }))).toHaveLength(2);
    expect(ids(await search(h, alice.access_token, { search_term: 'secret', filter: { rooms: [shared] } }))).toEqual([inShared]);
    expect(ids(await search(h, alice.access_token, { search_term: 'secret', filter: { not_rooms: [shared] } }))).toHaveLength(1);
    // Naming a room one is not in does not open it.
    expect(ids(await search(h, carol.access_token, { search_term: 'secret', filter: { rooms: [private_] } }))).toEqual([]);

    // History visibility "joined": Carol joining later sees only what came after her join.
    const joinedOnly = await h.room(A, { historyVisibility: 'joined' });
    await h.send(joinedOnly, A, 'secret before');
    await h.join(joinedOnly, C);
    const after = await h.send(joinedOnly, A, 'secret after');
    expect(ids(await search(h, carol.access_token, { search_term: 'secret' }))).toEqual([after]);

    // "shared" (the default): a member sees history from before the join, and keeps what they saw
    // after leaving, but not what was said after they left.
    const sharedRoom = await h.room(A);
    const early = await h.send(sharedRoom, A, 'gossip early');
    await h.join(sharedRoom, C);
    const during = await h.send(sharedRoom, A, 'gossip during');
    await h.leave(sharedRoom, C);
    await h.send(sharedRoom, A, 'gossip later');
    expect(new Set(ids(await search(h, carol.access_token, { search_term: 'gossip' })))).toEqual(new Set([early, during]));
  });

  it('applies the event filter and the keys', async () => {
    const { h, alice, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    const nameEv = await h.state(roomId, A, 'm.room.name', { name: 'Zebra club' });
    const topicEv = await h.state(roomId, A, 'm.room.topic', { topic: 'All about zebra stripes' });
    const fromA = await h.send(roomId, A, 'zebra sighting');
    const fromB = await h.send(roomId, B, 'zebra again', { url: 'mxc://test.local/zebra' });
    const t = alice.access_token;
    expect(new Set(ids(await search(h, t, { search_term: 'zebra' })))).toEqual(new Set([nameEv, topicEv, fromA, fromB]));
    expect(ids(await search(h, t, { search_term: 'zebra', keys: ['content.name'] }))).toEqual([nameEv]);
    expect(ids(await search(h, t, { search_term: 'zebra', keys: ['content.topic'] }))).toEqual([topicEv]);
    expect(new Set(ids(await search(h, t, { search_term: 'zebra', keys: ['content.body'] })))).toEqual(new Set([fromA, fromB]));
    expect(ids(await search(h, t, { search_term: 'zebra', filter: { senders: [B] } }))).toEqual([fromB]);
    expect(ids(await search(h, t, { search_term: 'zebra', keys: ['content.body'], filter: { not_senders: [B] } }))).toEqual([fromA]);
    expect(ids(await search(h, t, { search_term: 'zebra', filter: { types: ['m.room.n*'] } }))).toEqual([nameEv]);
    expect(new Set(ids(await search(h, t, { search_term: 'zebra', filter: { not_types: ['m.room.message'] } })))).toEqual(new Set([nameEv, topicEv]));
    expect(ids(await search(h, t, { search_term: 'zebra', filter: { contains_url: true } }))).toEqual([fromB]);
  });

  it('drops redacted events, including remote ones redacted by a moderator', async () => {
    const { h, alice, bob, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    const keep = await h.send(roomId, B, 'tulip one');
    const gone = await h.send(roomId, B, 'tulip two');
    await h.redact(roomId, B, gone);
    expect(ids(await search(h, bob.access_token, { search_term: 'tulip' }))).toEqual([keep]);
    expect((await search(h, bob.access_token, { search_term: 'tulip' })).body.search_categories.room_events.count).toBe(1);

    // A remote user's message, redacted by the local room admin (power 100 >= redact 50).
    const R = `@rita:${REMOTE}`;
    await h.remoteEvent(roomId, R, 'm.room.member', { membership: 'join' }, R);
    const remoteMsg = await h.remoteEvent(roomId, R, 'm.room.message', { msgtype: 'm.text', body: 'tulip remote' });
    expect(ids(await search(h, alice.access_token, { search_term: 'remote' }))).toEqual([remoteMsg]);
    await h.redact(roomId, A, remoteMsg);
    expect(ids(await search(h, alice.access_token, { search_term: 'remote' }))).toEqual([]);
    // A remote user without power may send a redaction of a local user's message (room v3+ auth
    // lets it in), but it does not take effect.
    await h.remoteEvent(roomId, R, 'm.room.redaction', {}, undefined, keep);
    expect(ids(await search(h, alice.access_token, { search_term: 'tulip one' }))).toEqual([keep]);
    // A name event redacted drops out of name searches.
    const nameEv = await h.state(roomId, A, 'm.room.name', { name: 'Tulip garden' });
    expect(ids(await search(h, alice.access_token, { search_term: 'garden' }))).toEqual([nameEv]);
    await h.redact(roomId, A, nameEv);
    expect(ids(await search(h, alice.access_token, { search_term: 'garden' }))).toEqual([]);
  });

  it('gives context, pagination tokens and historic profiles around each result', async () => {
    const { h, alice, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    await h.users.setProfileField(
      (await h.users.authenticate(alice.access_token)),
      A,
      'displayname',
      { displayname: 'Alice Liddell' },
    );
    const b1 = await h.send(roomId, B, 'first');
    const b2 = await h.send(roomId, A, 'second');
    const hit = await h.send(roomId, B, 'kangaroo');
    const a1 = await h.send(roomId, A, 'third');
    const a2 = await h.send(roomId, B, 'fourth');
    await h.send(roomId, A, 'fifth');
    const r = await search(h, alice.access_token, {
      search_term: 'kangaroo',
      event_context: { before_limit: 2, after_limit: 2, include_profile: true },
    });
    const res = r.body.search_categories.room_events.results[0];
    expect(res.result.event_id).toBe(hit);
    const ctx = res.context;
    expect(ctx.events_before.map((e: any) => e.event_id)).toEqual([b2, b1]);
    expect(ctx.events_after.map((e: any) => e.event_id)).toEqual([a1, a2]);
    expect(ctx.events_before[0].room_id).toBe(roomId);
    expect(ctx.start).toMatch(/^t\d+-\d+$/);
    expect(ctx.end).toMatch(/^t\d+-\d+$/);
    expect(ctx.profile_info[A]).toEqual({ displayname: 'Alice Liddell' });
    expect(ctx.profile_info[B]).toEqual({});
    // The tokens continue the timeline with /messages-style positions: start is the oldest shown.
    const ev = await h.store.getEvent(b1);
    expect(ctx.start).toBe(`t${ev!.depth}-${ev!.streamOrdering}`);
    // Without event_context there is no context.
    const plain = await search(h, alice.access_token, { search_term: 'kangaroo' });
    expect(plain.body.search_categories.room_events.results[0].context).toBeUndefined();
  });

  it('groups by room and sender, and includes state when asked', async () => {
    const { h, alice, A, B } = await setup();
    const r1 = await h.room(A, { others: [B] });
    const r2 = await h.room(A);
    await h.state(r2, A, 'm.room.name', { name: 'Second room' });
    const m1 = await h.send(r1, A, 'walrus one');
    const m2 = await h.send(r1, B, 'walrus two');
    const m3 = await h.send(r2, A, 'walrus three');
    const r = await search(h, alice.access_token, {
      search_term: 'walrus',
      order_by: 'recent',
      include_state: true,
      groupings: { group_by: [{ key: 'room_id' }, { key: 'sender' }] },
    });
    const cat = r.body.search_categories.room_events;
    expect(ids(r)).toEqual([m3, m2, m1]);
    expect(cat.groups.room_id[r2]).toEqual({ results: [m3], order: 1 });
    expect(cat.groups.room_id[r1]).toEqual({ results: [m2, m1], order: 2 });
    expect(cat.groups.sender[A].results).toEqual([m3, m1]);
    expect(cat.groups.sender[B].results).toEqual([m2]);
    expect(Object.keys(cat.state).sort()).toEqual([r1, r2].sort());
    expect(cat.state[r2].find((e: any) => e.type === 'm.room.name').content).toEqual({ name: 'Second room' });

    // A per-room next_batch continues within that room.
    const page = await search(h, alice.access_token, {
      search_term: 'walrus',
      order_by: 'recent',
      filter: { limit: 1 },
      groupings: { group_by: [{ key: 'room_id' }] },
    });
    expect(ids(page)).toEqual([m3]);
    const roomToken = page.body.search_categories.room_events.groups.room_id[r2].next_batch;
    expect(typeof roomToken).toBe('string');
    const rest = await search(h, alice.access_token, { search_term: 'walrus', order_by: 'recent' }, roomToken);
    expect(ids(rest)).toEqual([]);
    const global = page.body.search_categories.room_events.next_batch;
    expect(ids(await search(h, alice.access_token, { search_term: 'walrus', order_by: 'recent' }, global))).toEqual([m2, m1]);
  });

  it('keeps out an event whose redaction arrived first (federation)', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    const R = `@rex:${REMOTE}`;
    await h.remoteEvent(roomId, R, 'm.room.member', { membership: 'join' }, R);
    // The target and its redaction both build on the same extremity; the redaction is received first.
    const target = await h.buildRemoteEvent(roomId, R, 'm.room.message', { msgtype: 'm.text', body: 'platypus' });
    const redaction = await h.buildRemoteEvent(roomId, R, 'm.room.redaction', {}, undefined, target.eventId);
    await h.acceptRemote(roomId, redaction.pdu);
    await h.acceptRemote(roomId, target.pdu);
    expect((await h.store.getEvent(target.eventId))?.streamOrdering).not.toBeNull();
    expect(ids(await search(h, alice.access_token, { search_term: 'platypus' }))).toEqual([]);
    // Another remote message without a redaction is found.
    const other = await h.remoteEvent(roomId, R, 'm.room.message', { msgtype: 'm.text', body: 'platypus again' });
    expect(ids(await search(h, alice.access_token, { search_term: 'platypus' }))).toEqual([other]);
  });

  it('indexes events received over federation', async () => {
    const { h, alice, A } = await setup();
    const roomId = await h.room(A);
    const R = `@remy:${REMOTE}`;
    await h.remoteEvent(roomId, R, 'm.room.member', { membership: 'join' }, R);
    const e = await h.remoteEvent(roomId, R, 'm.room.message', { msgtype: 'm.text', body: 'bonjour de loin' });
    expect(ids(await search(h, alice.access_token, { search_term: 'bonjour' }))).toEqual([e]);
  });
});
