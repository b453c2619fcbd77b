// Pushers (pusher.yaml: GET /pushers, POST /pushers/set) and HTTP delivery to a fake push gateway
// (push gateway API POST /_matrix/push/v1/notify): body shape, formats, retries, rejected pushkeys.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeGateway, pushHarness, SERVER, V3, type FakeGateway, type PushHarness } from './push-harness.js';
import type { Session } from './users-harness.js';
import type { JsonObject } from '../../src/core/json/types.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Parameters<typeof pushHarness>[0] = {}): Promise<{ h: PushHarness; gw: FakeGateway }> {
  const gw = await fakeGateway();
  cleanups.push(() => gw.close());
  const h = await pushHarness(opts);
  cleanups.push(() => h.close());
  return { h, gw };
}

const alice = `@alice:${SERVER}`;
const bob = `@bob:${SERVER}`;

function pusherBody(url: string, extra: Record<string, unknown> = {}) {
  return {
    kind: 'http',
    app_id: 'org.example.app.android',
    pushkey: 'PUSHKEY-1',
    app_display_name: 'Example',
    device_display_name: "Bob's phone",
    lang: 'en',
    data: { url, format: 'event_id_only', custom: 'x' },
    ...extra,
  };
}

async function setPusher(h: PushHarness, s: Session, body: unknown) {
  return h.req('POST', `${V3}/pushers/set`, { token: s.access_token, body });
}

describe('POST /pushers/set and GET /pushers', () => {
  it('creates, lists, updates and deletes a pusher', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body).toEqual({ pushers: [] });
    expect((await setPusher(h, b, pusherBody(gw.url, { profile_tag: 'tag1' }))).status).toBe(200);
    const list = await h.req('GET', `${V3}/pushers`, { token: b.access_token });
    expect(list.body).toEqual({
      pushers: [
        {
          pushkey: 'PUSHKEY-1',
          kind: 'http',
          app_id: 'org.example.app.android',
          app_display_name: 'Example',
          device_display_name: "Bob's phone",
          profile_tag: 'tag1',
          lang: 'en',
          data: { url: gw.url, format: 'event_id_only', custom: 'x' },
        },
      ],
    });
    // Same app_id and pushkey: updated, not duplicated.
    await setPusher(h, b, pusherBody(gw.url, { lang: 'de' }));
    const updated = (await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers;
    expect(updated).toHaveLength(1);
    expect(updated[0].lang).toBe('de');
    // Another pushkey: a second pusher.
    await setPusher(h, b, pusherBody(gw.url, { pushkey: 'PUSHKEY-2' }));
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers).toHaveLength(2);
    // kind null deletes.
    expect((await setPusher(h, b, { kind: null, app_id: 'org.example.app.android', pushkey: 'PUSHKEY-1' })).status).toBe(200);
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers.map((p: any) => p.pushkey)).toEqual(['PUSHKEY-2']);
    expect((await h.req('GET', `${V3}/pushers`)).status).toBe(401);
  });

  it('without append, another user setting the same app_id and pushkey takes it over', async () => {
    const { h, gw } = await setup();
    const a = await h.register('alice');
    const b = await h.register('bob');
    await setPusher(h, a, pusherBody(gw.url));
    await setPusher(h, b, pusherBody(gw.url, { append: true }));
    expect((await h.req('GET', `${V3}/pushers`, { token: a.access_token })).body.pushers).toHaveLength(1);
    await setPusher(h, b, pusherBody(gw.url));
    expect((await h.req('GET', `${V3}/pushers`, { token: a.access_token })).body.pushers).toHaveLength(0);
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers).toHaveLength(1);
  });

  it('rejects missing and invalid parameters', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    const missing = await setPusher(h, b, { kind: 'http', app_id: 'a', pushkey: 'k' });
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
    expect(missing.body.error).toContain('lang');
    expect(missing.body.error).toContain('data');
    const noUrl = await setPusher(h, b, pusherBody(gw.url, { data: {} }));
    expect(noUrl.status).toBe(400);
    expect(noUrl.body.errcode).toBe('M_MISSING_PARAM');
    const badPath = await setPusher(h, b, pusherBody(gw.url, { data: { url: 'https://push.example.org/notify' } }));
    expect(badPath.status).toBe(400);
    expect(badPath.body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { data: { url: 'ftp://x/_matrix/push/v1/notify' } }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { data: { url: 'not a url' } }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { app_id: 'x'.repeat(65) }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { pushkey: 'k'.repeat(513) }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { kind: 'carrier-pigeon' }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { lang: 5 }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { append: 'yes' }))).body.errcode).toBe('M_INVALID_PARAM');
    expect((await setPusher(h, b, pusherBody(gw.url, { kind: 'email', pushkey: 'bob@example.org', app_id: 'm.email' }))).status).toBe(400);
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers).toEqual([]);
  });

  it("deleting the device that created a pusher removes it", async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    await setPusher(h, b, pusherBody(gw.url));
    const other = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bob' }, password: 'correct horse' } });
    expect((await h.req('POST', `${V3}/logout`, { token: b.access_token })).status).toBe(200);
    expect((await h.req('GET', `${V3}/pushers`, { token: other.body.access_token })).body.pushers).toEqual([]);
  });
});

describe('HTTP pusher delivery', () => {
  it('posts each notifying event to the gateway with the full event format', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    await setPusher(h, b, pusherBody(gw.url, { data: { url: gw.url, extra: { a: 1 } } }));
    const room = await h.roomWith(alice, bob);
    await h.rooms.sendLocalEvent(room, { type: 'm.room.name', stateKey: '', content: { name: 'Tea room' }, sender: alice });
    const eventId = await h.send(room, alice, { msgtype: 'm.text', body: 'tea?' });
    await gw.waitFor(1);
    await h.push.delivery.whenIdle();
    expect(gw.received).toHaveLength(1);
    const pusher = (await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers[0];
    expect(pusher).toBeDefined();
    expect(gw.received[0]).toEqual({
      notification: {
        event_id: eventId,
        room_id: room,
        type: 'm.room.message',
        sender: alice,
        sender_display_name: 'Alice',
        room_name: 'Tea room',
        prio: 'high',
        counts: { unread: 1 },
        content: { msgtype: 'm.text', body: 'tea?' },
        devices: [
          {
            app_id: 'org.example.app.android',
            pushkey: 'PUSHKEY-1',
            pushkey_ts: Math.floor(h.clock.now / 1000),
            data: { extra: { a: 1 } },
            // A two-member room: .m.rule.room_one_to_one.
            tweaks: { sound: 'default' },
          },
        ],
      },
    });
    // Bob's own messages and non-notifying events are not pushed to Bob.
    await h.send(room, bob);
    await h.send(room, alice, { msgtype: 'm.notice', body: 'bot' });
    await h.push.delivery.whenIdle();
    expect(gw.received).toHaveLength(1);
  });

  it('event_id_only sends ids, counts and priority only; a mention highlights', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    await setPusher(h, b, pusherBody(gw.url));
    const room = await h.roomWith(alice, bob, `@carol:${SERVER}`);
    const first = await h.send(room, alice, { msgtype: 'm.text', body: 'plain' });
    const second = await h.send(room, alice, { msgtype: 'm.text', body: 'hey', 'm.mentions': { user_ids: [bob] } });
    await gw.waitFor(2);
    expect(gw.received[0]).toEqual({
      notification: {
        event_id: first,
        room_id: room,
        counts: { unread: 1 },
        prio: 'low',
        devices: [{ app_id: 'org.example.app.android', pushkey: 'PUSHKEY-1', pushkey_ts: Math.floor(h.clock.now / 1000), data: { format: 'event_id_only', custom: 'x' } }],
      },
    });
    expect(gw.received[1]!.notification).toMatchObject({ event_id: second, prio: 'high' });
  });

  it('retries with backoff until the gateway answers, in order', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    await setPusher(h, b, pusherBody(gw.url));
    let failures = 3;
    gw.respond = () => (failures-- > 0 ? { status: 503, body: { errcode: 'M_UNKNOWN' } as JsonObject } : { status: 200, body: { rejected: [] } as JsonObject });
    const room = await h.roomWith(alice, bob);
    const e1 = await h.send(room, alice);
    const e2 = await h.send(room, alice);
    await gw.waitFor(5);
    await h.push.delivery.whenIdle();
    const ids = gw.received.map((r: any) => r.notification.event_id);
    expect(ids).toEqual([e1, e1, e1, e1, e2]);
  });

  it('a rejected pushkey removes the pusher', async () => {
    const { h, gw } = await setup();
    const b = await h.register('bob');
    await setPusher(h, b, pusherBody(gw.url));
    gw.respond = () => ({ status: 200, body: { rejected: ['PUSHKEY-1'] } });
    const room = await h.roomWith(alice, bob);
    await h.send(room, alice);
    await gw.waitFor(1);
    await h.push.delivery.whenIdle();
    expect((await h.req('GET', `${V3}/pushers`, { token: b.access_token })).body.pushers).toEqual([]);
    await h.send(room, alice);
    await h.push.delivery.whenIdle();
    expect(gw.received).toHaveLength(1);
  });

  it('an unreachable gateway never blocks sending; a read receipt sends the new badge count', async () => {
    const { h, gw } = await setup({ delivery: { initialBackoffMs: 10_000 } });
    const b = await h.register('bob');
    // A port nothing listens on: delivery fails and waits 10 s; persisting goes on.
    const closed = await fakeGateway();
    const deadUrl = closed.url;
    await closed.close();
    await setPusher(h, b, pusherBody(deadUrl, { pushkey: 'DEAD' }));
    await setPusher(h, b, pusherBody(gw.url));
    const room = await h.roomWith(alice, bob);
    const started = Date.now();
    for (let i = 0; i < 5; i++) await h.send(room, alice);
    expect(Date.now() - started).toBeLessThan(2_000);
    await gw.waitFor(5);
    const last = (await h.store.getEventsByStream({ from: 0, roomId: room, direction: 'b', limit: 1 }))[0]!;
    const r = await h.req('POST', `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(last.eventId)}`, { token: b.access_token, body: {} });
    expect(r.status).toBe(200);
    await gw.waitFor(6);
    expect(gw.received[5]).toEqual({
      notification: { counts: { unread: 0 }, devices: [{ app_id: 'org.example.app.android', pushkey: 'PUSHKEY-1', pushkey_ts: Math.floor(h.clock.now / 1000), data: { format: 'event_id_only', custom: 'x' } }] },
    });
  });
});
