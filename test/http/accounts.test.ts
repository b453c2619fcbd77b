// Accounts through the HTTP API: registration (matrix-js-sdk and matrix-nio flows, guests, username
// rules), login, access tokens, logout, refresh tokens, password change and deactivation.
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER, usersHarness, type UsersHarness } from './users-harness.js';

const harnesses: UsersHarness[] = [];
async function setup(config: Record<string, unknown> = {}, opts: { refreshableAccessTokenLifetimeMs?: number } = {}) {
  const h = await usersHarness(config, opts);
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const V3 = '/_matrix/client/v3';
const R0 = '/_matrix/client/r0';

describe('registration', () => {
  it('follows the matrix-js-sdk flow: 401 with flows and a session, then m.login.dummy with that session', async () => {
    const h = await setup();
    const first = await h.req('POST', `${V3}/register`, {
      body: { username: 'alice', password: 'hunter2', initial_device_display_name: 'Web', refresh_token: true },
    });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.dummy'] }]);
    expect(first.body.params).toEqual({});
    expect(typeof first.body.session).toBe('string');
    // The first 401 is not an error: matrix-js-sdk shows errcode/error to the user if present.
    expect(first.body.errcode).toBeUndefined();
    expect(first.body.error).toBeUndefined();
    expect(first.body.completed).toBeUndefined();

    const second = await h.req('POST', `${V3}/register`, {
      body: {
        username: 'alice',
        password: 'hunter2',
        initial_device_display_name: 'Web',
        refresh_token: true,
        auth: { type: 'm.login.dummy', session: first.body.session },
      },
    });
    expect(second.status).toBe(200);
    expect(second.body.user_id).toBe(`@alice:${SERVER}`);
    expect(second.body.home_server).toBe(SERVER);
    expect(second.body.access_token).toMatch(/^\S{20,}$/);
    expect(second.body.device_id).toMatch(/^[A-Z]{10}$/);
    expect(second.body.refresh_token).toMatch(/^\S{20,}$/);
    expect(second.body.expires_in_ms).toBe(5 * 60 * 1000);

    const who = await h.req('GET', `${V3}/account/whoami`, { token: second.body.access_token });
    expect(who.body).toEqual({ user_id: `@alice:${SERVER}`, device_id: second.body.device_id, is_guest: false });
    const dev = await h.req('GET', `${V3}/devices/${second.body.device_id}`, { token: second.body.access_token });
    expect(dev.body.display_name).toBe('Web');
    // New accounts get their localpart as display name (as Synapse does).
    expect((await h.req('GET', `${V3}/profile/@alice:${SERVER}`)).body).toEqual({ displayname: 'alice' });
  });

  it('follows the matrix-nio flow: m.login.dummy without a session on the very first request, under r0', async () => {
    const h = await setup();
    const r = await h.req('POST', `${R0}/register`, {
      body: { username: 'nio', password: 'pw', device_id: 'NIODEVICE', auth: { type: 'm.login.dummy' } },
    });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(`@nio:${SERVER}`);
    expect(r.body.device_id).toBe('NIODEVICE');
    expect(r.body.refresh_token).toBeUndefined();
    expect(r.body.expires_in_ms).toBeUndefined();
    const who = await h.req('GET', `${R0}/account/whoami`, { token: r.body.access_token });
    expect(who.status).toBe(200);
    expect(who.body.device_id).toBe('NIODEVICE');
  });

  it('keeps the password given on the first request when the follow-up omits it', async () => {
    const h = await setup();
    const first = await h.req('POST', `${V3}/register`, { body: { username: 'carol', password: 'pw1' } });
    const second = await h.req('POST', `${V3}/register`, {
      body: { username: 'carol', auth: { type: 'm.login.dummy', session: first.body.session } },
    });
    expect(second.status).toBe(200);
    await expect(h.login('carol', 'pw1')).resolves.toMatchObject({ user_id: `@carol:${SERVER}` });
  });

  it('retrying a completed stage returns the result, and a session cannot be reused for another operation', async () => {
    const h = await setup();
    const first = await h.req('POST', `${V3}/register`, { body: { username: 'dave', password: 'pw' } });
    const session = first.body.session as string;
    const bad = await h.req('POST', `${V3}/register`, { body: { username: 'dave', password: 'pw', auth: { type: 'm.login.password', session } } });
    // A stage that is not offered fails the stage, not the session: 401 with errcode and the flows.
    expect(bad.status).toBe(401);
    expect(bad.body.errcode).toBeDefined();
    expect(bad.body.session).toBe(session);
    expect(bad.body.flows).toEqual([{ stages: ['m.login.dummy'] }]);

    const ok = await h.req('POST', `${V3}/register`, { body: { username: 'dave', password: 'pw', auth: { type: 'm.login.dummy', session } } });
    expect(ok.status).toBe(200);
    // Same session again: the user now exists.
    const again = await h.req('POST', `${V3}/register`, { body: { username: 'dave', password: 'pw', auth: { type: 'm.login.dummy', session } } });
    expect(again.status).toBe(400);
    expect(again.body.errcode).toBe('M_USER_IN_USE');

    // The registration session used for a password change by a logged-in user: refused.
    const pw = await h.req('POST', `${V3}/account/password`, {
      token: ok.body.access_token,
      body: { new_password: 'x', auth: { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: 'dave' }, password: 'pw' } },
    });
    expect(pw.status).toBe(403);

    const unknown = await h.req('POST', `${V3}/register`, { body: { username: 'erin', password: 'pw', auth: { type: 'm.login.dummy', session: 'nope' } } });
    expect(unknown.status).toBe(400);
  });

  it('checks the username before UIA: grammar, reserved forms, taken (ignoring case); lower-cases it', async () => {
    const h = await setup();
    await h.register('frank');
    const cases: [string, string][] = [
      ['bad name', 'M_INVALID_USERNAME'],
      ['ünï', 'M_INVALID_USERNAME'],
      ['_bridge', 'M_INVALID_USERNAME'],
      ['12345', 'M_INVALID_USERNAME'],
      ['a'.repeat(250), 'M_INVALID_USERNAME'],
      ['frank', 'M_USER_IN_USE'],
      ['FRANK', 'M_USER_IN_USE'],
    ];
    for (const [username, errcode] of cases) {
      // No auth at all: these errors come before the UIA challenge.
      const r = await h.req('POST', `${V3}/register`, { body: { username, password: 'pw' } });
      expect([username, r.status, r.body.errcode]).toEqual([username, 400, errcode]);
    }
    const upper = await h.register('GrAcE');
    expect(upper.user_id).toBe(`@grace:${SERVER}`);
  });

  it('GET /register/available answers available, M_USER_IN_USE, M_INVALID_USERNAME, M_MISSING_PARAM', async () => {
    const h = await setup();
    await h.register('henry');
    for (const prefix of [V3, R0]) {
      expect((await h.req('GET', `${prefix}/register/available?username=ivy`)).body).toEqual({ available: true });
      const taken = await h.req('GET', `${prefix}/register/available?username=henry`);
      expect([taken.status, taken.body.errcode]).toEqual([400, 'M_USER_IN_USE']);
      const bad = await h.req('GET', `${prefix}/register/available?username=no%20spaces`);
      expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_USERNAME']);
      const missing = await h.req('GET', `${prefix}/register/available`);
      expect([missing.status, missing.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    }
  });

  it('generates a numeric user ID when no username is given; inhibit_login returns no token', async () => {
    const h = await setup();
    const a = await h.register('' as string, 'pw', { username: undefined });
    expect(a.user_id).toMatch(new RegExp(`^@[0-9]+:${SERVER.replace('.', '\\.')}$`));
    const r = await h.req('POST', `${V3}/register`, {
      body: { username: 'jack', password: 'pw', inhibit_login: true, auth: { type: 'm.login.dummy' } },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ user_id: `@jack:${SERVER}`, home_server: SERVER });
    await expect(h.login('jack', 'pw')).resolves.toMatchObject({ user_id: `@jack:${SERVER}` });
  });

  it('refuses a registration without password, a bad kind, a non-object body and an empty body', async () => {
    const h = await setup();
    const noPw = await h.req('POST', `${V3}/register`, { body: { username: 'kate', auth: { type: 'm.login.dummy' } } });
    expect([noPw.status, noPw.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    const kind = await h.req('POST', `${V3}/register?kind=admin`, { body: {} });
    expect([kind.status, kind.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const arr = await h.req('POST', `${V3}/register`, { body: [1, 2] });
    expect([arr.status, arr.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const notJson = await h.req('POST', `${V3}/register`, { rawBody: '{"username": ' });
    expect([notJson.status, notJson.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    const empty = await h.req('POST', `${V3}/register`, {});
    expect([empty.status, empty.body.errcode]).toEqual([400, 'M_NOT_JSON']);
    const badType = await h.req('POST', `${V3}/register`, { body: { username: 5, password: 'x' } });
    expect([badType.status, badType.body.errcode]).toEqual([400, 'M_BAD_JSON']);
  });

  it('is refused with M_FORBIDDEN when enable_registration is off', async () => {
    const h = await setup({ enable_registration: false });
    const r = await h.req('POST', `${V3}/register`, { body: { username: 'liam', password: 'pw', auth: { type: 'm.login.dummy' } } });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const avail = await h.req('GET', `${V3}/register/available?username=liam`);
    expect([avail.status, avail.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
  });
});

describe('guests', () => {
  it('are refused with M_GUEST_ACCESS_FORBIDDEN when allow_guest_access is off', async () => {
    const h = await setup({ allow_guest_access: false });
    const r = await h.req('POST', `${V3}/register?kind=guest`, { body: {} });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_GUEST_ACCESS_FORBIDDEN']);
  });

  it('register without UIA, use guest endpoints only, and can upgrade to a full account', async () => {
    const h = await setup({ allow_guest_access: true });
    const g = await h.req('POST', `${R0}/register?kind=guest`, { body: { initial_device_display_name: 'guest dev' } });
    expect(g.status).toBe(200);
    const token = g.body.access_token as string;
    expect(g.body.user_id).toMatch(/^@[0-9]+:/);
    const who = await h.req('GET', `${V3}/account/whoami`, { token });
    expect(who.body).toMatchObject({ user_id: g.body.user_id, is_guest: true });
    // Guest-allowed endpoints.
    expect((await h.req('GET', `${V3}/devices`, { token })).status).toBe(200);
    expect((await h.req('PUT', `${V3}/profile/${g.body.user_id}/displayname`, { token, body: { displayname: 'Visitor' } })).status).toBe(200);
    expect((await h.req('GET', `${V3}/capabilities`, { token })).body.capabilities['m.change_password']).toEqual({ enabled: false });
    // Not for guests: other profile fields, account data, password change, device deletion.
    const forbidden = [
      await h.req('PUT', `${V3}/profile/${g.body.user_id}/avatar_url`, { token, body: { avatar_url: 'mxc://a/b' } }),
      await h.req('PUT', `${V3}/user/${g.body.user_id}/account_data/x.y`, { token, body: {} }),
      await h.req('POST', `${V3}/account/password`, { token, body: { new_password: 'x' } }),
      await h.req('POST', `${V3}/delete_devices`, { token, body: { devices: [] } }),
      await h.req('GET', `${V3}/account/3pid`, { token }),
    ];
    for (const r of forbidden) expect([r.status, r.body.errcode]).toEqual([403, 'M_GUEST_ACCESS_FORBIDDEN']);

    // Upgrade (spec "Guest Access"): same user ID, now with a password and not a guest.
    const localpart = (g.body.user_id as string).slice(1).split(':')[0]!;
    const wrongName = await h.req('POST', `${V3}/register`, {
      body: { username: 'someoneelse', password: 'pw', guest_access_token: token, auth: { type: 'm.login.dummy' } },
    });
    expect([wrongName.status, wrongName.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const up = await h.req('POST', `${V3}/register`, {
      body: { username: localpart, password: 'upgraded', guest_access_token: token, auth: { type: 'm.login.dummy' } },
    });
    expect(up.status).toBe(200);
    expect(up.body.user_id).toBe(g.body.user_id);
    const who2 = await h.req('GET', `${V3}/account/whoami`, { token: up.body.access_token });
    expect(who2.body.is_guest).toBe(false);
    await expect(h.login(localpart, 'upgraded')).resolves.toMatchObject({ user_id: g.body.user_id });
  });

  it('tokens of guests stop working on guest endpoints when guest access is turned off', async () => {
    const on = await setup({ allow_guest_access: true });
    const g = await on.req('POST', `${V3}/register?kind=guest`, { body: {} });
    // Same database, new service with guest access off (a config change and restart).
    const { createUsersService, usersOptionsFromConfig } = await import('../../src/users/service.js');
    const off = createUsersService(usersOptionsFromConfig(on.db, { ...on.config, allow_guest_access: false }, () => on.clock.now));
    const { buildApp } = await import('../../src/http/app.js');
    const { generateSigningKey } = await import('../../src/core/crypto/ed25519.js');
    const app = buildApp({ config: on.config, serverKeys: { current: generateSigningKey('x'), old: [] }, users: off });
    const r = await app.inject({ method: 'GET', url: `${V3}/account/whoami`, headers: { authorization: `Bearer ${g.body.access_token}` } });
    expect(r.statusCode).toBe(403);
    expect(r.json().errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    await app.close();
  });
});

describe('login', () => {
  it('GET /login lists m.login.password under v3 and r0', async () => {
    const h = await setup();
    for (const p of [V3, R0]) expect((await h.req('GET', `${p}/login`)).body).toEqual({ flows: [{ type: 'm.login.password' }] });
  });

  it('accepts a localpart, a full user ID, any case, and the legacy `user` field', async () => {
    const h = await setup();
    await h.register('mia', 'pw');
    expect((await h.login('mia', 'pw')).user_id).toBe(`@mia:${SERVER}`);
    expect((await h.login(`@mia:${SERVER}`, 'pw')).user_id).toBe(`@mia:${SERVER}`);
    expect((await h.login('MIA', 'pw')).user_id).toBe(`@mia:${SERVER}`);
    const legacy = await h.req('POST', `${R0}/login`, { body: { type: 'm.login.password', user: 'mia', password: 'pw' } });
    expect(legacy.status).toBe(200);
    expect(legacy.body).toMatchObject({ user_id: `@mia:${SERVER}`, home_server: SERVER });
    expect(legacy.body.well_known).toBeUndefined();
  });

  it('refuses wrong passwords, unknown and remote users with 403 M_FORBIDDEN; bad requests with 400', async () => {
    const h = await setup();
    await h.register('noah', 'pw');
    const tries = [
      { identifier: { type: 'm.id.user', user: 'noah' }, password: 'wrong' },
      { identifier: { type: 'm.id.user', user: 'nobody' }, password: 'pw' },
      { identifier: { type: 'm.id.user', user: '@noah:elsewhere.org' }, password: 'pw' },
      { identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'noah@example.org' }, password: 'pw' },
    ];
    for (const t of tries) {
      const r = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', ...t } });
      expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    }
    const badType = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.token', token: 'x' } });
    expect([badType.status, badType.body.errcode]).toEqual([400, 'M_UNKNOWN']);
    const noType = await h.req('POST', `${V3}/login`, { body: { user: 'noah', password: 'pw' } });
    expect([noType.status, noType.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    const noPw = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', user: 'noah' } });
    expect([noPw.status, noPw.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    const numPw = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', user: 'noah', password: 5 } });
    expect([numPw.status, numPw.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const notJson = await h.req('POST', `${V3}/login`, { rawBody: 'type=m.login.password' });
    expect([notJson.status, notJson.body.errcode]).toEqual([400, 'M_NOT_JSON']);
  });

  it('logging in again with the same device_id replaces that device\'s token and keeps its name', async () => {
    const h = await setup();
    await h.register('olive', 'pw');
    const a = await h.login('olive', 'pw', { device_id: 'PHONE', initial_device_display_name: 'Phone' });
    expect((await h.req('GET', `${V3}/account/whoami`, { token: a.access_token })).status).toBe(200);
    const b = await h.login('olive', 'pw', { device_id: 'PHONE', initial_device_display_name: 'Ignored' });
    expect(b.device_id).toBe('PHONE');
    const old = await h.req('GET', `${V3}/account/whoami`, { token: a.access_token });
    expect([old.status, old.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
    const dev = await h.req('GET', `${V3}/devices/PHONE`, { token: b.access_token });
    expect(dev.body.display_name).toBe('Phone');
  });

  it('includes well_known when public_baseurl is configured', async () => {
    const h = await setup({ public_baseurl: 'https://matrix.example.org' });
    await h.register('pia', 'pw');
    const s = await h.login('pia', 'pw');
    expect((s as unknown as Record<string, unknown>).well_known).toEqual({ 'm.homeserver': { base_url: 'https://matrix.example.org/' } });
  });
});

describe('access tokens', () => {
  it('are read from the Authorization header or ?access_token=, and refused with the right errors', async () => {
    const h = await setup();
    const s = await h.register('quinn');
    expect((await h.req('GET', `${V3}/account/whoami?access_token=${s.access_token}`)).body.user_id).toBe(`@quinn:${SERVER}`);
    const missing = await h.req('GET', `${V3}/account/whoami`);
    expect([missing.status, missing.body.errcode]).toEqual([401, 'M_MISSING_TOKEN']);
    const unknown = await h.req('GET', `${V3}/account/whoami`, { token: 'mat_not_a_token' });
    expect([unknown.status, unknown.body.errcode, unknown.body.soft_logout]).toEqual([401, 'M_UNKNOWN_TOKEN', false]);
    const r = await h.app.inject({ method: 'GET', url: `${V3}/account/whoami`, headers: { authorization: `Basic ${s.access_token}` } });
    expect([r.statusCode, r.json().errcode]).toEqual([401, 'M_MISSING_TOKEN']);
  });

  it('are stored hashed: the database never holds a usable token', async () => {
    const h = await setup();
    const s = await h.register('rita');
    const rows = h.db.prepare('SELECT token_hash FROM access_tokens').all() as { token_hash: Buffer }[];
    expect(rows.length).toBe(1);
    expect(rows[0]!.token_hash.length).toBe(32);
    expect(rows[0]!.token_hash.toString('latin1')).not.toContain(s.access_token);
  });
});

describe('logout', () => {
  it('invalidates the token (even when cached) and deletes its device', async () => {
    const h = await setup();
    const s = await h.register('sam');
    const other = await h.login('sam', 'correct horse');
    const removed: [string, string[]][] = [];
    h.users.hooks.devicesRemoved.push((u, d) => void removed.push([u, d]));
    expect((await h.req('GET', `${V3}/account/whoami`, { token: s.access_token })).status).toBe(200);
    expect((await h.req('POST', `${R0}/logout`, { token: s.access_token })).status).toBe(200);
    const after = await h.req('GET', `${V3}/account/whoami`, { token: s.access_token });
    expect([after.status, after.body.errcode, after.body.soft_logout]).toEqual([401, 'M_UNKNOWN_TOKEN', false]);
    expect(removed).toEqual([[`@sam:${SERVER}`, [s.device_id]]]);
    const list = await h.req('GET', `${V3}/devices`, { token: other.access_token });
    expect(list.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual([other.device_id]);
  });

  it('logout/all invalidates every token of the user', async () => {
    const h = await setup();
    const a = await h.register('tom');
    const b = await h.login('tom', 'correct horse');
    const bystander = await h.register('uma');
    for (const t of [a, b]) expect((await h.req('GET', `${V3}/account/whoami`, { token: t.access_token })).status).toBe(200);
    expect((await h.req('POST', `${V3}/logout/all`, { token: b.access_token })).status).toBe(200);
    for (const t of [a, b]) expect((await h.req('GET', `${V3}/account/whoami`, { token: t.access_token })).status).toBe(401);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: bystander.access_token })).status).toBe(200);
    // The user can log in again.
    await expect(h.login('tom', 'correct horse')).resolves.toBeDefined();
  });
});

describe('refresh tokens', () => {
  it('round trip: expiring access token, soft logout on expiry, refresh, rotation', async () => {
    const h = await setup({}, { refreshableAccessTokenLifetimeMs: 60_000 });
    await h.register('vera', 'pw');
    const s = await h.login('vera', 'pw', { refresh_token: true });
    expect(s.expires_in_ms).toBe(60_000);
    expect(s.refresh_token).toBeDefined();
    expect((await h.req('GET', `${V3}/account/whoami`, { token: s.access_token })).status).toBe(200);

    h.clock.now += 60_001;
    const expired = await h.req('GET', `${V3}/account/whoami`, { token: s.access_token });
    expect([expired.status, expired.body.errcode, expired.body.soft_logout]).toEqual([401, 'M_UNKNOWN_TOKEN', true]);

    const r1 = await h.req('POST', `${V3}/refresh`, { body: { refresh_token: s.refresh_token } });
    expect(r1.status).toBe(200);
    expect(r1.body.expires_in_ms).toBe(60_000);
    expect(r1.body.refresh_token).not.toBe(s.refresh_token);
    // A lost answer: the client may repeat the refresh with the old refresh token until it uses
    // the new tokens; the unused successor is replaced.
    const r1again = await h.req('POST', `${V3}/refresh`, { body: { refresh_token: s.refresh_token } });
    expect(r1again.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: r1.body.access_token })).status).toBe(401);
    const who = await h.req('GET', `${V3}/account/whoami`, { token: r1again.body.access_token });
    expect(who.body).toMatchObject({ user_id: `@vera:${SERVER}`, device_id: s.device_id });
    // Using the new access token revokes the old refresh token.
    const stale = await h.req('POST', `${V3}/refresh`, { body: { refresh_token: s.refresh_token } });
    expect([stale.status, stale.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
    // The new refresh token works, and its use revokes the access token it replaced.
    const r2 = await h.req('POST', `${R0}/refresh`, { body: { refresh_token: r1again.body.refresh_token } });
    expect(r2.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: r1again.body.access_token })).status).toBe(401);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: r2.body.access_token })).status).toBe(200);

    const unknown = await h.req('POST', `${V3}/refresh`, { body: { refresh_token: 'mrt_nope' } });
    expect([unknown.status, unknown.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
    const missing = await h.req('POST', `${V3}/refresh`, { body: {} });
    expect([missing.status, missing.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
  });

  it('logout revokes the refresh token too', async () => {
    const h = await setup();
    await h.register('walt', 'pw');
    const s = await h.login('walt', 'pw', { refresh_token: true });
    await h.req('POST', `${V3}/logout`, { token: s.access_token });
    const r = await h.req('POST', `${V3}/refresh`, { body: { refresh_token: s.refresh_token } });
    expect([r.status, r.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
  });
});

describe('password change', () => {
  it('uses UIA m.login.password, keeps the current device and logs out the others by default', async () => {
    const h = await setup();
    const main = await h.register('xena', 'old-pw');
    const other = await h.login('xena', 'old-pw');
    const first = await h.req('POST', `${V3}/account/password`, { token: main.access_token, body: { new_password: 'new-pw' } });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    expect(first.body.errcode).toBeUndefined();
    const session = first.body.session as string;

    const wrong = await h.req('POST', `${V3}/account/password`, {
      token: main.access_token,
      body: { new_password: 'new-pw', auth: { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: 'xena' }, password: 'nope' } },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ errcode: 'M_FORBIDDEN', session, flows: [{ stages: ['m.login.password'] }] });

    // Another user's password does not authorise xena's change.
    await h.register('yuri', 'yuri-pw');
    const otherUser = await h.req('POST', `${V3}/account/password`, {
      token: main.access_token,
      body: { new_password: 'new-pw', auth: { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: 'yuri' }, password: 'yuri-pw' } },
    });
    expect([otherUser.status, otherUser.body.errcode]).toEqual([401, 'M_FORBIDDEN']);

    const ok = await h.req('POST', `${V3}/account/password`, {
      token: main.access_token,
      body: { new_password: 'new-pw', auth: { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: `@xena:${SERVER}` }, password: 'old-pw' } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({});
    expect((await h.req('GET', `${V3}/account/whoami`, { token: main.access_token })).status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: other.access_token })).status).toBe(401);
    await expect(h.login('xena', 'old-pw')).rejects.toThrow(/403/);
    await expect(h.login('xena', 'new-pw')).resolves.toBeDefined();
  });

  it('logout_devices: false keeps the other devices; errors for missing token and missing new_password', async () => {
    const h = await setup();
    const main = await h.register('zoe', 'pw');
    const other = await h.login('zoe', 'pw');
    const ok = await h.req('POST', `${R0}/account/password`, {
      token: main.access_token,
      body: { new_password: 'pw2', logout_devices: false, auth: { type: 'm.login.password', user: 'zoe', password: 'pw' } },
    });
    expect(ok.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: other.access_token })).status).toBe(200);
    const noToken = await h.req('POST', `${V3}/account/password`, { body: { new_password: 'x' } });
    expect([noToken.status, noToken.body.errcode]).toEqual([401, 'M_MISSING_TOKEN']);
    const noPw = await h.req('POST', `${V3}/account/password`, { token: main.access_token, body: {} });
    expect([noPw.status, noPw.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
  });
});

describe('UIA for other endpoints', () => {
  it('requirePasswordAuth: challenge, then done with the password; the session is tied to the operation', async () => {
    const h = await setup();
    const s = await h.register('ivan', 'pw');
    const requester = await h.users.authenticate(s.access_token);
    const op = 'POST /keys/device_signing/upload';
    const first = await h.users.requirePasswordAuth(requester, { master_key: {} }, op);
    expect(first.done).toBe(false);
    const session = (first as unknown as { body: { session: string } }).body.session;
    const auth = { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: 'ivan' }, password: 'pw' };
    await expect(h.users.requirePasswordAuth(requester, { auth }, 'POST /somewhere/else')).rejects.toMatchObject({ status: 403 });
    expect((await h.users.requirePasswordAuth(requester, { auth }, op)).done).toBe(true);
    await expect(h.users.requirePasswordAuth(undefined, {}, op)).rejects.toMatchObject({ errcode: 'M_MISSING_TOKEN' });
  });
});

describe('deactivation', () => {
  it('uses UIA; afterwards tokens are dead, login answers M_USER_DEACTIVATED and the name stays taken', async () => {
    const h = await setup();
    const s = await h.register('abel', 'pw');
    const events: string[] = [];
    h.users.hooks.userDeactivated.push((u) => void events.push(`deactivated ${u}`));
    h.users.hooks.devicesRemoved.push((u, d) => void events.push(`devices ${u} ${d.join(',')}`));
    await h.req('PUT', `${V3}/profile/@abel:${SERVER}/displayname`, { token: s.access_token, body: { displayname: 'Abel' } });

    const first = await h.req('POST', `${V3}/account/deactivate`, { token: s.access_token, body: {} });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const ok = await h.req('POST', `${V3}/account/deactivate`, {
      token: s.access_token,
      body: { auth: { type: 'm.login.password', session: first.body.session, identifier: { type: 'm.id.user', user: 'abel' }, password: 'pw' } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id_server_unbind_result: 'success' });
    expect(events).toEqual([`devices @abel:${SERVER} ${s.device_id}`, `deactivated @abel:${SERVER}`]);

    const after = await h.req('GET', `${V3}/account/whoami`, { token: s.access_token });
    expect([after.status, after.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
    const login = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'abel' }, password: 'pw' } });
    expect([login.status, login.body.errcode]).toEqual([403, 'M_USER_DEACTIVATED']);
    const again = await h.req('POST', `${V3}/register`, { body: { username: 'abel', password: 'pw', auth: { type: 'm.login.dummy' } } });
    expect([again.status, again.body.errcode]).toEqual([400, 'M_USER_IN_USE']);
    expect((await h.req('GET', `${V3}/profile/@abel:${SERVER}`)).body).toEqual({});
  });

  it('with erase, also drops account data', async () => {
    const h = await setup();
    const s = await h.register('beth', 'pw');
    await h.req('PUT', `${V3}/user/@beth:${SERVER}/account_data/org.example.x`, { token: s.access_token, body: { a: 1 } });
    const ok = await h.req('POST', `${R0}/account/deactivate`, {
      token: s.access_token,
      body: { erase: true, auth: { type: 'm.login.password', user: 'beth', password: 'pw' } },
    });
    expect(ok.status).toBe(200);
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM account_data').get()).toEqual({ n: 0 });
  });
});

describe('prefixes', () => {
  it('serves every account endpoint under both /v3 and /r0', async () => {
    const h = await setup();
    const s = await h.register('cole');
    const uid = encodeURIComponent(`@cole:${SERVER}`);
    const paths = [
      ['GET', '/login'],
      ['GET', '/account/whoami'],
      ['GET', '/devices'],
      ['GET', `/devices/${s.device_id}`],
      ['GET', '/capabilities'],
      ['GET', `/profile/${uid}`],
      ['GET', `/profile/${uid}/displayname`],
      ['GET', `/register/available?username=free`],
      ['GET', `/user/${uid}/rooms/${encodeURIComponent('!r:x')}/tags`],
      ['GET', '/account/3pid'],
    ] as const;
    for (const [method, path] of paths) {
      for (const prefix of [V3, R0]) {
        const r = await h.req(method, `${prefix}${path}`, { token: s.access_token });
        expect([prefix + path, r.status]).toEqual([prefix + path, 200]);
      }
    }
    // And not under made-up versions.
    const r = await h.req('GET', '/_matrix/client/v9/account/whoami', { token: s.access_token });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_UNRECOGNIZED']);
  });
});
