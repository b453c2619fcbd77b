// Relations: the index, GET /v1/rooms/{roomId}/relations/..., GET /v1/rooms/{roomId}/threads, bundled
// aggregations (m.replace, m.thread, m.reference; no m.annotation), checks on local relations, and
// what redactions do to them; through Fastify over a real SQLite database.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { bodies, enc, publicRoom, roomEventsHarness, V1, V3, type RoomEventsHarness } from './room-events-helpers.js';
import type { Session } from './users-harness.js';

const msg = (body: string, extra: JsonObject = {}) => ({ msgtype: 'm.text', body, ...extra });
const rel = (relType: string, eventId: string, extra: JsonObject = {}) => ({ 'm.relates_to': { rel_type: relType, event_id: eventId, ...extra } });
const reaction = (eventId: string, key: string) => rel('m.annotation', eventId, { key });
const edit = (eventId: string, body: string) => ({ ...msg(`* ${body}`), 'm.new_content': msg(body), ...rel('m.replace', eventId) });
const threadReply = (root: string, body: string) => ({ ...msg(body), ...rel('m.thread', root) });

async function getEvent(h: RoomEventsHarness, s: Session, roomId: string, eventId: string): Promise<JsonObject> {
  const r = await h.get(s, `${V3}/rooms/${enc(roomId)}/event/${enc(eventId)}`);
  expect(r.status).toBe(200);
  return r.body as JsonObject;
}

function relationsOf(ev: JsonObject): JsonObject | undefined {
  return (ev.unsigned as JsonObject | undefined)?.['m.relations'] as JsonObject | undefined;
}

async function redact(h: RoomEventsHarness, s: Session, roomId: string, eventId: string): Promise<string> {
  const r = await h.req('PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(eventId)}/${Math.random()}`, { token: s.access_token, body: {} });
  expect(r.status).toBe(200);
  return r.body.event_id as string;
}

describe('bundled aggregations', () => {
  it('m.replace: the most recent valid edit is bundled whole; edits by others, of another type or without m.new_content are not', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const original = await h.sendOk(ann, roomId, msg('I like cake'));
    h.clock.now += 1000;
    const e1 = await h.sendOk(ann, roomId, edit(original, 'I like chocolate cake'));
    h.clock.now += 1000;
    const e2 = await h.sendOk(ann, roomId, edit(original, 'I like lemon cake'));
    h.clock.now += 1000;
    await h.sendOk(bob, roomId, edit(original, 'bob was here')); // another sender
    await h.sendOk(ann, roomId, { ...edit(original, 'other type'), body: 'x' }, 'org.example.other'); // another type
    await h.sendOk(ann, roomId, { ...msg('no new content'), ...rel('m.replace', original) }); // no m.new_content
    const ev = await getEvent(h, bob, roomId, original);
    expect(ev.content).toEqual(msg('I like cake')); // the original content stays
    const replace = relationsOf(ev)?.['m.replace'] as JsonObject;
    expect(replace).toMatchObject({ event_id: e2, sender: ann.user_id, type: 'm.room.message', room_id: roomId });
    expect((replace.content as JsonObject)['m.new_content']).toEqual(msg('I like lemon cake'));
    // Edits get no aggregations of their own.
    expect(relationsOf(await getEvent(h, bob, roomId, e2))).toBeUndefined();

    // Redacting the latest edit brings back the one before; redacting the original drops m.replace.
    await redact(h, ann, roomId, e2);
    expect((relationsOf(await getEvent(h, bob, roomId, original))?.['m.replace'] as JsonObject).event_id).toBe(e1);
    await redact(h, ann, roomId, original);
    const redacted = await getEvent(h, bob, roomId, original);
    expect(redacted.content).toEqual({});
    expect(relationsOf(redacted)?.['m.replace']).toBeUndefined();
  });

  it('edits with equal timestamps: the lexicographically largest event ID wins', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann);
    const original = await h.sendOk(ann, roomId, msg('v0'));
    const ids = [await h.sendOk(ann, roomId, edit(original, 'a')), await h.sendOk(ann, roomId, edit(original, 'b')), await h.sendOk(ann, roomId, edit(original, 'c'))];
    const expected = [...ids].sort().at(-1);
    expect((relationsOf(await getEvent(h, ann, roomId, original))?.['m.replace'] as JsonObject).event_id).toBe(expected);
  });

  it('m.thread: latest_event (with its own aggregations), count and current_user_participated; redactions de-aggregate', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const cat = await h.register('cat');
    const roomId = await publicRoom(h, ann, [bob, cat]);
    const root = await h.sendOk(ann, roomId, msg('root'));
    await h.sendOk(bob, roomId, threadReply(root, 'first'));
    const second = await h.sendOk(bob, roomId, threadReply(root, 'second'));
    const secondEdit = await h.sendOk(bob, roomId, edit(second, 'second, edited'));
    const thread = (s: Session) => getEvent(h, s, roomId, root).then((e) => relationsOf(e)?.['m.thread'] as JsonObject);
    const forBob = await thread(bob);
    expect(forBob.count).toBe(2);
    expect(forBob.current_user_participated).toBe(true);
    const latest = forBob.latest_event as JsonObject;
    expect(latest).toMatchObject({ event_id: second, sender: bob.user_id, content: threadReply(root, 'second') });
    expect(((relationsOf(latest)?.['m.replace']) as JsonObject).event_id).toBe(secondEdit);
    expect((await thread(ann)).current_user_participated).toBe(true); // sent the root
    expect((await thread(cat)).current_user_participated).toBe(false);
    await redact(h, bob, roomId, second);
    const after = await thread(cat);
    expect(after.count).toBe(1);
    expect(((after.latest_event as JsonObject).content as JsonObject).body).toBe('first');
  });

  it('m.reference lists the referencing events; annotations are not bundled but /relations serves them', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const target = await h.sendOk(ann, roomId, msg('poll'));
    const r1 = await h.sendOk(bob, roomId, { ...rel('m.reference', target), body: 'vote 1' }, 'org.example.vote');
    const r2 = await h.sendOk(ann, roomId, { ...rel('m.reference', target), body: 'vote 2' }, 'org.example.vote');
    const like = await h.sendOk(bob, roomId, reaction(target, '👍'), 'm.reaction');
    const ev = await getEvent(h, ann, roomId, target);
    expect(relationsOf(ev)).toEqual({ 'm.reference': { chunk: [{ event_id: r1 }, { event_id: r2 }] } });
    const annotations = await h.get(ann, `${V1}/rooms/${enc(roomId)}/relations/${enc(target)}/m.annotation`);
    expect(annotations.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([like]);
    // Bundles also come with /messages.
    const page = await h.get(ann, `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=10`);
    const inPage = (page.body.chunk as JsonObject[]).find((e) => e.event_id === target)!;
    expect(relationsOf(inPage)?.['m.reference']).toEqual({ chunk: [{ event_id: r1 }, { event_id: r2 }] });
  });
});

describe('checks on relations sent by local clients', () => {
  it('duplicate annotations are refused until the first is redacted; annotations need a key', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const target = await h.sendOk(ann, roomId, msg('hi'));
    const first = await h.sendOk(bob, roomId, reaction(target, '👍'), 'm.reaction');
    const dup = await h.send(bob, roomId, reaction(target, '👍'), { type: 'm.reaction' });
    expect([dup.status, dup.body.errcode]).toEqual([400, 'M_DUPLICATE_ANNOTATION']);
    // Another key, another user, another type: fine.
    expect((await h.send(bob, roomId, reaction(target, '🎉'), { type: 'm.reaction' })).status).toBe(200);
    expect((await h.send(ann, roomId, reaction(target, '👍'), { type: 'm.reaction' })).status).toBe(200);
    expect((await h.send(bob, roomId, reaction(target, '👍'), { type: 'org.example.reaction' })).status).toBe(200);
    await redact(h, bob, roomId, first);
    expect((await h.send(bob, roomId, reaction(target, '👍'), { type: 'm.reaction' })).status).toBe(200);
    const noKey = await h.send(bob, roomId, rel('m.annotation', target), { type: 'm.reaction' });
    expect(noKey.status).toBe(400);
    const longKey = await h.send(bob, roomId, reaction(target, 'k'.repeat(501)), { type: 'm.reaction' });
    expect(longKey.status).toBe(400);
  });

  it('relations to unknown events or events of other rooms are refused; threads do not start at relations', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const roomId = await publicRoom(h, ann);
    const other = await publicRoom(h, ann);
    const elsewhere = await h.sendOk(ann, other, msg('elsewhere'));
    const unknown = await h.send(ann, roomId, reaction('$nowhere', 'x'), { type: 'm.reaction' });
    expect([unknown.status, unknown.body.errcode]).toEqual([400, 'M_UNKNOWN']);
    expect((await h.send(ann, roomId, reaction(elsewhere, 'x'), { type: 'm.reaction' })).status).toBe(400);
    const root = await h.sendOk(ann, roomId, msg('root'));
    const reply = await h.sendOk(ann, roomId, threadReply(root, 'in thread'));
    const nested = await h.send(ann, roomId, threadReply(reply, 'thread off a thread event'));
    expect([nested.status, nested.body.errcode]).toEqual([400, 'M_UNKNOWN']);
    // A rich reply (m.in_reply_to, no rel_type) is no relation: threads may start there.
    const richReply = await h.sendOk(ann, roomId, { ...msg('reply'), 'm.relates_to': { 'm.in_reply_to': { event_id: root } } });
    expect((await h.send(ann, roomId, threadReply(richReply, 'ok'))).status).toBe(200);
  });
});

describe('GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]', () => {
  async function setup() {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const root = await h.sendOk(ann, roomId, msg('root'));
    const children: string[] = [];
    children.push(await h.sendOk(bob, roomId, threadReply(root, 't1')));
    children.push(await h.sendOk(bob, roomId, reaction(root, 'a'), 'm.reaction'));
    children.push(await h.sendOk(ann, roomId, threadReply(root, 't2')));
    children.push(await h.sendOk(bob, roomId, reaction(root, 'b'), 'm.reaction'));
    children.push(await h.sendOk(ann, roomId, threadReply(root, 't3')));
    return { h, ann, bob, roomId, root, children };
  }
  const path = (roomId: string, root: string, rest = '') => `${V1}/rooms/${enc(roomId)}/relations/${enc(root)}${rest}`;
  const ids = (r: { body: { chunk: JsonObject[] } }) => r.body.chunk.map((e) => e.event_id);

  it('children newest first, by rel type and by event type; not under /v3', async () => {
    const { h, bob, roomId, root, children } = await setup();
    const all = await h.get(bob, path(roomId, root));
    expect(all.status).toBe(200);
    // Default limit 5.
    expect(ids(all as never)).toEqual([...children].reverse());
    expect(all.body.next_batch).toBeUndefined();
    expect(all.body.recursion_depth).toBeUndefined();
    const threads = await h.get(bob, path(roomId, root, '/m.thread'));
    expect(bodies(threads.body.chunk)).toEqual(['t3', 't2', 't1']);
    const reactions = await h.get(bob, path(roomId, root, '/m.annotation/m.reaction'));
    expect(ids(reactions as never)).toEqual([children[3], children[1]]);
    expect((await h.get(bob, path(roomId, root, '/m.annotation/m.room.message'))).body.chunk).toEqual([]);
    expect((await h.get(bob, `${V3}/rooms/${enc(roomId)}/relations/${enc(root)}`)).status).toBe(404);
  });

  it('paginates both ways with next_batch / prev_batch and stops at `to`', async () => {
    const { h, bob, roomId, root, children } = await setup();
    const p1 = await h.get(bob, path(roomId, root, '?limit=2'));
    expect(ids(p1 as never)).toEqual([children[4], children[3]]);
    expect(p1.body.prev_batch).toBeUndefined();
    const p2 = await h.get(bob, path(roomId, root, `?limit=2&from=${p1.body.next_batch}`));
    expect(ids(p2 as never)).toEqual([children[2], children[1]]);
    expect(p2.body.prev_batch).toBe(p1.body.next_batch);
    const p3 = await h.get(bob, path(roomId, root, `?limit=2&from=${p2.body.next_batch}`));
    expect(ids(p3 as never)).toEqual([children[0]]);
    expect(p3.body.next_batch).toBeUndefined();
    const fwd = await h.get(bob, path(roomId, root, '?limit=3&dir=f'));
    expect(ids(fwd as never)).toEqual(children.slice(0, 3));
    const fwd2 = await h.get(bob, path(roomId, root, `?limit=3&dir=f&from=${fwd.body.next_batch}`));
    expect(ids(fwd2 as never)).toEqual(children.slice(3));
    // From the newest down to (not past) the boundary where page 1 ended.
    const upTo = await h.get(bob, path(roomId, root, `?limit=10&to=${p1.body.next_batch}`));
    expect(ids(upTo as never)).toEqual([children[4], children[3]]);
    // /messages tokens work too.
    const messages = await h.get(bob, `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=2`);
    const fromMessages = await h.get(bob, path(roomId, root, `?from=${encodeURIComponent(messages.body.end)}`));
    expect(ids(fromMessages as never)).toEqual([children[2], children[1], children[0]]);
    const bad = await h.get(bob, path(roomId, root, '?from=nonsense'));
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    expect((await h.get(bob, path(roomId, root, '?dir=x'))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.get(bob, path(roomId, root, '?recurse=maybe'))).body.errcode).toBe('M_INVALID_PARAM');
  });

  it('recurse follows relations of relations (up to 3 levels) and reports recursion_depth', async () => {
    const { h, ann, bob, roomId, root, children } = await setup();
    const replyEdit = await h.sendOk(ann, roomId, edit(children[4]!, 't3 edited'));
    const editReaction = await h.sendOk(bob, roomId, reaction(replyEdit, 'deep'), 'm.reaction');
    const deeper = await h.sendOk(ann, roomId, { ...rel('org.example.note', editReaction), body: 'level 4' }, 'org.example.note');
    const flat = await h.get(bob, path(roomId, root, '?limit=50&recurse=false'));
    expect(ids(flat as never)).toEqual([...children].reverse());
    expect(flat.body.recursion_depth).toBe(1);
    const deep = await h.get(bob, path(roomId, root, '?limit=50&recurse=true'));
    expect(deep.body.recursion_depth).toBe(3);
    expect(new Set(ids(deep as never))).toEqual(new Set([...children, replyEdit, editReaction]));
    expect(ids(deep as never)).not.toContain(deeper);
    // The rel type filter applies to each event's own relation.
    const reactions = await h.get(bob, path(roomId, root, '/m.annotation?limit=50&recurse=true'));
    expect(ids(reactions as never)).toEqual([editReaction, children[3], children[1]]);
  });

  it('access: 403 outside the room, 404 for unknown or invisible parents; edits of a redacted event are left out', async () => {
    const { h, ann, bob, roomId, root } = await setup();
    const cat = await h.register('cat');
    const outsider = await h.get(cat, path(roomId, root));
    expect([outsider.status, outsider.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const unknown = await h.get(bob, path(roomId, '$unknown'));
    expect([unknown.status, unknown.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    await h.putState(ann, roomId, 'm.room.history_visibility', { history_visibility: 'joined' });
    const early = await h.sendOk(ann, roomId, msg('before cat'));
    await h.join(cat, roomId);
    expect((await h.get(cat, path(roomId, early))).status).toBe(404);
    const edited = await h.sendOk(ann, roomId, msg('to be redacted'));
    await h.sendOk(ann, roomId, edit(edited, 'edit'));
    const liked = await h.sendOk(bob, roomId, reaction(edited, 'x'), 'm.reaction');
    await redact(h, ann, roomId, edited);
    expect(ids((await h.get(bob, path(roomId, edited))) as never)).toEqual([liked]);
  });
});

describe('GET /_matrix/client/v1/rooms/{roomId}/threads', () => {
  it('lists thread roots by latest activity, with aggregations; include=participated; pagination', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann, [bob]);
    const rootA = await h.sendOk(ann, roomId, msg('A'));
    const rootB = await h.sendOk(bob, roomId, msg('B'));
    const rootC = await h.sendOk(ann, roomId, msg('C'));
    await h.sendOk(ann, roomId, threadReply(rootA, 'a1'));
    await h.sendOk(ann, roomId, threadReply(rootB, 'b1'));
    await h.sendOk(ann, roomId, threadReply(rootC, 'c1'));
    await h.sendOk(bob, roomId, threadReply(rootA, 'a2')); // A is now the most recently active
    const path = `${V1}/rooms/${enc(roomId)}/threads`;
    const all = await h.get(bob, path);
    expect(all.status).toBe(200);
    expect(all.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([rootA, rootC, rootB]);
    const thread = relationsOf(all.body.chunk[0])?.['m.thread'] as JsonObject;
    expect(thread).toMatchObject({ count: 2, current_user_participated: true });
    expect(((thread.latest_event as JsonObject).content as JsonObject).body).toBe('a2');
    // bob sent root B and a reply in A.
    const mine = await h.get(bob, `${path}?include=participated`);
    expect(mine.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([rootA, rootB]);
    const p1 = await h.get(bob, `${path}?limit=2`);
    expect(p1.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([rootA, rootC]);
    const p2 = await h.get(bob, `${path}?limit=2&from=${p1.body.next_batch}`);
    expect(p2.body.chunk.map((e: JsonObject) => e.event_id)).toEqual([rootB]);
    expect(p2.body.next_batch).toBeUndefined();
    // Redacting every reply of a thread removes it from the list.
    const c1 = (await h.get(bob, `${V1}/rooms/${enc(roomId)}/relations/${enc(rootC)}/m.thread`)).body.chunk[0].event_id;
    await redact(h, ann, roomId, c1);
    expect((await h.get(bob, path)).body.chunk.map((e: JsonObject) => e.event_id)).toEqual([rootA, rootB]);
  });

  it('errors: bad token, bad include, bad limit, not in the room', async () => {
    const h = await roomEventsHarness();
    const ann = await h.register('ann');
    const bob = await h.register('bob');
    const roomId = await publicRoom(h, ann);
    const path = `${V1}/rooms/${enc(roomId)}/threads`;
    expect((await h.get(ann, `${path}?from=zzz`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.get(ann, `${path}?include=some`)).body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.get(ann, `${path}?limit=0`)).body.errcode).toBe('M_INVALID_PARAM');
    const r = await h.get(bob, path);
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    expect((await h.get(ann, path)).body).toEqual({ chunk: [] });
  });
});
