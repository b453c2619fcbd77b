// Typing notifications: PUT /rooms/{roomId}/typing/{userId}, what /sync's TypingSource sees, the
// wakes, timeouts (default, explicit, capped), leaving the room, remote typing and errors.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TYPING_TIMEOUT_MS, REMOTE_TYPING_TIMEOUT_MS, type TypingUpdate } from '../../src/ephemeral/typing.js';
import { ephemeralHarness, SERVER, V3, type EphemeralHarness } from './ephemeral-harness.js';

const harnesses: EphemeralHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    expect(h.errors).toEqual([]);
    await h.close();
  }
});

/** Wakes of rooms (typing); user wakes come from presence, which typing bumps as activity. */
function roomWakes(h: EphemeralHarness) {
  return h.takeWakes().filter((w) => w.roomIds.length > 0);
}

async function setup() {
  const h = await ephemeralHarness();
  harnesses.push(h);
  const ann = await h.register('ann');
  const bob = await h.register('bob');
  const roomId = await h.roomWith(ann.user_id, bob.user_id);
  h.takeWakes();
  const typingUrl = (userId: string, room = roomId) => `${V3}/rooms/${encodeURIComponent(room)}/typing/${encodeURIComponent(userId)}`;
  return { h, ann, bob, roomId, typingUrl };
}

describe('typing', () => {
  it('start and stop are visible through the source, with positions and room wakes', async () => {
    const { h, ann, bob, roomId, typingUrl } = await setup();
    const p0 = h.typing.position();
    const out: TypingUpdate[] = [];
    h.typing.onOutbound.push((u) => out.push(u));

    let r = await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: true, timeout: 20000 } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    const p1 = h.typing.position();
    expect(p1).toBeGreaterThan(p0);
    expect(h.typing.typingUsers(roomId)).toEqual([ann.user_id]);
    expect(h.typing.typingChangedSince([roomId], p0)).toEqual(new Map([[roomId, [ann.user_id]]]));
    expect(h.typing.typingChangedSince([roomId], p1)).toEqual(new Map());
    expect(roomWakes(h)).toEqual([{ roomIds: [roomId], userIds: [] }]);

    // Bob starts too (r0 prefix works the same); order is who started first.
    r = await h.req('PUT', `/_matrix/client/r0/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(bob.user_id)}`, {
      token: bob.access_token,
      body: { typing: true },
    });
    expect(r.status).toBe(200);
    const p2 = h.typing.position();
    expect(h.typing.typingChangedSince([roomId], p1)).toEqual(new Map([[roomId, [ann.user_id, bob.user_id]]]));

    // Renewing changes nothing clients see: no new position, no wake.
    await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: true, timeout: 30000 } });
    expect(h.typing.position()).toBe(p2);
    h.takeWakes();

    r = await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: false } });
    expect(r.status).toBe(200);
    expect(h.typing.typingChangedSince([roomId], p2)).toEqual(new Map([[roomId, [bob.user_id]]]));
    expect(roomWakes(h)).toEqual([{ roomIds: [roomId], userIds: [] }]);
    // Stopping again is a no-op.
    const p3 = h.typing.position();
    await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: false } });
    expect(h.typing.position()).toBe(p3);
    expect(roomWakes(h)).toEqual([]);

    // An initial sync (since 0) sees only rooms where someone types now.
    expect(h.typing.typingChangedSince([roomId, '!other:test.local'], 0)).toEqual(new Map([[roomId, [bob.user_id]]]));
    // A token from before a restart (ahead of this process) reads as an initial sync.
    expect(h.typing.typingChangedSince([roomId], p3 + 100)).toEqual(new Map([[roomId, [bob.user_id]]]));

    // Outbound updates for federation: every start/renewal with its timeout, and the stop.
    expect(out).toEqual([
      { roomId, userId: ann.user_id, typing: true, timeoutMs: 20000 },
      { roomId, userId: bob.user_id, typing: true, timeoutMs: 30000 },
      { roomId, userId: ann.user_id, typing: true, timeoutMs: 30000 },
      { roomId, userId: ann.user_id, typing: false },
    ]);
  });

  it('typing expires after its timeout (default 30 s, capped at 120 s), with a wake at expiry', async () => {
    const { h, ann, bob, roomId, typingUrl } = await setup();
    await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: true } }); // default 30 s
    await h.req('PUT', typingUrl(bob.user_id), { token: bob.access_token, body: { typing: true, timeout: 10 * 60_000 } }); // capped
    const p = h.typing.position();
    h.takeWakes();

    h.clock.now += 29_999;
    h.typing.expireDue();
    expect(h.typing.typingUsers(roomId)).toEqual([ann.user_id, bob.user_id]);
    expect(roomWakes(h)).toEqual([]);

    h.clock.now += 1;
    h.typing.expireDue();
    expect(h.typing.typingUsers(roomId)).toEqual([bob.user_id]);
    expect(roomWakes(h)).toEqual([{ roomIds: [roomId], userIds: [] }]);
    expect(h.typing.typingChangedSince([roomId], p)).toEqual(new Map([[roomId, [bob.user_id]]]));

    h.clock.now += MAX_TYPING_TIMEOUT_MS - 30_000 - 1;
    expect(h.typing.typingUsers(roomId)).toEqual([bob.user_id]);
    h.clock.now += 1;
    // Lazy expiry on read, even without the timer.
    const p2 = h.typing.position();
    expect(h.typing.typingChangedSince([roomId], p2)).toEqual(new Map([[roomId, []]]));
    expect(h.typing.typingUsers(roomId)).toEqual([]);
  });

  it('the real timer wakes waiting syncs when typing expires', async () => {
    const h = await ephemeralHarness();
    harnesses.push(h);
    const ann = await h.register('ann');
    const roomId = await h.roomWith(ann.user_id);
    // A second typing service on the same store with real timers and the real clock.
    const { createTypingService } = await import('../../src/ephemeral/typing.js');
    const typing = createTypingService({ store: h.store, notifier: h.notifier, serverName: SERVER });
    try {
      await typing.setTyping(ann.user_id, roomId, ann.user_id, { typing: true, timeout: 30 });
      h.takeWakes();
      const woken = new Promise<void>((resolve) => {
        const off = h.notifier.onWake((w) => {
          if (w.roomIds.includes(roomId)) {
            off();
            resolve();
          }
        });
      });
      await woken;
      expect(typing.typingUsers(roomId)).toEqual([]);
    } finally {
      typing.close();
    }
  });

  it('leaving the room stops typing', async () => {
    const { h, bob, roomId, typingUrl } = await setup();
    await h.req('PUT', typingUrl(bob.user_id), { token: bob.access_token, body: { typing: true } });
    expect(h.typing.typingUsers(roomId)).toEqual([bob.user_id]);
    await h.rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: bob.user_id, content: { membership: 'leave' }, sender: bob.user_id });
    await new Promise((r) => setTimeout(r, 10));
    expect(h.typing.typingUsers(roomId)).toEqual([]);
  });

  it('remote users: applied while joined, expire after 60 s; our users cannot be spoofed', async () => {
    const { h, ann, roomId } = await setup();
    const remote = '@carol:remote.example';
    // Not a member yet: ignored.
    expect(await h.typing.applyRemoteTyping(roomId, remote, true)).toBe(false);
    expect(await h.typing.applyRemoteTyping(roomId, ann.user_id, true)).toBe(false);
    expect(await h.typing.applyRemoteTyping('!nope:remote.example', remote, true)).toBe(false);
    expect(h.typing.typingUsers(roomId)).toEqual([]);

    await h.remoteJoin(roomId, remote);
    const out: TypingUpdate[] = [];
    h.typing.onOutbound.push((u) => out.push(u));
    expect(await h.typing.applyRemoteTyping(roomId, remote, true)).toBe(true);
    expect(h.typing.typingUsers(roomId)).toEqual([remote]);
    h.clock.now += REMOTE_TYPING_TIMEOUT_MS;
    expect(h.typing.typingUsers(roomId)).toEqual([]);
    expect(await h.typing.applyRemoteTyping(roomId, remote, true)).toBe(true);
    expect(await h.typing.applyRemoteTyping(roomId, remote, false)).toBe(true);
    expect(h.typing.typingUsers(roomId)).toEqual([]);
    // Remote typing is never sent back out.
    expect(out).toEqual([]);
  });

  it('errors: another user, not joined, bad bodies, bad IDs, no token', async () => {
    const { h, ann, bob, roomId, typingUrl } = await setup();
    const cat = await h.register('cat');

    let r = await h.req('PUT', typingUrl(bob.user_id), { token: ann.access_token, body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await h.req('PUT', typingUrl(cat.user_id), { token: cat.access_token, body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await h.req('PUT', typingUrl(ann.user_id, '!unknown:test.local'), { token: ann.access_token, body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    r = await h.req('PUT', typingUrl(ann.user_id, 'not-a-room'), { token: ann.access_token, body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('PUT', typingUrl('not-a-user'), { token: ann.access_token, body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);

    for (const body of [{}, { typing: 'yes' }, { typing: true, timeout: 'long' }, { typing: true, timeout: -1 }, [true]]) {
      r = await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body });
      expect([r.status, r.body.errcode], JSON.stringify(body)).toEqual([400, 'M_BAD_JSON']);
    }
    r = await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    r = await h.req('PUT', typingUrl(ann.user_id), { body: { typing: true } });
    expect([r.status, r.body.errcode]).toEqual([401, 'M_MISSING_TOKEN']);

    expect(h.typing.typingUsers(roomId)).toEqual([]);
    expect(h.typing.position()).toBe(0);
  });

  it('typing counts as activity for presence', async () => {
    const { h, ann, typingUrl } = await setup();
    await h.req('PUT', `${V3}/presence/${encodeURIComponent(ann.user_id)}/status`, { token: ann.access_token, body: { presence: 'unavailable' } });
    h.clock.now += 1000;
    await h.req('PUT', typingUrl(ann.user_id), { token: ann.access_token, body: { typing: true } });
    const r = await h.req('GET', `${V3}/presence/${encodeURIComponent(ann.user_id)}/status`, { token: ann.access_token });
    expect(r.body).toMatchObject({ presence: 'online', last_active_ago: 0, currently_active: true });
  });
});
