// The small endpoints clients probe: well-known discovery, third-party protocols, TURN credentials,
// 3PID endpoints without an identity server, OpenID tokens, the key-backup placeholder, and the JSON
// answers to everything Element and FluffyChat ask at start.
import { createHmac } from 'node:crypto';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { miscRoutes } from '../../src/http/client/misc.js';
import { clientWellKnown, serverWellKnown } from '../../src/http/well-known.js';
import { NOW, SERVER, V3, searchHarness, type SearchHarness } from './search-harness.js';
import type { Res } from './users-harness.js';

const harnesses: SearchHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup(config: Record<string, unknown> = {}) {
  const h = await searchHarness(config);
  harnesses.push(h);
  return h;
}

function expectJsonError(r: Res, status: number, errcode: string): void {
  expect(r.status).toBe(status);
  expect(r.raw.headers['content-type']).toMatch(/^application\/json/);
  expect(r.body.errcode).toBe(errcode);
  expect(typeof r.body.error).toBe('string');
  expect(r.raw.headers['access-control-allow-origin']).toBe('*');
}

describe('well-known', () => {
  it('serves /.well-known/matrix/client only with public_baseurl', async () => {
    const off = await setup();
    expectJsonError(await off.req('GET', '/.well-known/matrix/client'), 404, 'M_NOT_FOUND');
    const on = await setup({ public_baseurl: 'https://matrix.example.org' });
    const r = await on.req('GET', '/.well-known/matrix/client');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ 'm.homeserver': { base_url: 'https://matrix.example.org/' } });
    expect(r.raw.headers['access-control-allow-origin']).toBe('*');
  });

  it('serves /.well-known/matrix/server with serve_server_wellknown, on port 443 unless the name has one', async () => {
    const off = await setup();
    expectJsonError(await off.req('GET', '/.well-known/matrix/server'), 404, 'M_NOT_FOUND');
    const on = await setup({ serve_server_wellknown: true });
    const r = await on.req('GET', '/.well-known/matrix/server');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ 'm.server': `${SERVER}:443` });
    expect(serverWellKnown({ server_name: 'example.org:8448', serve_server_wellknown: true })).toEqual({ 'm.server': 'example.org:8448' });
    expect(serverWellKnown({ server_name: '[::1]', serve_server_wellknown: true })).toEqual({ 'm.server': '[::1]:443' });
    expect(clientWellKnown({})).toBeUndefined();
  });
});

describe('third-party networks and VoIP', () => {
  it('answers the third-party lookups with nothing', async () => {
    const h = await setup();
    const { access_token: t } = await h.register('alice');
    expect((await h.req('GET', `${V3}/thirdparty/protocols`, { token: t })).body).toEqual({});
    expectJsonError(await h.req('GET', `${V3}/thirdparty/protocol/irc`, { token: t }), 404, 'M_NOT_FOUND');
    for (const path of ['/thirdparty/location?alias=%23a:b', '/thirdparty/user/irc', '/thirdparty/location/irc']) {
      const r = await h.req('GET', `${V3}${path}`, { token: t });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.raw.body)).toEqual([]);
    }
    expect((await h.req('GET', `${V3}/thirdparty/protocols`)).status).toBe(401);
  });

  it('turnServer is {} without TURN configuration', async () => {
    const h = await setup();
    const { access_token: t } = await h.register('alice');
    const r = await h.req('GET', `${V3}/voip/turnServer`, { token: t });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
  });

  it('turnServer gives time-limited HMAC credentials with a shared secret', async () => {
    const uris = ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349'];
    const h = await setup({ turn_uris: uris, turn_shared_secret: 'north', turn_user_lifetime: '2h' });
    const { access_token: t } = await h.register('alice');
    const r = await h.req('GET', `${V3}/voip/turnServer`, { token: t });
    const expiry = Math.floor((NOW + 2 * 3600 * 1000) / 1000);
    const username = `${expiry}:@alice:${SERVER}`;
    expect(r.body).toEqual({
      username,
      password: createHmac('sha1', 'north').update(username).digest('base64'),
      ttl: 7200,
      uris,
    });
    // Padded standard base64, as TURN servers compute it.
    expect(r.body.password).toMatch(/^[A-Za-z0-9+/]{27}=$/);
  });

  it('turnServer gives fixed credentials, and refuses guests when turn_allow_guests is false', async () => {
    const h = await setup({
      turn_uris: ['turn:t.example.org'],
      turn_username: 'fixed',
      turn_password: 'secret',
      allow_guest_access: true,
      turn_allow_guests: false,
    });
    const { access_token: t } = await h.register('alice');
    expect((await h.req('GET', `${V3}/voip/turnServer`, { token: t })).body).toEqual({ username: 'fixed', password: 'secret', ttl: 3600, uris: ['turn:t.example.org'] });
    const guest = await h.req('POST', `${V3}/register?kind=guest`, { body: {} });
    expect(guest.status).toBe(200);
    expectJsonError(await h.req('GET', `${V3}/voip/turnServer`, { token: guest.body.access_token }), 403, 'M_GUEST_ACCESS_FORBIDDEN');
  });
});

describe('third-party identifiers without an identity server', () => {
  it('lists none and refuses to add or bind any', async () => {
    const h = await setup();
    const { access_token: t } = await h.register('alice');
    expect((await h.req('GET', `${V3}/account/3pid`, { token: t })).body).toEqual({ threepids: [] });
    for (const medium of ['email', 'msisdn']) {
      const r = await h.req('POST', `${V3}/account/3pid/${medium}/requestToken`, {
        body: { client_secret: 'abc', email: 'a@example.org', country: 'GB', phone_number: '0', send_attempt: 1 },
      });
      expectJsonError(r, 400, 'M_THREEPID_MEDIUM_NOT_SUPPORTED');
    }
    expectJsonError(await h.req('POST', `${V3}/account/3pid/add`, { token: t, body: { client_secret: 'abc', sid: '1' } }), 400, 'M_THREEPID_AUTH_FAILED');
    expectJsonError(await h.req('POST', `${V3}/account/3pid/add`, { token: t, body: {} }), 400, 'M_MISSING_PARAM');
    expectJsonError(await h.req('POST', `${V3}/account/3pid`, { token: t, body: { three_pid_creds: { client_secret: 'a', sid: 'b' } } }), 400, 'M_THREEPID_AUTH_FAILED');
    expectJsonError(await h.req('POST', `${V3}/account/3pid`, { token: t, body: {} }), 400, 'M_MISSING_PARAM');
    expectJsonError(
      await h.req('POST', `${V3}/account/3pid/bind`, { token: t, body: { client_secret: 'a', id_server: 'id.example.org', id_access_token: 'x', sid: 'b' } }),
      403,
      'M_THREEPID_DENIED',
    );
    for (const op of ['unbind', 'delete']) {
      const r = await h.req('POST', `${V3}/account/3pid/${op}`, { token: t, body: { medium: 'email', address: 'a@example.org' } });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ id_server_unbind_result: 'no-support' });
    }
    expect((await h.req('POST', `${V3}/account/3pid/add`, { body: { client_secret: 'abc', sid: '1' } })).status).toBe(401);
  });
});

describe('OpenID tokens', () => {
  it('issues a token to the user for their own ID, which the federation side can look up until it expires', async () => {
    const h = await setup();
    const { access_token: t } = await h.register('alice');
    const me = `@alice:${SERVER}`;
    const r = await h.req('POST', `${V3}/user/${encodeURIComponent(me)}/openid/request_token`, { token: t, body: {} });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', matrix_server_name: SERVER, expires_in: 3600 });
    expect(await h.area.openIdTokens.lookupUser(r.body.access_token)).toBe(me);
    expect(await h.area.openIdTokens.lookupUser('forged')).toBeUndefined();
    h.clock.now += 3600 * 1000;
    expect(await h.area.openIdTokens.lookupUser(r.body.access_token)).toBeUndefined();
    // Tokens are stored hashed.
    const stored = h.db.prepare('SELECT token_hash FROM openid_tokens').all() as { token_hash: Buffer }[];
    expect(stored.every((s) => !s.token_hash.toString('utf8').includes(r.body.access_token))).toBe(true);
    // Not for someone else.
    expectJsonError(
      await h.req('POST', `${V3}/user/${encodeURIComponent(`@bob:${SERVER}`)}/openid/request_token`, { token: t, body: {} }),
      403,
      'M_FORBIDDEN',
    );
  });
});

describe('start-up probes of Element and FluffyChat', () => {
  it('every probe gets a JSON answer', async () => {
    const h = await setup();
    const { access_token: t } = await h.register('alice');
    // [method, path, token?, expected status, expected errcode]
    const probes: [string, string, boolean, number, string | undefined][] = [
      ['GET', '/_matrix/client/versions', false, 200, undefined],
      ['GET', '/.well-known/matrix/client', false, 404, 'M_NOT_FOUND'],
      ['GET', `${V3}/login`, false, 200, undefined],
      ['GET', `${V3}/capabilities`, true, 200, undefined],
      ['GET', `${V3}/room_keys/version`, true, 404, 'M_NOT_FOUND'],
      ['GET', '/_matrix/client/r0/room_keys/version', true, 404, 'M_NOT_FOUND'],
      ['GET', '/_matrix/client/unstable/org.matrix.msc2965/auth_issuer', false, 404, 'M_UNRECOGNIZED'],
      ['GET', '/_matrix/client/v1/auth_metadata', false, 404, 'M_UNRECOGNIZED'],
      ['GET', '/_matrix/client/unstable/org.matrix.msc2697.v2/dehydrated_device', true, 404, 'M_UNRECOGNIZED'],
      ['GET', '/_matrix/client/unstable/org.matrix.msc4143/rtc/transports', true, 404, 'M_UNRECOGNIZED'],
      ['POST', '/_matrix/client/v1/login/get_token', true, 404, 'M_UNRECOGNIZED'],
      ['GET', `${V3}/thirdparty/protocols`, true, 200, undefined],
      ['GET', `${V3}/voip/turnServer`, true, 200, undefined],
      ['GET', `${V3}/account/3pid`, true, 200, undefined],
      ['GET', '/_matrix/client/v3/no/such/endpoint', true, 404, 'M_UNRECOGNIZED'],
      ['GET', '/no/such/path', false, 404, 'M_UNRECOGNIZED'],
    ];
    for (const [method, path, auth, status, errcode] of probes) {
      const r = await h.req(method as 'GET', path, { ...(auth ? { token: t } : {}), ...(method === 'POST' ? { body: {} } : {}) });
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.raw.headers['content-type'], `${method} ${path}`).toMatch(/^application\/json/);
      expect(r.raw.headers['access-control-allow-origin']).toBe('*');
      if (errcode) {
        expect(r.body.errcode, `${method} ${path}`).toBe(errcode);
        expect(typeof r.body.error).toBe('string');
      }
    }
    expect((await h.req('GET', `${V3}/room_keys/version`, { token: t })).body.error).toBe('No backup found');
  });

  it('the key-backup placeholder steps aside for a real key-backup route', async () => {
    const h = await setup();
    const app = Fastify();
    app.decorate('rateLimiter', null);
    app.get('/_matrix/client/v3/room_keys/version', async () => ({ version: '1' }));
    await app.register(miscRoutes({ config: h.config, serverKeys: { current: undefined as never, old: [] }, users: h.users }));
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/_matrix/client/v3/room_keys/version' })).json()).toEqual({ version: '1' });
    await app.close();
  });
});
