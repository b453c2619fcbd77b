// The push rules API (pushrules.yaml): the merged ruleset, rule CRUD with before/after ordering,
// enabled and actions on user and server-default rules, validation, and m.push_rules account data.
import { afterEach, describe, expect, it } from 'vitest';
import { pushHarness, SERVER, V3, type PushHarness } from './push-harness.js';
import type { Session } from './users-harness.js';

const harnesses: PushHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(): Promise<{ h: PushHarness; s: Session }> {
  const h = await pushHarness();
  harnesses.push(h);
  return { h, s: await h.register('alice') };
}

const R = `${V3}/pushrules/global`;
const ids = (rules: unknown): string[] => (rules as { rule_id: string }[]).map((r) => r.rule_id);

describe('GET /pushrules', () => {
  it('returns the server-default ruleset for a new user, with the user filled in', async () => {
    const { h, s } = await setup();
    const r = await h.req('GET', `${V3}/pushrules/`, { token: s.access_token });
    expect(r.status).toBe(200);
    const g = r.body.global;
    expect(Object.keys(g).sort()).toEqual(['content', 'override', 'room', 'sender', 'underride']);
    expect(ids(g.override)[0]).toBe('.m.rule.master');
    expect(g.override[0]).toMatchObject({ default: true, enabled: false, actions: [] });
    expect(ids(g.override)).toContain('.m.rule.is_user_mention');
    const mention = g.override.find((x: any) => x.rule_id === '.m.rule.is_user_mention');
    expect(mention.conditions).toEqual([{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: `@alice:${SERVER}` }]);
    expect(g.content).toEqual([{ rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: 'alice', actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }] }]);
    expect(ids(g.underride)).toEqual(['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);
    // The same without the trailing slash, and the global ruleset alone.
    expect((await h.req('GET', `${V3}/pushrules`, { token: s.access_token })).body).toEqual(r.body);
    expect((await h.req('GET', `${R}/`, { token: s.access_token })).body).toEqual(g);
    expect((await h.req('GET', `${R}/underride/`, { token: s.access_token })).body).toEqual(g.underride);
    expect((await h.req('GET', `${V3}/pushrules/`)).status).toBe(401);
  });

  it('GET one rule, its enabled flag and its actions; 404 for unknown rules, 400 for unknown kinds', async () => {
    const { h, s } = await setup();
    const t = { token: s.access_token };
    const rule = await h.req('GET', `${R}/underride/.m.rule.message`, t);
    expect(rule.body).toEqual({
      rule_id: '.m.rule.message',
      default: true,
      enabled: true,
      conditions: [{ kind: 'event_match', key: 'type', pattern: 'm.room.message' }],
      actions: ['notify'],
    });
    expect((await h.req('GET', `${R}/underride/.m.rule.message/enabled`, t)).body).toEqual({ enabled: true });
    expect((await h.req('GET', `${R}/underride/.m.rule.message/actions`, t)).body).toEqual({ actions: ['notify'] });
    const missing = await h.req('GET', `${R}/override/nope`, t);
    expect(missing.status).toBe(404);
    expect(missing.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('GET', `${R}/override/nope/enabled`, t)).status).toBe(404);
    expect((await h.req('GET', `${R}/bogus/x`, t)).status).toBe(400);
  });
});

describe('PUT and DELETE /pushrules/global/{kind}/{ruleId}', () => {
  it('creates rules first among the user rules of their kind, before the server defaults', async () => {
    const { h, s } = await setup();
    const t = { token: s.access_token };
    const put = (kind: string, id: string, body: unknown, q = '') => h.req('PUT', `${R}/${kind}/${encodeURIComponent(id)}${q}`, { ...t, body });
    expect((await put('override', 'one', { conditions: [{ kind: 'event_match', key: 'type', pattern: 'x.one' }], actions: ['notify'] })).status).toBe(200);
    expect((await put('override', 'two', { conditions: [], actions: [] })).status).toBe(200);
    const g = (await h.req('GET', `${R}/`, t)).body;
    // The master rule stays first; then the newest user rule; then the other defaults.
    expect(ids(g.override).slice(0, 4)).toEqual(['.m.rule.master', 'two', 'one', '.m.rule.suppress_notices']);
    expect(g.override[1]).toEqual({ rule_id: 'two', default: false, enabled: true, conditions: [], actions: [] });
    // Content, room and sender rules.
    expect((await put('content', 'cake', { pattern: 'cake*lie', actions: ['notify'] })).status).toBe(200);
    const roomId = `!abc:${SERVER}`;
    expect((await put('room', roomId, { actions: [] })).status).toBe(200);
    expect((await put('sender', `@spam:${SERVER}`, { actions: [] })).status).toBe(200);
    const g2 = (await h.req('GET', `${R}/`, t)).body;
    expect(g2.content[0]).toEqual({ rule_id: 'cake', default: false, enabled: true, pattern: 'cake*lie', actions: ['notify'] });
    expect(ids(g2.content)).toEqual(['cake', '.m.rule.contains_user_name']);
    expect(g2.room).toEqual([{ rule_id: roomId, default: false, enabled: true, actions: [] }]);
    expect(ids(g2.sender)).toEqual([`@spam:${SERVER}`]);
  });

  it('orders with before and after (before wins when both are given), and moves existing rules', async () => {
    const { h, s } = await setup();
    const t = { token: s.access_token };
    const put = (id: string, q = '') => h.req('PUT', `${R}/underride/${id}${q}`, { ...t, body: { conditions: [], actions: ['notify'] } });
    const order = async () => ids((await h.req('GET', `${R}/underride/`, t)).body).filter((x) => !x.startsWith('.'));
    await put('a');
    await put('b', '?after=a');
    expect(await order()).toEqual(['a', 'b']);
    await put('c', '?before=a');
    expect(await order()).toEqual(['c', 'a', 'b']);
    await put('d', '?after=c');
    expect(await order()).toEqual(['c', 'd', 'a', 'b']);
    await put('e', '?before=b&after=c');
    expect(await order()).toEqual(['c', 'd', 'a', 'e', 'b']);
    // Moving an existing rule.
    await put('c', '?after=b');
    expect(await order()).toEqual(['d', 'a', 'e', 'b', 'c']);
    // Updating in place keeps the position.
    expect((await h.req('PUT', `${R}/underride/a`, { ...t, body: { conditions: [{ kind: 'room_member_count', is: '>2' }], actions: [] } })).status).toBe(200);
    expect(await order()).toEqual(['d', 'a', 'e', 'b', 'c']);
    expect((await h.req('GET', `${R}/underride/a`, t)).body.conditions).toEqual([{ kind: 'room_member_count', is: '>2' }]);
    // Anchors must be user rules of the same kind.
    const bad = await put('f', '?before=nope');
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_UNKNOWN');
    expect((await put('f', '?after=.m.rule.message')).status).toBe(400);
    expect(await order()).toEqual(['d', 'a', 'e', 'b', 'c']);
  });

  it('validates the path and body', async () => {
    const { h, s } = await setup();
    const t = { token: s.access_token };
    const dot = await h.req('PUT', `${R}/override/.mine`, { ...t, body: { conditions: [], actions: [] } });
    expect(dot.status).toBe(400);
    expect(dot.body.errcode).toBe('M_INVALID_PARAM');
    expect((await h.req('PUT', `${R}/override/a%5Cb`, { ...t, body: { actions: [] } })).status).toBe(400);
    expect((await h.req('PUT', `${R}/bogus/x`, { ...t, body: { actions: [] } })).body.errcode).toBe('M_INVALID_PARAM');
    const noActions = await h.req('PUT', `${R}/override/x`, { ...t, body: { conditions: [] } });
    expect(noActions.status).toBe(400);
    expect(noActions.body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('PUT', `${R}/content/x`, { ...t, body: { actions: [] } })).body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('PUT', `${R}/override/x`, { ...t, body: { actions: ['explode'] } })).status).toBe(400);
    expect((await h.req('PUT', `${R}/override/x`, { ...t, body: { actions: [], conditions: [{ kind: 'room_member_count', is: 'lots' }] } })).status).toBe(400);
    expect((await h.req('PUT', `${R}/override/x`, t)).status).toBe(400);
    // Nothing was stored.
    const g = (await h.req('GET', `${R}/`, t)).body;
    expect(ids(g.override).every((x) => x.startsWith('.'))).toBe(true);
  });

  it('deletes user rules; server-default rules cannot be deleted (404, as Synapse)', async () => {
    const { h, s } = await setup();
    const t = { token: s.access_token };
    await h.req('PUT', `${R}/sender/${encodeURIComponent(`@x:${SERVER}`)}`, { ...t, body: { actions: [] } });
    expect((await h.req('DELETE', `${R}/sender/${encodeURIComponent(`@x:${SERVER}`)}`, t)).status).toBe(200);
    expect((await h.req('GET', `${R}/sender/${encodeURIComponent(`@x:${SERVER}`)}`, t)).status).toBe(404);
    expect((await h.req('DELETE', `${R}/sender/${encodeURIComponent(`@x:${SERVER}`)}`, t)).status).toBe(404);
    const def = await h.req('DELETE', `${R}/underride/.m.rule.message`, t);
    expect(def.status).toBe(404);
    expect(def.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('GET', `${R}/underride/.m.rule.message`, t)).status).toBe(200);
  });
});

describe('enabled and actions', () => {
  it('change user rules and server-default rules for this user only; defaults stay untouched for others', async () => {
    const { h, s } = await setup();
    const other = await h.register('bob');
    const t = { token: s.access_token };
    expect((await h.req('PUT', `${R}/underride/.m.rule.message/enabled`, { ...t, body: { enabled: false } })).status).toBe(200);
    expect((await h.req('GET', `${R}/underride/.m.rule.message/enabled`, t)).body).toEqual({ enabled: false });
    expect((await h.req('PUT', `${R}/underride/.m.rule.message/actions`, { ...t, body: { actions: ['notify', { set_tweak: 'sound', value: 'bing' }] } })).status).toBe(200);
    const rule = (await h.req('GET', `${R}/underride/.m.rule.message`, t)).body;
    expect(rule).toMatchObject({ default: true, enabled: false, actions: ['notify', { set_tweak: 'sound', value: 'bing' }] });
    // Position among the defaults is unchanged.
    expect(ids((await h.req('GET', `${R}/underride/`, t)).body)[3]).toBe('.m.rule.message');
    // Bob still has the defaults.
    expect((await h.req('GET', `${R}/underride/.m.rule.message`, { token: other.access_token })).body).toMatchObject({ enabled: true, actions: ['notify'] });

    // A user rule: disable it, change its actions; updating it keeps it disabled.
    await h.req('PUT', `${R}/content/kw`, { ...t, body: { pattern: 'kw', actions: ['notify'] } });
    await h.req('PUT', `${R}/content/kw/enabled`, { ...t, body: { enabled: false } });
    await h.req('PUT', `${R}/content/kw/actions`, { ...t, body: { actions: [] } });
    expect((await h.req('GET', `${R}/content/kw`, t)).body).toEqual({ rule_id: 'kw', default: false, enabled: false, pattern: 'kw', actions: [] });
    await h.req('PUT', `${R}/content/kw`, { ...t, body: { pattern: 'kw2', actions: ['notify'] } });
    expect((await h.req('GET', `${R}/content/kw`, t)).body).toMatchObject({ enabled: false, pattern: 'kw2' });

    // Errors.
    expect((await h.req('PUT', `${R}/override/nope/enabled`, { ...t, body: { enabled: true } })).status).toBe(404);
    expect((await h.req('PUT', `${R}/override/.m.rule.nope/actions`, { ...t, body: { actions: [] } })).status).toBe(404);
    expect((await h.req('PUT', `${R}/underride/.m.rule.message/enabled`, { ...t, body: { enabled: 'yes' } })).status).toBe(400);
    expect((await h.req('PUT', `${R}/underride/.m.rule.message/actions`, { ...t, body: { actions: 'notify' } })).status).toBe(400);
    expect((await h.req('PUT', `${R}/underride/.m.rule.message/actions`, { ...t, body: {} })).status).toBe(400);
  });
});

describe('m.push_rules account data', () => {
  it('each change publishes the whole ruleset as account data, waking the user', async () => {
    const { h, s } = await setup();
    const me = `@alice:${SERVER}`;
    const woken: string[][] = [];
    h.notifier.onWake((w) => woken.push([...w.userIds]));
    const before = h.users.accountDataPosition();
    await h.req('PUT', `${R}/override/quiet`, { token: s.access_token, body: { conditions: [], actions: [] } });
    const changes = await h.users.accountDataSince(me, before);
    const pr = changes.filter((c) => c.type === 'm.push_rules');
    expect(pr).toHaveLength(1);
    const content: unknown = JSON.parse(pr[0]!.content);
    const rules = (await h.req('GET', `${V3}/pushrules/`, { token: s.access_token })).body;
    expect(content).toEqual(rules);
    expect(woken).toContainEqual([me]);
    // Clients cannot write it directly.
    const direct = await h.req('PUT', `${V3}/user/${encodeURIComponent(me)}/account_data/m.push_rules`, { token: s.access_token, body: {} });
    expect(direct.status).toBe(405);
  });
});
