// Push as /sync sees it: unread_notifications in the same response as the event that changed them,
// reset by a read receipt, and m.push_rules account data after a push rule change.
import { afterEach, describe, expect, it } from 'vitest';
import { pushHarness, SERVER, V3, type PushHarness } from './push-harness.js';

const harnesses: PushHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const alice = `@alice:${SERVER}`;
const bob = `@bob:${SERVER}`;

describe('push through /sync', () => {
  it('reports unread counts with the events that changed them, and after a receipt', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const room = await h.roomWith(alice, bob, `@carol:${SERVER}`);
    const first = await h.req('GET', `${V3}/sync`, { token: b.access_token });
    expect(first.status).toBe(200);
    expect(first.body.rooms.join[room].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });

    await h.send(room, alice, { msgtype: 'm.text', body: 'hello' });
    const mention = await h.send(room, alice, { msgtype: 'm.text', body: 'bob!', 'm.mentions': { user_ids: [bob] } });
    const next = await h.req('GET', `${V3}/sync?since=${encodeURIComponent(first.body.next_batch)}`, { token: b.access_token });
    const joined = next.body.rooms.join[room];
    expect(joined.timeline.events.map((e: any) => e.event_id)).toContain(mention);
    expect(joined.unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });

    await h.req('POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(mention)}`, { token: b.access_token, body: {} });
    const afterReceipt = await h.req('GET', `${V3}/sync?since=${encodeURIComponent(next.body.next_batch)}`, { token: b.access_token });
    expect(afterReceipt.body.rooms.join[room].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it('unread_thread_notifications (as Element asks): main timeline and each thread counted apart, each cleared by its own receipt', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const room = await h.roomWith(alice, bob, `@carol:${SERVER}`);
    const root = await h.send(room, alice, { msgtype: 'm.text', body: 'root' });
    const reply = (n: number) => ({ msgtype: 'm.text', body: `reply ${n}`, 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
    const r1 = await h.send(room, alice, reply(1));
    await h.send(room, alice, reply(2));
    const main2 = await h.send(room, alice, { msgtype: 'm.text', body: 'bob?', 'm.mentions': { user_ids: [bob] } });
    const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 20, unread_thread_notifications: true } } }));
    const sync = async (f?: string) => (await h.req('GET', `${V3}/sync${f ? `?filter=${f}` : ''}`, { token: b.access_token })).body.rooms.join[room];
    const receipt = (eventId: string, body: object) =>
      h.req('POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(eventId)}`, { token: b.access_token, body });

    let j = await sync(filter);
    expect(j.unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    expect(j.unread_thread_notifications).toEqual({ [root]: { notification_count: 2, highlight_count: 0 } });
    // Without the filter flag, one total and no per-thread object.
    j = await sync();
    expect(j.unread_notifications).toEqual({ notification_count: 4, highlight_count: 1 });
    expect(j.unread_thread_notifications).toBeUndefined();

    // A receipt in the thread clears the thread up to it, not the main timeline.
    expect((await receipt(r1, { thread_id: root })).status).toBe(200);
    j = await sync(filter);
    expect(j.unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    expect(j.unread_thread_notifications).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });
    expect((await sync()).unread_notifications).toEqual({ notification_count: 3, highlight_count: 1 });

    // A main-timeline receipt clears the main timeline only.
    expect((await receipt(main2, { thread_id: 'main' })).status).toBe(200);
    j = await sync(filter);
    expect(j.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(j.unread_thread_notifications).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });

    // An unthreaded receipt covers everything before it, threads included; the object is then omitted.
    expect((await receipt(main2, {})).status).toBe(200);
    j = await sync(filter);
    expect(j.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    expect(j.unread_thread_notifications).toBeUndefined();
  });

  it('sends the whole ruleset as m.push_rules account data after a change', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const first = await h.req('GET', `${V3}/sync`, { token: b.access_token });
    await h.req('PUT', `${V3}/pushrules/global/underride/.m.rule.message/enabled`, { token: b.access_token, body: { enabled: false } });
    const next = await h.req('GET', `${V3}/sync?since=${encodeURIComponent(first.body.next_batch)}`, { token: b.access_token });
    const events = next.body.account_data?.events ?? [];
    const pr = events.find((e: any) => e.type === 'm.push_rules');
    expect(pr).toBeDefined();
    const message = pr.content.global.underride.find((r: any) => r.rule_id === '.m.rule.message');
    expect(message.enabled).toBe(false);
  });

  it('carries the default ruleset as m.push_rules in an initial sync before any change', async () => {
    const h = await pushHarness();
    harnesses.push(h);
    const b = await h.register('bob');
    const first = await h.req('GET', `${V3}/sync`, { token: b.access_token });
    const pr = (first.body.account_data?.events ?? []).filter((e: any) => e.type === 'm.push_rules');
    expect(pr).toHaveLength(1);
    expect(pr[0].content.global.override.map((r: any) => r.rule_id)).toContain('.m.rule.master');
    // Incremental syncs do not repeat it.
    const next = await h.req('GET', `${V3}/sync?since=${encodeURIComponent(first.body.next_batch)}&timeout=0`, { token: b.access_token });
    expect((next.body.account_data?.events ?? []).some((e: any) => e.type === 'm.push_rules')).toBe(false);
  });
});
