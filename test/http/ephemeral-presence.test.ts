// Presence: GET/PUT /presence/{userId}/status, visibility (shared rooms), what /sync's
// PresenceSource serves and whom it wakes, the timers (currently_active, idle, offline after sync
// inactivity, remote timeout, federation re-send), set_presence on sync, remote updates, and
// `presence.enabled: false`.
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { createPresenceService, DEFAULT_PRESENCE_TIMINGS as T } from '../../src/ephemeral/presence.js';
import { ephemeralHarness, SERVER, V3, type EphemeralHarness } from './ephemeral-harness.js';

const harnesses: EphemeralHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    expect(h.errors).toEqual([]);
    await h.close();
  }
});

async function setup(configOverrides: Record<string, unknown> = {}) {
  const h = await ephemeralHarness(configOverrides);
  harnesses.push(h);
  const ann = await h.register('ann');
  const bob = await h.register('bob');
  const cat = await h.register('cat');
  const roomId = await h.roomWith(ann.user_id, bob.user_id);
  h.takeWakes();
  const url = (userId: string) => `${V3}/presence/${encodeURIComponent(userId)}/status`;
  const get = (token: string, userId: string) => h.req('GET', url(userId), { token });
  const put = (token: string, userId: string, body: unknown) => h.req('PUT', url(userId), { token, body });
  return { h, ann, bob, cat, roomId, get, put };
}

describe('presence', () => {
  it('PUT then GET: state, status message, last_active_ago, currently_active', async () => {
    const { h, ann, get, put } = await setup();
    // Nothing known yet: offline.
    expect((await get(ann.access_token, ann.user_id)).body).toEqual({ presence: 'offline' });

    let r = await put(ann.access_token, ann.user_id, { presence: 'online', status_msg: 'Working' });
    expect([r.status, r.body]).toEqual([200, {}]);
    h.clock.now += 1500;
    r = await get(ann.access_token, ann.user_id);
    expect([r.status, r.body]).toEqual([200, { presence: 'online', status_msg: 'Working', last_active_ago: 1500, currently_active: true }]);

    // unavailable keeps the last active time; the status message is replaced (absent clears it).
    await put(ann.access_token, ann.user_id, { presence: 'unavailable' });
    h.clock.now += 500;
    expect((await get(ann.access_token, ann.user_id)).body).toEqual({ presence: 'unavailable', last_active_ago: 2000 });
    // r0 works the same.
    r = await h.req('GET', `/_matrix/client/r0/presence/${encodeURIComponent(ann.user_id)}/status`, { token: ann.access_token });
    expect(r.body).toEqual({ presence: 'unavailable', last_active_ago: 2000 });

    // Persisted: a new service over the same database knows the state and the position.
    const again = createPresenceService({ db: h.db, notifier: h.notifier, serverName: SERVER, clock: () => h.clock.now, timers: false });
    expect(await again.getPresence(ann.user_id, ann.user_id)).toEqual({ presence: 'unavailable', last_active_ago: 2000 });
    expect(again.position()).toBe(h.presence.position());
  });

  it('visibility: others only when sharing a room; errors for bad input and other users', async () => {
    const { ann, bob, cat, get, put } = await setup();
    await put(ann.access_token, ann.user_id, { presence: 'online' });
    expect((await get(bob.access_token, ann.user_id)).body).toMatchObject({ presence: 'online' });
    let r = await get(cat.access_token, ann.user_id);
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await get(cat.access_token, '@nobody:test.local');
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await get(cat.access_token, 'not-a-user');
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);

    r = await put(bob.access_token, ann.user_id, { presence: 'offline' });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    for (const body of [{}, { presence: 'busy' }, { presence: 1 }, { presence: 'online', status_msg: 5 }]) {
      r = await put(ann.access_token, ann.user_id, body);
      expect([r.status, r.body.errcode], JSON.stringify(body)).toEqual([400, 'M_INVALID_PARAM']);
    }
    r = await put(ann.access_token, ann.user_id, ['online']);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    r = await put(ann.access_token, ann.user_id, undefined);
    expect([r.status, r.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    expect((await get(bob.access_token, ann.user_id)).body).toMatchObject({ presence: 'online' });
  });

  it('the source: m.presence events since a position, wakes of the users sharing a room, outbound updates', async () => {
    const { h, ann, bob, cat, put } = await setup();
    const out: JsonObject[] = [];
    h.presence.onOutbound.push((p) => out.push(p));
    const p0 = h.presence.position();

    await put(ann.access_token, ann.user_id, { presence: 'online', status_msg: 'hi' });
    const p1 = h.presence.position();
    expect(p1).toBeGreaterThan(p0);
    const wake = h.takeWakes().find((w) => w.userIds.length > 0)!;
    expect([...wake.userIds].sort()).toEqual([ann.user_id, bob.user_id]);
    expect(wake.userIds).not.toContain(cat.user_id);

    const ev = { type: 'm.presence', sender: ann.user_id, content: { presence: 'online', status_msg: 'hi', last_active_ago: 0, currently_active: true } };
    expect(h.presence.presenceSince([ann.user_id, bob.user_id], p0)).toEqual([ev]);
    expect(h.presence.presenceSince([bob.user_id], p0)).toEqual([]);
    expect(h.presence.presenceSince([ann.user_id], p1)).toEqual([]);
    expect(out).toEqual([{ presence: 'online', user_id: ann.user_id, status_msg: 'hi', last_active_ago: 0, currently_active: true }]);

    // Going offline is news for incremental syncs, but an initial sync leaves offline users out.
    await put(ann.access_token, ann.user_id, { presence: 'offline' });
    expect(h.presence.presenceSince([ann.user_id], p1)).toEqual([{ type: 'm.presence', sender: ann.user_id, content: { presence: 'offline', last_active_ago: 0 } }]);
    expect(h.presence.presenceSince([ann.user_id], 0)).toEqual([]);
    expect(out.at(-1)).toEqual({ presence: 'offline', user_id: ann.user_id, last_active_ago: 0, currently_active: false });

    // The same state again is not news.
    const p2 = h.presence.position();
    await put(ann.access_token, ann.user_id, { presence: 'offline' });
    expect(h.presence.position()).toBe(p2);
  });

  it('timers: currently_active lapses after 60 s, idle after 5 min, offline 30 s after the last sync ends', async () => {
    const { h, ann, bob, get } = await setup();
    const state = async () => (await get(bob.access_token, ann.user_id)).body;
    const t0 = h.clock.now;

    // A sync whose end is reported: online while it runs.
    const end1 = h.presence.syncedWithPresence(ann.user_id, 'online');
    end1();
    const end2 = h.presence.syncedWithPresence(ann.user_id, 'online');
    expect(await state()).toEqual({ presence: 'online', last_active_ago: 0, currently_active: true });

    const p = h.presence.position();
    h.clock.now = t0 + T.lastActiveGranularityMs + 1;
    h.presence.checkTimeouts();
    // No longer currently active: clients are told (a new position).
    expect(h.presence.position()).toBeGreaterThan(p);
    expect(await state()).toEqual({ presence: 'online', last_active_ago: T.lastActiveGranularityMs + 1, currently_active: false });

    h.clock.now = t0 + T.idleTimeoutMs;
    h.presence.checkTimeouts();
    expect((await state()).presence).toBe('online');
    h.clock.now = t0 + T.idleTimeoutMs + 1;
    h.presence.checkTimeouts();
    expect(await state()).toEqual({ presence: 'unavailable', last_active_ago: T.idleTimeoutMs + 1 });

    // Activity (a message, receipt or typing) brings an idle user back online.
    h.presence.bumpActive(ann.user_id);
    expect(await state()).toEqual({ presence: 'online', last_active_ago: 0, currently_active: true });

    // The long-poll ends: offline once syncOnlineTimeoutMs has passed without a new sync.
    const tEnd = h.clock.now;
    end2();
    h.clock.now = tEnd + T.syncOnlineTimeoutMs;
    h.presence.checkTimeouts();
    expect((await state()).presence).toBe('online');
    h.clock.now = tEnd + T.syncOnlineTimeoutMs + 1;
    h.presence.checkTimeouts();
    expect((await state()).presence).toBe('offline');
  });

  it('a sync whose end is never reported counts as running for assumedSyncMs', async () => {
    const { h, ann, get } = await setup();
    const t0 = h.clock.now;
    h.presence.syncedWithPresence(ann.user_id, 'online');
    h.clock.now = t0 + T.assumedSyncMs + T.syncOnlineTimeoutMs;
    h.presence.checkTimeouts();
    expect((await get(ann.access_token, ann.user_id)).body.presence).toBe('online');
    // Repeated syncs keep the user online.
    h.presence.syncedWithPresence(ann.user_id, 'online');
    const t1 = h.clock.now;
    h.clock.now = t1 + T.assumedSyncMs + T.syncOnlineTimeoutMs + 1;
    h.presence.checkTimeouts();
    expect((await get(ann.access_token, ann.user_id)).body.presence).toBe('offline');
  });

  it('set_presence on sync: online and unavailable apply, offline changes nothing, the status message stays', async () => {
    const { h, ann, get, put } = await setup();
    await put(ann.access_token, ann.user_id, { presence: 'unavailable', status_msg: 'lunch' });
    const p = h.presence.position();
    h.presence.syncedWithPresence(ann.user_id, 'offline');
    expect(h.presence.position()).toBe(p);
    expect((await get(ann.access_token, ann.user_id)).body).toEqual({ presence: 'unavailable', status_msg: 'lunch' });
    h.presence.syncedWithPresence(ann.user_id, 'online');
    expect((await get(ann.access_token, ann.user_id)).body).toEqual({ presence: 'online', status_msg: 'lunch', last_active_ago: 0, currently_active: true });
    h.clock.now += 1000;
    h.presence.syncedWithPresence(ann.user_id, 'unavailable');
    expect((await get(ann.access_token, ann.user_id)).body).toEqual({ presence: 'unavailable', status_msg: 'lunch', last_active_ago: 1000 });
  });

  it('local presence is re-sent outward every 25 min while unchanged', async () => {
    const { h, ann } = await setup();
    const out: JsonObject[] = [];
    h.presence.onOutbound.push((p) => out.push(p));
    const t0 = h.clock.now;
    h.presence.syncedWithPresence(ann.user_id, 'unavailable')();
    expect(out).toEqual([{ presence: 'unavailable', user_id: ann.user_id, currently_active: false }]);
    // The client keeps syncing (as unavailable: no activity, no news) every 5 minutes.
    for (let i = 1; i <= 5; i++) {
      h.clock.now = t0 + i * 5 * 60_000;
      h.presence.syncedWithPresence(ann.user_id, 'unavailable')();
      h.presence.checkTimeouts();
    }
    expect(out).toHaveLength(1);
    h.clock.now = t0 + T.federationPingIntervalMs + 1;
    h.presence.syncedWithPresence(ann.user_id, 'unavailable')();
    h.presence.checkTimeouts();
    expect(out).toHaveLength(2);
    expect(out[1]).toEqual(out[0]);
    h.presence.checkTimeouts();
    expect(out).toHaveLength(2);
  });

  it('remote users: applied, visible to those sharing a room, offline after 30 min without news', async () => {
    const { h, ann, cat, roomId, get } = await setup();
    const remote = '@dan:remote.example';
    await h.remoteJoin(roomId, remote);
    const out: JsonObject[] = [];
    h.presence.onOutbound.push((p) => out.push(p));
    h.takeWakes();

    expect(h.presence.applyRemotePresence({ userId: remote, presence: 'online', lastActiveAgo: 2000, currentlyActive: true, statusMsg: 'remote' })).toBe(true);
    expect(h.takeWakes().find((w) => w.userIds.includes(ann.user_id))).toBeDefined();
    expect((await get(ann.access_token, remote)).body).toEqual({ presence: 'online', status_msg: 'remote', last_active_ago: 2000, currently_active: true });
    expect((await get(cat.access_token, remote)).status).toBe(403);
    expect(h.presence.presenceSince([remote], 0)).toHaveLength(1);
    // Never for our users, never invalid states; never sent back out.
    expect(h.presence.applyRemotePresence({ userId: ann.user_id, presence: 'online' })).toBe(false);
    expect(h.presence.applyRemotePresence({ userId: remote, presence: 'busy' })).toBe(false);
    expect(out).toEqual([]);

    h.clock.now += T.federationTimeoutMs;
    h.presence.checkTimeouts();
    expect((await get(ann.access_token, remote)).body.presence).toBe('online');
    h.clock.now += 1;
    h.presence.checkTimeouts();
    expect((await get(ann.access_token, remote)).body.presence).toBe('offline');
  });

  it('presence.enabled: false — the endpoints answer, nothing is tracked or broadcast', async () => {
    const { h, ann, bob, get, put } = await setup({ presence: { enabled: false } });
    expect(h.presence.enabled).toBe(false);
    const out: JsonObject[] = [];
    h.presence.onOutbound.push((p) => out.push(p));
    let r = await put(ann.access_token, ann.user_id, { presence: 'online', status_msg: 'x' });
    expect([r.status, r.body]).toEqual([200, {}]);
    // Still validated.
    r = await put(ann.access_token, ann.user_id, { presence: 'nope' });
    expect(r.status).toBe(400);
    h.presence.syncedWithPresence(ann.user_id, 'online');
    h.presence.bumpActive(ann.user_id);
    expect((await get(bob.access_token, ann.user_id)).body).toEqual({ presence: 'offline' });
    expect(h.presence.position()).toBe(0);
    expect(h.presence.presenceSince([ann.user_id], 0)).toEqual([]);
    expect(h.takeWakes()).toEqual([]);
    expect(out).toEqual([]);
  });
});
