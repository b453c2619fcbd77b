// Inbound X-Matrix authentication (federationRoute): unsigned, malformed, wrong destination,
// unknown or expired key, bad signature, tampered URI/body, and good requests; the origin's key is
// served through a fake federation client to a real key ring over a temp SQLite database; and the
// server ACL check of routes naming a room.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import { buildApp, type AppServices, type ServerKeys } from '../../src/http/app.js';
import { signedServerKeys } from '../../src/http/keys/server.js';
import { federationRoute } from '../../src/http/federation/route.js';
import { FederationError, type FederationClient } from '../../src/federation/client.js';
import { createKeyRing } from '../../src/federation/keys.js';
import { formatXMatrixHeader, signRequest } from '../../src/federation/x-matrix.js';
import { serverAclAllows } from '../../src/federation/acl.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore } from '../../src/store/index.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';

const US = 'us.test';
const ORIGIN = 'origin.test:8448';
const NOW = 1_700_000_000_000;

interface Fixture {
  app: FastifyInstance;
  db: Database;
  originKey: SigningKey;
  /** The key document the fake origin serves. */
  originKeys: { current: SigningKey; old: ServerKeys['old']; validUntil: number };
  keyFetches: string[];
  clock: { now: number };
  rooms: RoomsService;
  handled: { origin: string; params: Record<string, string>; query: Record<string, string | undefined>; body: unknown }[];
  /** wake() calls on the outbound sender: an authenticated request resets its origin's backoff. */
  wakes: { destination: string; resetBackoff: boolean }[];
}

let fx: Fixture;

async function build(): Promise<Fixture> {
  const config = parseConfig({ server_name: US }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(':memory:');
  const clock = { now: NOW };
  const originKey = generateSigningKey('o1');
  const originKeys = { current: originKey, old: [] as ServerKeys['old'], validUntil: NOW + 24 * 3600_000 };
  const keyFetches: string[] = [];
  const fakeClient: FederationClient = {
    async request<T>(destination: string, method: string, path: string): Promise<T> {
      keyFetches.push(`${method} ${destination}${path}`);
      if (destination === ORIGIN && path === '/_matrix/key/v2/server') {
        return signedServerKeys(ORIGIN, { current: originKeys.current, old: originKeys.old }, originKeys.validUntil) as T;
      }
      throw new FederationError(destination, 0, 'unreachable');
    },
    async requestRaw() {
      throw new Error('not used');
    },
    async close() {},
  };
  const serverKeys: ServerKeys = { current: generateSigningKey('us'), old: [] };
  const keyRing = createKeyRing({ db, client: fakeClient, config, serverName: US, serverKeys, clock: () => clock.now });
  const store = createStore(db);
  const rooms = createRoomsService({ store, serverName: US, signingKey: serverKeys.current, clock: () => clock.now });
  const wakes: Fixture['wakes'] = [];
  const sender = {
    wake: (destination: string, o?: { resetBackoff?: boolean }) => void wakes.push({ destination, resetBackoff: o?.resetBackoff ?? false }),
  } as unknown as NonNullable<NonNullable<AppServices['federation']>['sender']>;
  const services: AppServices = { config, serverKeys, clock: () => clock.now, store, rooms, federation: { client: fakeClient, keyRing, sender } };
  const app = buildApp(services);
  const handled: Fixture['handled'] = [];
  void app.register(async (a) => {
    for (const method of ['GET', 'PUT', 'POST'] as const) {
      federationRoute(a, services, {
        method,
        path: '/v1/test/:thing',
        handler: async ({ origin, params, query, body }) => {
          handled.push({ origin, params, query, body });
          return { ok: true, origin };
        },
      });
    }
    federationRoute(a, services, {
      method: 'GET',
      path: '/v1/room/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ origin }) => ({ origin }),
    });
    federationRoute(a, services, { method: 'GET', path: '/v1/public', auth: 'none', handler: async ({ origin }) => ({ origin }) });
  });
  await app.ready();
  return { app, db, originKey, originKeys, keyFetches, clock, rooms, handled, wakes };
}

beforeEach(async () => {
  fx = await build();
});
afterEach(async () => {
  await fx.app.close();
  fx.db.close();
});

function signed(
  method: 'GET' | 'PUT' | 'POST',
  uri: string,
  body?: JsonValue,
  o: { key?: SigningKey; origin?: string; destination?: string; signedUri?: string; signedBody?: JsonValue } = {},
): string {
  return signRequest(
    {
      method,
      uri: o.signedUri ?? uri,
      origin: o.origin ?? ORIGIN,
      destination: o.destination ?? US,
      content: o.signedBody !== undefined ? o.signedBody : body,
    },
    o.key ?? fx.originKey,
  );
}

async function call(method: 'GET' | 'PUT' | 'POST', url: string, authorization?: string | string[], body?: JsonValue) {
  const headers: Record<string, string | string[]> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fx.app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as JsonObject) : {} };
}

describe('federation request authentication', () => {
  it('refuses a request without Authorization (401 M_UNAUTHORIZED) and never runs the handler', async () => {
    const r = await call('GET', '/_matrix/federation/v1/test/x');
    expect(r.status).toBe(401);
    expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    expect(fx.handled).toHaveLength(0);
    expect(fx.keyFetches).toHaveLength(0);
  });

  it('refuses another scheme and malformed X-Matrix headers', async () => {
    for (const h of ['Bearer abc', 'X-Matrix origin=x', 'X-Matrix origin="unterminated,key=a,sig=b']) {
      const r = await call('GET', '/_matrix/federation/v1/test/x', h);
      expect(r.status, h).toBe(401);
      expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    }
    expect(fx.handled).toHaveLength(0);
  });

  it('accepts a good signature, with the query string covered, and passes origin, params and query', async () => {
    const url = '/_matrix/federation/v1/test/a%20b?limit=10&v=x%2Fy';
    const r = await call('GET', url, signed('GET', url));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, origin: ORIGIN });
    expect(fx.handled[0]).toMatchObject({ origin: ORIGIN, params: { thing: 'a b' }, query: { limit: '10', v: 'x/y' } });
    expect(fx.keyFetches).toEqual([`GET ${ORIGIN}/_matrix/key/v2/server`]);
  });

  it('accepts a good signature over a JSON body and hands the parsed body over', async () => {
    const url = '/_matrix/federation/v1/test/t1';
    const body = { pdus: [], edus: [{ edu_type: 'm.typing', content: { n: 1 } }] };
    const r = await call('PUT', url, signed('PUT', url, body), body);
    expect(r.status).toBe(200);
    expect(fx.handled[0]?.body).toEqual(body);
  });

  it('wakes the outbound queue of an authenticated origin with its backoff reset, and of no one else', async () => {
    const url = '/_matrix/federation/v1/test/x';
    expect((await call('GET', url)).status).toBe(401);
    expect((await call('GET', url, signed('GET', url, undefined, { signedUri: '/other' }))).status).toBe(401);
    expect(fx.wakes).toEqual([]);
    expect((await call('GET', url, signed('GET', url))).status).toBe(200);
    expect(fx.wakes).toEqual([{ destination: ORIGIN, resetBackoff: true }]);
  });

  it('caches the origin key: a second request fetches nothing', async () => {
    const url = '/_matrix/federation/v1/test/x';
    expect((await call('GET', url, signed('GET', url))).status).toBe(200);
    expect((await call('GET', url, signed('GET', url))).status).toBe(200);
    expect(fx.keyFetches).toHaveLength(1);
  });

  it('refuses a request for another destination', async () => {
    const url = '/_matrix/federation/v1/test/x';
    const r = await call('GET', url, signed('GET', url, undefined, { destination: 'elsewhere.test' }));
    expect(r.status).toBe(401);
    expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    expect(String(r.body.error)).toMatch(/elsewhere\.test/);
    expect(fx.handled).toHaveLength(0);
  });

  it('accepts a header without destination when the signature covers our name (servers before v1.3)', async () => {
    const url = '/_matrix/federation/v1/test/x';
    const sig = /sig="([^"]+)"/.exec(signed('GET', url))![1]!;
    const header = formatXMatrixHeader({ origin: ORIGIN, key: fx.originKey.keyId, sig });
    expect(header).not.toContain('destination');
    expect((await call('GET', url, header)).status).toBe(200);
  });

  it('refuses an unknown key', async () => {
    const url = '/_matrix/federation/v1/test/x';
    const stranger = generateSigningKey('other');
    const r = await call('GET', url, signed('GET', url, undefined, { key: stranger }));
    expect(r.status).toBe(401);
    expect(String(r.body.error)).toMatch(/Unknown key ed25519:other/);
  });

  it('refuses a bad signature (right key ID, wrong private key)', async () => {
    const url = '/_matrix/federation/v1/test/x';
    const forger = generateSigningKey('o1');
    const r = await call('GET', url, signed('GET', url, undefined, { key: forger }));
    expect(r.status).toBe(401);
    expect(String(r.body.error)).toMatch(/Invalid signature/);
    expect(fx.handled).toHaveLength(0);
  });

  it('refuses a signature over another URI, query string or body', async () => {
    const url = '/_matrix/federation/v1/test/x?limit=10';
    expect((await call('GET', url, signed('GET', url, undefined, { signedUri: '/_matrix/federation/v1/test/x?limit=11' }))).status).toBe(401);
    expect((await call('GET', url, signed('GET', url, undefined, { signedUri: '/_matrix/federation/v1/test/x' }))).status).toBe(401);
    const body = { a: 1 };
    expect((await call('PUT', url, signed('PUT', url, body, { signedBody: { a: 2 } }), body)).status).toBe(401);
    // Signed without content but sent with one.
    expect((await call('PUT', url, signed('GET', url).replace('GET', 'PUT'), body)).status).toBe(401);
    // Signed as GET, sent as POST.
    expect((await call('POST', url, signed('GET', url), body)).status).toBe(401);
    expect(fx.handled).toHaveLength(0);
  });

  it('refuses an origin that is not a server name, and the claim to be another origin', async () => {
    const url = '/_matrix/federation/v1/test/x';
    expect((await call('GET', url, signed('GET', url, undefined, { origin: 'not a server' }))).status).toBe(401);
    // Signed with the origin's key but claiming another origin: that origin's key is unknown.
    expect((await call('GET', url, signed('GET', url, undefined, { origin: 'other.test' }))).status).toBe(401);
  });

  it('takes the first X-Matrix header that verifies when several are sent', async () => {
    const url = '/_matrix/federation/v1/test/x';
    const wrong = signed('GET', url, undefined, { destination: 'elsewhere.test' });
    const good = signed('GET', url);
    const r = await call('GET', url, [wrong, good]);
    expect(r.status).toBe(200);
    expect(r.body.origin).toBe(ORIGIN);
  });

  it('refuses a key whose valid_until_ts has passed', async () => {
    fx.originKeys.validUntil = NOW - 1000;
    const url = '/_matrix/federation/v1/test/x';
    const r = await call('GET', url, signed('GET', url));
    expect(r.status).toBe(401);
    expect(String(r.body.error)).toMatch(/Unknown key/);
  });

  it('refuses requests signed with an old (expired) key, accepts the new one after a rotation', async () => {
    const oldKey = fx.originKey;
    const newKey = generateSigningKey('o2');
    fx.originKeys.current = newKey;
    fx.originKeys.old = [{ keyId: oldKey.keyId, publicKey: oldKey.publicKey, expiredTs: NOW - 60_000 }];
    const url = '/_matrix/federation/v1/test/x';
    expect((await call('GET', url, signed('GET', url, undefined, { key: oldKey }))).status).toBe(401);
    expect((await call('GET', url, signed('GET', url, undefined, { key: newKey }))).status).toBe(200);
  });

  it('routes with auth none need no signature', async () => {
    const r = await call('GET', '/_matrix/federation/v1/public');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ origin: '' });
  });
});

describe('server ACL on routes naming a room', () => {
  async function roomWithAcl(content: JsonObject | undefined): Promise<string> {
    const creator = `@alice:${US}`;
    const { roomId } = await fx.rooms.createRoom('12', creator);
    await fx.rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join' }, sender: creator });
    if (content) await fx.rooms.sendLocalEvent(roomId, { type: 'm.room.server_acl', stateKey: '', content, sender: creator });
    return roomId;
  }

  async function get(roomId: string) {
    const url = `/_matrix/federation/v1/room/${encodeURIComponent(roomId)}`;
    return call('GET', url, signed('GET', url));
  }

  it('lets the origin through without an ACL or when allowed', async () => {
    expect((await get(await roomWithAcl(undefined))).status).toBe(200);
    expect((await get(await roomWithAcl({ allow: ['*.test'], deny: [] }))).status).toBe(200);
    // The port is not part of what is matched.
    expect((await get(await roomWithAcl({ allow: ['origin.test'] }))).status).toBe(200);
  });

  it('refuses a denied origin with 403 M_FORBIDDEN', async () => {
    const r = await get(await roomWithAcl({ allow: ['*'], deny: ['origin.*'] }));
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
  });

  it('refuses an origin not in allow', async () => {
    expect((await get(await roomWithAcl({ allow: ['other.test'] }))).status).toBe(403);
    expect((await get(await roomWithAcl({}))).status).toBe(403);
  });

  it('authenticates before checking the ACL', async () => {
    const roomId = await roomWithAcl({ allow: ['*'] });
    const r = await call('GET', `/_matrix/federation/v1/room/${encodeURIComponent(roomId)}`);
    expect(r.status).toBe(401);
  });
});

describe('serverAclAllows', () => {
  it.each([
    [{ allow: ['*'] }, 'example.org', true],
    [{ allow: ['*'] }, 'example.org:8448', true],
    [{ allow: ['*.example.org'] }, 'matrix.example.org', true],
    [{ allow: ['*.example.org'] }, 'example.org', false],
    [{ allow: ['ex?mple.org'] }, 'example.org', true],
    [{ allow: ['ex?mple.org'] }, 'exaample.org', false],
    [{ allow: ['EXAMPLE.org'] }, 'example.ORG', true],
    [{ allow: ['*'], deny: ['evil.*'] }, 'evil.example', false],
    [{ allow: ['evil.example'], deny: ['evil.example'] }, 'evil.example', false],
    [{ allow: ['*'], deny: ['*.evil'] }, 'good.example', true],
    [{}, 'example.org', false],
    [{ allow: 'not a list' }, 'example.org', false],
    [{ allow: [5, null, 'example.org'] }, 'example.org', true],
    [{ allow: ['*'] }, '1.2.3.4', true],
    [{ allow: ['*'], allow_ip_literals: false }, '1.2.3.4', false],
    [{ allow: ['*'], allow_ip_literals: false }, '[::1]:8448', false],
    [{ allow: ['*'], allow_ip_literals: 'no' }, '1.2.3.4', true],
    [{ allow: ['[::1]'] }, '[::1]:8448', true],
    [{ allow: ['1.2.3.*'] }, '1.2.3.4:80', true],
    [{ allow: ['a.b'] }, 'aXb', false],
    [{ allow: ['*'] }, 'not a server name', false],
  ] as [JsonObject, string, boolean][])('%j, %s -> %s', (content, server, allowed) => {
    expect(serverAclAllows(content, server)).toBe(allowed);
  });
});

describe('apps built without the federation area', () => {
  it('mount signed routes that refuse every request', async () => {
    const config = parseConfig({ server_name: US }, { cwd: '/nonexistent' }).config;
    const services: AppServices = { config, serverKeys: { current: generateSigningKey('x'), old: [] } };
    const app = buildApp(services);
    void app.register(async (a) => federationRoute(a, services, { method: 'GET', path: '/v1/thing', handler: async () => ({ ran: true }) }));
    await app.ready();
    try {
      const header = signRequest({ method: 'GET', uri: '/_matrix/federation/v1/thing', origin: ORIGIN, destination: US }, generateSigningKey('o1'));
      const res = await app.inject({ method: 'GET', url: '/_matrix/federation/v1/thing', headers: { authorization: header } });
      expect(res.statusCode).toBe(401);
      expect(res.json().errcode).toBe('M_UNAUTHORIZED');
    } finally {
      await app.close();
    }
  });
});
