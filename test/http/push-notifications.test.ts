// GET /notifications (notifications.yaml): newest first across rooms, pagination with from/limit,
// only=highlight, the read flag from receipts, actions of the matched rule, the event format.
import { afterEach, describe, expect, it } from 'vitest';
import { pushHarness, SERVER, V3, type PushHarness } from './push-harness.js';

const harnesses: PushHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const alice = `@alice:${SERVER}`;
const bob = `@bob:${SERVER}`;
const carol = `@carol:${SERVER}`;

describe('GET /notifications', () => {
  it('lists notifications newest first across rooms and paginates', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const group = await h.roomWith(alice, bob, carol);
    const dm = await h.roomWith(alice, bob);
    const sent: string[] = [];
    for (let i = 0; i < 4; i++) {
      sent.push(await h.send(group, alice, { msgtype: 'm.text', body: `group ${i}` }));
      sent.push(await h.send(dm, alice, { msgtype: 'm.text', body: `dm ${i}` }));
    }
    // Not notifications: Bob's own message, a notice.
    await h.send(group, bob, { msgtype: 'm.text', body: 'mine' });
    await h.send(group, alice, { msgtype: 'm.notice', body: 'bot' });

    const all = await h.req('GET', `${V3}/notifications`, { token: b.access_token });
    expect(all.status).toBe(200);
    expect(all.body.notifications.map((n: any) => n.event.event_id)).toEqual([...sent].reverse());
    expect(all.body.next_token).toBeUndefined();

    const seen: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await h.req('GET', `${V3}/notifications?limit=3${from ? `&from=${from}` : ''}`, { token: b.access_token });
      expect(r.status).toBe(200);
      expect(r.body.notifications.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.notifications.map((n: any) => n.event.event_id));
      from = r.body.next_token;
      if (from === undefined) break;
    }
    expect(seen).toEqual([...sent].reverse());

    const first = all.body.notifications[all.body.notifications.length - 1];
    expect(first.room_id).toBe(group);
    // Bob's own message in the group came after it: read. Nothing in the DM is.
    expect(first.read).toBe(true);
    expect(all.body.notifications.filter((n: any) => n.room_id === dm).every((n: any) => n.read === false)).toBe(true);
    expect(first.ts).toBe(h.clock.now);
    expect(first.actions).toEqual(['notify']);
    // ClientEventWithoutRoomID.
    expect(first.event).toMatchObject({ type: 'm.room.message', sender: alice, content: { msgtype: 'm.text', body: 'group 0' }, event_id: sent[0] });
    expect(first.event.room_id).toBeUndefined();
    // The one-to-one rule's actions in the DM.
    const dmFirst = all.body.notifications.find((n: any) => n.event.event_id === sent[1]);
    expect(dmFirst.actions).toEqual(['notify', { set_tweak: 'sound', value: 'default' }]);
  });

  it('only=highlight, and the read flag follows the read receipt', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const room = await h.roomWith(alice, bob, carol);
    const m1 = await h.send(room, alice, { msgtype: 'm.text', body: 'hi', 'm.mentions': { user_ids: [bob] } });
    const m2 = await h.send(room, alice, { msgtype: 'm.text', body: 'plain', 'm.mentions': {} });
    const m3 = await h.send(room, alice, { msgtype: 'm.text', body: 'bob?' });
    const hl = await h.req('GET', `${V3}/notifications?only=highlight`, { token: b.access_token });
    expect(hl.body.notifications.map((n: any) => n.event.event_id)).toEqual([m3, m1]);
    expect(hl.body.notifications[1].actions).toEqual(['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }]);

    await h.req('POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(m2)}`, { token: b.access_token, body: {} });
    const r = await h.req('GET', `${V3}/notifications`, { token: b.access_token });
    expect(r.body.notifications.map((n: any) => [n.event.event_id, n.read])).toEqual([
      [m3, false],
      [m2, true],
      [m1, true],
    ]);
  });

  it('rejects bad tokens and limits; limit=0 is an empty page', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    expect((await h.req('GET', `${V3}/notifications?from=abc`, { token: b.access_token })).status).toBe(400);
    expect((await h.req('GET', `${V3}/notifications?limit=-1`, { token: b.access_token })).status).toBe(400);
    expect((await h.req('GET', `${V3}/notifications?limit=0`, { token: b.access_token })).body).toEqual({ notifications: [] });
    expect((await h.req('GET', `${V3}/notifications`)).status).toBe(401);
  });
});
