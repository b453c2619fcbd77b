// Client rate limits (src/http/rate-limit.ts) through real routes and a fake clock: limits hit and
// recover, the 429 shape and Retry-After, per-user / per-address / per-account keys, registration
// counted per created account, failed logins, admins exempt, config values, and everything off with
// rate_limiting: false.
import { afterEach, describe, expect, it } from 'vitest';
import { LeakyBuckets, createRateLimiter, loginAccountKey } from '../../src/http/rate-limit.js';
import { clientRoute } from '../../src/http/client/route.js';
import { parseConfig } from '../../src/config/load.js';
import { SERVER, V3, searchHarness, type SearchHarness } from './search-harness.js';
import type { Res } from './users-harness.js';

const harnesses: SearchHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** A harness with rate limiting on, plus two test routes limited as 'message' and 'join'. */
async function setup(config: Record<string, unknown> = {}) {
  const h = await searchHarness(
    { rate_limiting: true, ...config },
    {
      rateLimiter: true,
      plugin: async (app, users) => {
        clientRoute(app, users, { method: 'POST', path: '/test/send', auth: 'required', rateLimit: 'message', handler: async () => ({ sent: true }) });
        clientRoute(app, users, { method: 'POST', path: '/test/join', auth: 'required', rateLimit: 'join', handler: async () => ({ joined: true }) });
      },
    },
  );
  harnesses.push(h);
  return h;
}

function expectLimited(r: Res, retryMs?: number): void {
  expect(r.status).toBe(429);
  expect(r.body.errcode).toBe('M_LIMIT_EXCEEDED');
  expect(typeof r.body.error).toBe('string');
  expect(typeof r.body.retry_after_ms).toBe('number');
  if (retryMs !== undefined) expect(r.body.retry_after_ms).toBe(retryMs);
  expect(r.raw.headers['retry-after']).toBe(String(Math.ceil(r.body.retry_after_ms / 1000)));
  expect(r.raw.headers['access-control-allow-origin']).toBe('*');
}

const loginBody = (user: string, password: string) => ({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password });

describe('LeakyBuckets', () => {
  it('allows a burst, then one action per 1/per_second, and does not count refusals', () => {
    const clock = { now: 1_000_000 };
    const b = new LeakyBuckets({ perSecond: 0.2, burstCount: 10 }, () => clock.now);
    for (let i = 0; i < 10; i++) expect(b.check('u').allowed).toBe(true);
    expect(b.check('u')).toEqual({ allowed: false, retryAfterMs: 5000 });
    expect(b.check('other').allowed).toBe(true);
    clock.now += 4999;
    expect(b.check('u').allowed).toBe(false);
    clock.now += 1;
    expect(b.check('u').allowed).toBe(true);
    expect(b.check('u').allowed).toBe(false);
    // After a long pause the whole burst is available again.
    clock.now += 60_000;
    for (let i = 0; i < 10; i++) expect(b.check('u').allowed).toBe(true);
    // check without recording leaves the level alone; record counts even beyond the limit.
    clock.now += 60_000;
    expect(b.check('v', { record: false }).allowed).toBe(true);
    for (let i = 0; i < 12; i++) b.record('v');
    expect(b.check('v')).toEqual({ allowed: false, retryAfterMs: 15_000 });
  });

  it('keeps memory bounded', () => {
    const b = new LeakyBuckets({ perSecond: 0.001, burstCount: 1 }, () => 0, 100);
    for (let i = 0; i < 1000; i++) b.check(`k${i}`);
    // The oldest keys were evicted (their slot reused), the newest are still limited.
    expect(b.check('k999').allowed).toBe(false);
    expect(b.check('k0').allowed).toBe(true);
  });
});

describe('loginAccountKey', () => {
  it('names the account the same way whatever form the client used', () => {
    expect(loginAccountKey(loginBody('Alice', 'x'), 'HS.local')).toBe('@alice:hs.local');
    expect(loginAccountKey(loginBody('@alice:hs.local', 'x'), 'hs.local')).toBe('@alice:hs.local');
    expect(loginAccountKey({ type: 'm.login.password', user: 'alice', password: 'x' }, 'hs.local')).toBe('@alice:hs.local');
    expect(loginAccountKey({ type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'a@b' } }, 'hs')).toBeUndefined();
    expect(loginAccountKey('nope', 'hs')).toBeUndefined();
  });
});

describe('rate limits over HTTP', () => {
  it('messages: 10 in a burst per user, then 429 until the bucket drains (rc_message defaults)', async () => {
    const h = await setup();
    const alice = await h.register('alice');
    const bob = await h.register('bob');
    for (let i = 0; i < 10; i++) expect((await h.req('POST', `${V3}/test/send`, { token: alice.access_token, body: {} })).status).toBe(200);
    const limited = await h.req('POST', `${V3}/test/send`, { token: alice.access_token, body: {} });
    expectLimited(limited, 5000);
    expect(limited.raw.headers['retry-after']).toBe('5');
    // Another user is not affected; r0 shares the bucket with v3.
    expect((await h.req('POST', `${V3}/test/send`, { token: bob.access_token, body: {} })).status).toBe(200);
    expect((await h.req('POST', '/_matrix/client/r0/test/send', { token: alice.access_token, body: {} })).status).toBe(429);
    h.clock.now += 5000;
    expect((await h.req('POST', `${V3}/test/send`, { token: alice.access_token, body: {} })).status).toBe(200);
    expect((await h.req('POST', `${V3}/test/send`, { token: alice.access_token, body: {} })).status).toBe(429);
    // Joins have their own bucket.
    expect((await h.req('POST', `${V3}/test/join`, { token: alice.access_token, body: {} })).status).toBe(200);
  });

  it('server admins are not limited', async () => {
    const h = await setup({ rc_message: { per_second: 0.1, burst_count: 1 } });
    const admin = await h.register('root');
    await h.users.setAdmin(`@root:${SERVER}`, true);
    for (let i = 0; i < 20; i++) expect((await h.req('POST', `${V3}/test/send`, { token: admin.access_token, body: {} })).status).toBe(200);
  });

  it('joins follow rc_joins.local from the config', async () => {
    const h = await setup({ rc_joins: { local: { per_second: 1, burst_count: 2 } } });
    const alice = await h.register('alice');
    expect((await h.req('POST', `${V3}/test/join`, { token: alice.access_token, body: {} })).status).toBe(200);
    expect((await h.req('POST', `${V3}/test/join`, { token: alice.access_token, body: {} })).status).toBe(200);
    expectLimited(await h.req('POST', `${V3}/test/join`, { token: alice.access_token, body: {} }), 1000);
    h.clock.now += 1000;
    expect((await h.req('POST', `${V3}/test/join`, { token: alice.access_token, body: {} })).status).toBe(200);
  });

  it('registration: 3 accounts per address; UIA round trips do not count', async () => {
    const h = await setup();
    const ip = '198.51.100.7';
    for (let i = 0; i < 3; i++) {
      // matrix-js-sdk first POSTs without auth to collect the flows (401), then completes.
      const first = await h.req('POST', `${V3}/register`, { ip, body: { username: `user${i}`, password: 'pw-pw-pw' } });
      expect(first.status).toBe(401);
      const done = await h.req('POST', `${V3}/register`, {
        ip,
        body: { username: `user${i}`, password: 'pw-pw-pw', auth: { type: 'm.login.dummy', session: first.body.session } },
      });
      expect(done.status).toBe(200);
    }
    const fourth = await h.req('POST', `${V3}/register`, { ip, body: { username: 'user3', password: 'pw-pw-pw', auth: { type: 'm.login.dummy' } } });
    expectLimited(fourth);
    // 0.17/s: one more registration after about 5.9 s.
    expect(fourth.body.retry_after_ms).toBe(Math.ceil((1 / 0.17) * 1000));
    expect(await h.users.store.getUser(`@user3:${SERVER}`)).toBeUndefined();
    // Another address may still register.
    expect((await h.req('POST', `${V3}/register`, { ip: '203.0.113.9', body: { username: 'other', password: 'pw-pw-pw', auth: { type: 'm.login.dummy' } } })).status).toBe(200);
    h.clock.now += fourth.body.retry_after_ms;
    expect((await h.req('POST', `${V3}/register`, { ip, body: { username: 'user3', password: 'pw-pw-pw', auth: { type: 'm.login.dummy' } } })).status).toBe(200);
  });

  it('login: 5 attempts per address, then 429; other addresses unaffected; recovers with time', async () => {
    const h = await setup();
    await h.users.createAccount({ localpart: 'alice', password: 'wonderland' });
    const ip = '192.0.2.1';
    for (let i = 0; i < 5; i++) {
      const r = await h.req('POST', `${V3}/login`, { ip, body: loginBody(i % 2 ? 'alice' : `nobody${i}`, 'wonderland') });
      expect(r.status, `attempt ${i}`).not.toBe(429);
    }
    expectLimited(await h.req('POST', `${V3}/login`, { ip, body: loginBody('alice', 'wonderland') }));
    expect((await h.req('POST', `${V3}/login`, { ip: '192.0.2.2', body: loginBody('alice', 'wonderland') })).status).toBe(200);
    // rc_login.address: 0.003/s, one attempt per ~333 s.
    h.clock.now += 334_000;
    expect((await h.req('POST', `${V3}/login`, { ip, body: loginBody('alice', 'wonderland') })).status).toBe(200);
  });

  it('login: failed attempts per account are limited even from many addresses', async () => {
    const h = await setup();
    await h.users.createAccount({ localpart: 'alice', password: 'wonderland' });
    await h.users.createAccount({ localpart: 'bob', password: 'builder' });
    for (let i = 0; i < 3; i++) {
      expect((await h.req('POST', `${V3}/login`, { ip: `10.0.0.${i}`, body: loginBody('alice', 'wrong') })).status).toBe(403);
    }
    // The 4th try, even with the right password and from a fresh address, waits (rc_login.failed_attempts 0.17/3).
    expectLimited(await h.req('POST', `${V3}/login`, { ip: '10.0.1.1', body: loginBody('@Alice:test.local', 'wonderland') }));
    expect((await h.req('POST', `${V3}/login`, { ip: '10.0.1.2', body: loginBody('bob', 'builder') })).status).toBe(200);
    h.clock.now += 6000;
    expect((await h.req('POST', `${V3}/login`, { ip: '10.0.1.3', body: loginBody('alice', 'wonderland') })).status).toBe(200);
  });

  it('login: successful logins per account follow rc_login.account', async () => {
    const h = await setup({ rc_login: { account: { per_second: 0.5, burst_count: 2 } } });
    await h.users.createAccount({ localpart: 'alice', password: 'wonderland' });
    expect((await h.req('POST', `${V3}/login`, { ip: '10.1.0.1', body: loginBody('alice', 'wonderland') })).status).toBe(200);
    expect((await h.req('POST', `${V3}/login`, { ip: '10.1.0.2', body: loginBody('alice', 'wonderland') })).status).toBe(200);
    expectLimited(await h.req('POST', `${V3}/login`, { ip: '10.1.0.3', body: loginBody('alice', 'wonderland') }), 2000);
    h.clock.now += 2000;
    expect((await h.req('POST', `${V3}/login`, { ip: '10.1.0.4', body: loginBody('alice', 'wonderland') })).status).toBe(200);
  });

  it('rate_limiting: false turns every limit off', async () => {
    const h = await setup({ rate_limiting: false, rc_message: { per_second: 0.001, burst_count: 1 } });
    expect(h.rateLimiter!.enabled).toBe(false);
    const alice = await h.register('alice');
    for (let i = 0; i < 15; i++) expect((await h.req('POST', `${V3}/test/send`, { token: alice.access_token, body: {} })).status).toBe(200);
    for (let i = 0; i < 8; i++) expect((await h.req('POST', `${V3}/login`, { body: loginBody('alice', 'wrong') })).status).toBe(403);
    for (let i = 0; i < 5; i++) await h.register(`more${i}`);
  });

  it('an app without a rate limiter applies none', async () => {
    const h = await searchHarness({ rate_limiting: true });
    harnesses.push(h);
    for (let i = 0; i < 8; i++) expect((await h.req('POST', `${V3}/login`, { body: loginBody('nobody', 'x') })).status).toBe(403);
  });

  it('reads Synapse config values, with Synapse defaults', () => {
    const { config } = parseConfig({}, { cwd: '/nonexistent' });
    expect(config.rc_message).toEqual({ per_second: 0.2, burst_count: 10 });
    expect(config.rc_registration).toEqual({ per_second: 0.17, burst_count: 3 });
    expect(config.rc_login).toEqual({
      address: { per_second: 0.003, burst_count: 5 },
      account: { per_second: 0.003, burst_count: 5 },
      failed_attempts: { per_second: 0.17, burst_count: 3 },
    });
    expect(config.rc_joins.local).toEqual({ per_second: 0.1, burst_count: 10 });
    const limiter = createRateLimiter(parseConfig({ rc_message: { burst_count: 2 } }, { cwd: '/nonexistent' }).config, () => 0);
    expect(limiter.buckets.message.settings).toEqual({ perSecond: 0.2, burstCount: 2 });
    expect(() => parseConfig({ rc_message: { per_second: -1 } }, { cwd: '/nonexistent' })).toThrow(/rc_message.per_second/);
  });
});
