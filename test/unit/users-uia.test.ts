// The UIA session manager (multi-stage flows, failures, binding, expiry), the nonce store and the
// sync filter shape check, as table tests without HTTP.
import { describe, expect, it } from 'vitest';
import { MatrixError } from '../../src/errors.js';
import { createUiaManager, type UiaRequest } from '../../src/users/uia.js';
import { createNonceStore } from '../../src/users/shared-secret.js';
import { validateFilter } from '../../src/users/filters.js';
import { createStreamCounters } from '../../src/users/streams.js';
import { openDatabase } from '../../src/store/db.js';

function manager(now = { t: 1000 }, sessionLifetimeMs = 10_000, maxSessions?: number) {
  return { now, uia: createUiaManager({ clock: () => now.t, sessionLifetimeMs, ...(maxSessions ? { maxSessions } : {}) }) };
}

const FLOWS = [{ stages: ['x.a', 'x.b'] }, { stages: ['x.a', 'x.c'] }];
function req(auth: unknown, extra: Partial<UiaRequest> = {}): UiaRequest {
  return {
    operation: 'POST /thing',
    userId: '@u:s',
    flows: FLOWS,
    auth,
    checkers: {
      'x.a': async () => {},
      'x.b': async (a) => {
        if (a.secret !== 'b') throw new MatrixError('M_FORBIDDEN', 'wrong b', 401);
      },
      'x.c': async () => {},
    },
    ...extra,
  };
}

describe('UIA manager', () => {
  it('walks a two-stage flow: challenge, first stage, failed second stage, completion', async () => {
    const { uia } = manager();
    const c = await uia.check(req(undefined));
    expect(c.done).toBe(false);
    if (c.done) return;
    expect(c.body).toEqual({ flows: FLOWS, params: {}, session: c.body.session });
    const session = c.body.session as string;

    const a = await uia.check(req({ type: 'x.a', session }));
    expect(a).toEqual({ done: false, body: { flows: FLOWS, params: {}, session, completed: ['x.a'] } });

    const badB = await uia.check(req({ type: 'x.b', session, secret: 'nope' }));
    expect(badB).toEqual({ done: false, body: { flows: FLOWS, params: {}, session, completed: ['x.a'], errcode: 'M_FORBIDDEN', error: 'wrong b' } });

    // Out of order: x.a again is not a next stage.
    const repeat = await uia.check(req({ type: 'x.a', session }));
    expect(repeat.done).toBe(false);
    if (!repeat.done) expect(repeat.body.errcode).toBe('M_UNRECOGNIZED');

    const b = await uia.check(req({ type: 'x.b', session, secret: 'b' }));
    expect(b.done).toBe(true);
    // Retrying once complete succeeds again (spec: completed stages cannot be retried; return the result).
    expect((await uia.check(req({ type: 'x.b', session, secret: 'anything' }))).done).toBe(true);
    // Only the session: the client asks where it stands (fallback).
    expect((await uia.check(req({ session }))).done).toBe(true);
  });

  it('a first request that already carries a stage starts a session (matrix-nio)', async () => {
    const { uia } = manager();
    const r = await uia.check({ ...req({ type: 'm.login.dummy' }), flows: [{ stages: ['m.login.dummy'] }] });
    expect(r.done).toBe(true);
    const bad = await uia.check(req({ type: 'x.b', secret: 'b' }));
    expect(bad.done).toBe(false);
    if (!bad.done) expect(bad.body.errcode).toBe('M_UNRECOGNIZED');
  });

  it('binds sessions to operation, user and fingerprint; forgets them after their lifetime', async () => {
    const { uia, now } = manager();
    const c = await uia.check(req(undefined, { fingerprint: 'D1' }));
    const session = (c as unknown as { body: { session: string } }).body.session;
    for (const change of [{ operation: 'POST /other' }, { userId: '@v:s' }, { fingerprint: 'D2' }]) {
      await expect(uia.check(req({ type: 'x.a', session }, { fingerprint: 'D1', ...change }))).rejects.toMatchObject({ status: 403 });
    }
    expect((await uia.check(req({ type: 'x.a', session }, { fingerprint: 'D1' }))).done).toBe(false);
    now.t += 10_000;
    await expect(uia.check(req({ type: 'x.c', session }, { fingerprint: 'D1' }))).rejects.toMatchObject({ status: 400, errcode: 'M_UNKNOWN' });
    expect(uia.get(session)).toBeUndefined();
  });

  it('rejects malformed auth and keeps at most maxSessions', async () => {
    const { uia } = manager({ t: 0 }, 10_000, 3);
    await expect(uia.check(req('string'))).rejects.toMatchObject({ errcode: 'M_BAD_JSON' });
    await expect(uia.check(req({ session: 5 }))).rejects.toMatchObject({ errcode: 'M_BAD_JSON' });
    await expect(uia.check(req({ type: 5 }))).rejects.toMatchObject({ errcode: 'M_BAD_JSON' });
    for (let i = 0; i < 10; i++) await uia.check(req(undefined));
    expect(uia.size).toBe(3);
  });
});

describe('registration nonces', () => {
  it('are single use and expire after 60 s', () => {
    const now = { t: 0 };
    const nonces = createNonceStore(() => now.t);
    const a = nonces.issue();
    const b = nonces.issue();
    expect(a).not.toBe(b);
    expect(nonces.consume(a)).toBe(true);
    expect(nonces.consume(a)).toBe(false);
    now.t += 60_000;
    expect(nonces.consume(b)).toBe(false);
    expect(nonces.consume('never-issued')).toBe(false);
  });
});

describe('stream counters', () => {
  it('hand out increasing positions per stream, persisted in the database', () => {
    const db = openDatabase(':memory:');
    const s = createStreamCounters(db);
    expect(s.current('account_data')).toBe(0);
    expect([s.next('account_data'), s.next('account_data'), s.next('other')]).toEqual([1, 2, 1]);
    expect(createStreamCounters(db).current('account_data')).toBe(2);
    db.close();
  });
});

describe('filter shape check', () => {
  const good: unknown[] = [
    {},
    { event_format: 'federation', event_fields: ['content.body'] },
    { account_data: { types: ['m.*'], limit: 0 }, presence: { senders: ['@a:b'] } },
    { room: { rooms: ['!a:b'], not_rooms: [], include_leave: true, timeline: { limit: 50, contains_url: false, unread_thread_notifications: true } } },
    { room: { state: { lazy_load_members: true, include_redundant_members: false } }, 'x.custom': [1] },
  ];
  const bad: unknown[] = [
    null,
    'filter',
    { event_fields: [1] },
    { event_format: 'client2' },
    { account_data: { limit: '5' } },
    { room: 'all' },
    { room: { not_rooms: ['#alias:b'] } },
    { room: { timeline: { not_senders: ['a:b'] } } },
    { room: { account_data: { contains_url: 'yes' } } },
    { room: { timeline: { limit: 2 ** 60 } } },
  ];
  it.each(good.map((f) => [JSON.stringify(f), f]))('accepts %s', (_s, f) => {
    expect(validateFilter(f)).toBe(f);
  });
  it.each(bad.map((f) => [JSON.stringify(f), f]))('rejects %s with M_BAD_JSON', (_s, f) => {
    expect(() => validateFilter(f)).toThrow(expect.objectContaining({ errcode: 'M_BAD_JSON', status: 400 }));
  });
});
