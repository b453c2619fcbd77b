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
