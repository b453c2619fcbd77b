// Notification counts from push rule evaluation at persist time: messages, mentions (highlight), own
// messages, read receipts and sending resetting counts, joins, invites, threads, custom rules.
import { afterEach, describe, expect, it } from 'vitest';
import { pushHarness, SERVER, V3, type PushHarness } from './push-harness.js';

const harnesses: PushHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(): Promise<PushHarness> {
  const h = await pushHarness();
  harnesses.push(h);
  return h;
}

const alice = `@alice:${SERVER}`;
const bob = `@bob:${SERVER}`;
const carol = `@carol:${SERVER}`;

describe('unread notification counts', () => {
  it('counts messages for the other members, never for the sender', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob, carol);
    await h.send(room, bob);
    await h.send(room, alice);
    await h.send(room, alice);
    expect(h.counts(bob, room)).toEqual({ notification_count: 2, highlight_count: 0 });
    expect(h.counts(carol, room)).toEqual({ notification_count: 3, highlight_count: 0 });
    // Alice's own messages do not count, and sending marked Bob's earlier one read.
    expect(h.counts(alice, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    await h.send(room, bob);
    expect(h.counts(alice, room)).toEqual({ notification_count: 1, highlight_count: 0 });
  });

  it('mentions highlight: m.mentions, legacy display name and user name in the body, @room by a privileged sender', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob, carol);
    await h.send(room, alice, { msgtype: 'm.text', body: 'Bob: hi', 'm.mentions': { user_ids: [bob] } });
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 1 });
    expect(h.counts(carol, room)).toEqual({ notification_count: 1, highlight_count: 0 });
    // No m.mentions: the legacy rules look at the body (display name "Carol", localpart "bob").
    await h.send(room, alice, { msgtype: 'm.text', body: 'ask carol about it' });
    expect(h.counts(carol, room)).toEqual({ notification_count: 2, highlight_count: 1 });
    await h.send(room, alice, { msgtype: 'm.text', body: 'is bob here?' });
    expect(h.counts(bob, room)).toEqual({ notification_count: 3, highlight_count: 2 });
    // With m.mentions present the body is not searched for names.
    await h.send(room, alice, { msgtype: 'm.text', body: 'bob and carol', 'm.mentions': {} });
    expect(h.counts(bob, room)).toEqual({ notification_count: 4, highlight_count: 2 });
    // @room: the creator (power 100) may notify the room; Bob (power 0) may not.
    await h.send(room, alice, { msgtype: 'm.text', body: 'all', 'm.mentions': { room: true } });
    expect(h.counts(carol, room)).toEqual({ notification_count: 5, highlight_count: 2 });
    await h.send(room, bob, { msgtype: 'm.text', body: 'all', 'm.mentions': { room: true } });
    expect(h.counts(carol, room)).toEqual({ notification_count: 6, highlight_count: 2 });
  });

  it('notices, reactions and edits do not notify; member events do not either', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    const msg = await h.send(room, alice);
    await h.send(room, alice, { msgtype: 'm.notice', body: 'bot says' });
    await h.rooms.sendLocalEvent(room, { type: 'm.reaction', content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: msg, key: '+1' } }, sender: alice });
    await h.send(room, alice, { msgtype: 'm.text', body: '* edit', 'm.relates_to': { rel_type: 'm.replace', event_id: msg }, 'm.new_content': { msgtype: 'm.text', body: 'edit' } });
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join' }, sender: carol });
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 0 });
  });

  it('two-member rooms use the one-to-one rules; counts are per room', async () => {
    const h = await setup();
    const dm = await h.roomWith(alice, bob);
    const group = await h.roomWith(alice, bob, carol);
    await h.send(dm, alice);
    await h.send(group, alice);
    await h.send(group, alice);
    expect(h.counts(bob, dm)).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(h.counts(bob, group)).toEqual({ notification_count: 2, highlight_count: 0 });
  });

  it('a read receipt resets the counts up to its event; sending a message does too', async () => {
    const h = await setup();
    const b = await h.register('bob');
    const room = await h.roomWith(alice, bob);
    await h.send(room, alice, { msgtype: 'm.text', body: 'hi bob' });
    const second = await h.send(room, alice);
    await h.send(room, alice);
    expect(h.counts(bob, room)).toEqual({ notification_count: 3, highlight_count: 1 });
    const r = await h.req('POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(second)}`, { token: b.access_token, body: {} });
    expect(r.status).toBe(200);
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 0 });
    await h.send(room, alice);
    expect(h.counts(bob, room)).toEqual({ notification_count: 2, highlight_count: 0 });
    // Bob answers: he has read everything before his own message.
    await h.send(room, bob);
    expect(h.counts(bob, room)).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it('only events after the join count; leaving clears them; rejoining starts afresh', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    await h.send(room, alice);
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join' }, sender: carol });
    expect(h.counts(carol, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    await h.send(room, alice);
    expect(h.counts(carol, room)).toEqual({ notification_count: 1, highlight_count: 0 });
    // A profile change (join -> join) keeps the counts.
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join', displayname: 'C' }, sender: carol });
    await h.send(room, alice);
    expect(h.counts(carol, room)).toEqual({ notification_count: 2, highlight_count: 0 });
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'leave' }, sender: carol });
    await h.send(room, alice);
    expect(h.counts(carol, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join' }, sender: carol });
    await h.send(room, alice);
    expect(h.counts(carol, room)).toEqual({ notification_count: 1, highlight_count: 0 });
  });

  it('the display name comes from the member event in the room', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: bob, content: { membership: 'join', displayname: 'Captain Zed' }, sender: bob });
    await h.send(room, alice, { msgtype: 'm.text', body: 'hello captain zed!' });
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 1 });
  });

  it("a user's own rules apply to them only: a muted room, a keyword", async () => {
    const h = await setup();
    const b = await h.register('bob');
    const c = await h.register('carol');
    const room = await h.roomWith(alice, bob, carol);
    const mute = await h.req('PUT', `${V3}/pushrules/global/room/${encodeURIComponent(room)}`, { token: b.access_token, body: { actions: [] } });
    expect(mute.status).toBe(200);
    const kw = await h.req('PUT', `${V3}/pushrules/global/content/cake`, {
      token: c.access_token,
      body: { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] },
    });
    expect(kw.status).toBe(200);
    await h.send(room, alice, { msgtype: 'm.text', body: 'there is cake' });
    await h.send(room, alice, { msgtype: 'm.text', body: 'no pie', 'm.mentions': {} });
    expect(h.counts(bob, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(h.counts(carol, room)).toEqual({ notification_count: 2, highlight_count: 1 });
    // Enabling .m.rule.master silences everything.
    await h.req('PUT', `${V3}/pushrules/global/override/.m.rule.master/enabled`, { token: c.access_token, body: { enabled: true } });
    await h.send(room, alice, { msgtype: 'm.text', body: 'more cake' });
    expect(h.counts(carol, room)).toEqual({ notification_count: 2, highlight_count: 1 });
  });

  it('invites notify the invitee (GET /notifications), not the members', async () => {
    const h = await setup();
    const c = await h.register('carol');
    const room = await h.roomWith(alice, bob);
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'invite' }, sender: alice });
    expect(h.counts(bob, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    const n = await h.req('GET', `${V3}/notifications`, { token: c.access_token });
    expect(n.status).toBe(200);
    expect(n.body.notifications).toHaveLength(1);
    expect(n.body.notifications[0].event.type).toBe('m.room.member');
    expect(n.body.notifications[0].room_id).toBe(room);
    expect(n.body.notifications[0].actions).toEqual(['notify', { set_tweak: 'sound', value: 'default' }]);
  });

  it('thread counts are kept per thread root', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob, carol);
    const root = await h.send(room, alice);
    const inThread = await h.send(room, alice, { msgtype: 'm.text', body: 'reply', 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
    await h.send(room, alice, { msgtype: 'm.text', body: 'reply 2', 'm.relates_to': { rel_type: 'm.thread', event_id: root, 'm.in_reply_to': { event_id: inThread } } });
    const counts = h.push.unreadThreadCounts(bob, room);
    expect(counts.get(null)).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(counts.get(root)).toEqual({ notification_count: 2, highlight_count: 0 });
    expect(h.counts(bob, room)).toEqual({ notification_count: 3, highlight_count: 0 });
  });

  it('a failing evaluation is logged and does not stop the event', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    const evaluator = h.push.evaluator;
    const original = evaluator.evaluate.bind(evaluator);
    evaluator.evaluate = () => {
      throw new Error('boom');
    };
    const eventId = await h.send(room, alice);
    expect((await h.store.getEvent(eventId))?.streamOrdering).toBeGreaterThan(0);
    expect(h.errors).toHaveLength(1);
    evaluator.evaluate = original;
    await h.send(room, alice);
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 0 });
  });

  it('an event whose transaction rolls back leaves no trace in the counts or the cached room state', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    // A later derived writer fails for one event: the whole transaction, push rows included, rolls back.
    h.store.core.addDerivedWriter((info) => {
      if (info.event.content.explode === true) throw new Error('explode');
    });
    await expect(h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join', displayname: 'Carol', explode: true }, sender: carol })).rejects.toThrow();
    await expect(h.send(room, alice, { msgtype: 'm.text', body: 'boom', explode: true })).rejects.toThrow();
    expect(h.counts(bob, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    // Carol never joined: a message naming her does not reach her, and Bob's count is right.
    await h.send(room, alice, { msgtype: 'm.text', body: 'carol?' });
    expect(h.counts(carol, room)).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(h.counts(bob, room)).toEqual({ notification_count: 1, highlight_count: 0 });
    // Now she joins for real and is counted from then on.
    await h.rooms.sendLocalEvent(room, { type: 'm.room.member', stateKey: carol, content: { membership: 'join', displayname: 'Carol' }, sender: carol });
    await h.send(room, alice, { msgtype: 'm.text', body: 'hi carol' });
    expect(h.counts(carol, room)).toEqual({ notification_count: 1, highlight_count: 1 });
  });

  it('a room whose state cache is lost (restart) still evaluates from stored state', async () => {
    const h = await setup();
    const room = await h.roomWith(alice, bob);
    await h.send(room, alice);
    h.push.roomStates.clear();
    await h.send(room, alice, { msgtype: 'm.text', body: 'Bob!' });
    expect(h.counts(bob, room)).toEqual({ notification_count: 2, highlight_count: 1 });
    expect(h.errors).toEqual([]);
  });
});
