// The HTTP shell: Matrix error shapes, 404/405, JSON bodies, limits, CORS, logging, the server key,
// versions, health and the listener resources; mostly through app.inject, some over real sockets.
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey, signingKeyFromSeed, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { verifyJsonSignature } from '../../src/core/crypto/signing.js';
import { decodeBase64 } from '../../src/core/json/base64.js';
import { JsonParseError } from '../../src/core/json/parse.js';
import { canonicalJsonBytes } from '../../src/core/json/canonical.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { MatrixError } from '../../src/errors.js';
import { buildApp, type AppServices, type BuildAppOptions } from '../../src/http/app.js';
import { redactUrl, routePatternToRegExp } from '../../src/http/shell.js';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization, Date',
};

const NOW = 1_700_000_000_000;
const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function testConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig({ server_name: 'shell.test', ...overrides }, { cwd: '/nonexistent' }).config;
}

interface Harness {
  app: FastifyInstance;
  key: SigningKey;
  clock: { now: number };
  logs: Record<string, unknown>[];
}

/** An app with extra test routes (/test/...) registered before it is ready. */
async function harness(
  opts: BuildAppOptions & { config?: Config; old?: AppServices['serverKeys']['old']; metrics?: Registry } = {},
): Promise<Harness> {
  const key = generateSigningKey('shell1');
  const clock = { now: NOW };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const services: AppServices = {
    config: opts.config ?? testConfig(),
    logger: pino({ level: 'debug' }, sink),
    serverKeys: { current: key, old: opts.old ?? [] },
    clock: () => clock.now,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  };
  const app = buildApp(services, opts);
  app.get('/test/matrix-error', async () => {
    throw new MatrixError('M_FORBIDDEN', 'You are not allowed', 403, { extra_field: 7, errcode: 'IGNORED' });
  });
  app.get('/test/crash', async () => {
    throw new Error('secret internal detail');
  });
  app.post('/test/zod', async (request) => z.object({ name: z.string() }).parse(request.body));
  app.get('/test/json-error/:kind', async (request) => {
    throw new JsonParseError((request.params as { kind: 'syntax' | 'value' }).kind, 'bad');
  });
  app.post('/test/echo', async (request) => ({ body: request.body === undefined ? '<undefined>' : request.body }));
  app.put('/test/rooms/:roomId/send/:type/:txnId', async (request) => ({ params: request.params }));
  apps.push(app);
  await app.ready();
  return { app, key, clock, logs };
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/** Sends raw bytes over TCP and returns everything the server answers until it closes. */
function rawRequest(port: number, data: string, opts: { endAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('error', (e) => (out ? resolve(out) : reject(e)));
    socket.on('close', () => resolve(out));
    socket.write(data);
    if (opts.endAfterWrite) socket.end();
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}

function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body: rest.join('\r\n\r\n') };
}

describe('Matrix error shapes', () => {
  it('answers a thrown MatrixError with its status, errcode, message and extra fields', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'GET', url: '/test/matrix-error' });
    expect(r.statusCode).toBe(403);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json()).toEqual({ errcode: 'M_FORBIDDEN', error: 'You are not allowed', extra_field: 7 });
  });

  it('answers an unexpected exception with 500 M_UNKNOWN without leaking its message, and logs it', async () => {
    const { app, logs } = await harness();
    const r = await app.inject({ method: 'GET', url: '/test/crash' });
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
    expect(r.body).not.toContain('secret internal detail');
    expect(logs.some((l) => l.level === 50 && JSON.stringify(l).includes('secret internal detail'))).toBe(true);
  });

  it('answers a zod validation failure with 400 M_BAD_JSON naming the field', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/zod', payload: { name: 5 } });
    expect(r.statusCode).toBe(400);
    expect(r.json().errcode).toBe('M_BAD_JSON');
    expect(r.json().error).toMatch(/^name: /);
  });
});

describe('unknown endpoints', () => {
  it.each([
    '/',
    '/nothing/here',
    '/_matrix/client/v3/not_an_endpoint',
    '/_matrix/client/r0/not_an_endpoint',
    '/_matrix/client/r0/login',
    '/_matrix/federation/v1/nope',
    '/_matrix/media/v3/unknown',
    '/_synapse/admin/v1/nothing',
    '/_matrix/client/versions/extra',
  ])('GET %s -> 404 M_UNRECOGNIZED', async (url) => {
    const { app } = await harness();
    const r = await app.inject({ method: 'GET', url });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    expect(r.headers).toMatchObject(CORS);
  });

  it('answers 405 M_UNRECOGNIZED for a known path with a method it does not serve', async () => {
    const { app } = await harness();
    for (const method of ['POST', 'PUT', 'DELETE'] as const) {
      const r = await app.inject({ method, url: '/_matrix/client/versions' });
      expect(r.statusCode).toBe(405);
      expect(r.json()).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    }
    const p = await app.inject({ method: 'GET', url: '/test/rooms/!a:b/send/m.room.message/t1' });
    expect(p.statusCode).toBe(405);
  });

  it('answers 404 for an unknown path even when the body is not JSON', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/nope', payload: 'garbage', headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(404);
    expect(r.json().errcode).toBe('M_UNRECOGNIZED');
  });

  it('accepts long path parameters (Fastify defaults to 100 characters)', async () => {
    const { app } = await harness();
    const txn = 'x'.repeat(700);
    const r = await app.inject({ method: 'PUT', url: `/test/rooms/!a:b/send/m.room.message/${txn}`, payload: {} });
    expect(r.statusCode).toBe(200);
    expect(r.json().params.txnId).toBe(txn);
  });
});

describe('JSON bodies', () => {
  it('parses application/json bodies', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload: '{"a":[1,"b",null]}', headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ body: { a: [1, 'b', null] } });
  });

  it('parses a body without content-type, or with another content type, as JSON', async () => {
    const { app } = await harness();
    const port = await listen(app);
    const body = '{"x":1}';
    const raw = await rawRequest(port, `POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    const res = parseRawResponse(raw);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ body: { x: 1 } });
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload: body, headers: { 'content-type': 'text/plain' } });
    expect(r.json()).toEqual({ body: { x: 1 } });
  });

  it('hands an empty body to the handler as undefined', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload: '', headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ body: '<undefined>' });
  });

  it.each([
    ['not json', 'not json'],
    ['truncated', '{"a":'],
    ['trailing garbage', '{"a":1} x'],
    ['single quotes', "{'a':1}"],
  ])('answers 400 M_NOT_JSON for %s', async (_name, payload) => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload, headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().errcode).toBe('M_NOT_JSON');
    expect(typeof r.json().error).toBe('string');
    expect(r.headers).toMatchObject(CORS);
  });

  it('answers 400 M_NOT_JSON for a body that is not UTF-8', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().errcode).toBe('M_NOT_JSON');
  });

  it('answers 400 M_BAD_JSON for JSON that cannot be accepted (nested too deeply)', async () => {
    const { app } = await harness();
    const payload = '{"a":' + '['.repeat(600) + ']'.repeat(600) + '}';
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload, headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().errcode).toBe('M_BAD_JSON');
  });

  it('maps JsonParseError thrown by a handler: syntax -> M_NOT_JSON, value -> M_BAD_JSON', async () => {
    const { app } = await harness();
    const a = await app.inject({ method: 'GET', url: '/test/json-error/syntax' });
    const b = await app.inject({ method: 'GET', url: '/test/json-error/value' });
    expect([a.statusCode, a.json().errcode]).toEqual([400, 'M_NOT_JSON']);
    expect([b.statusCode, b.json().errcode]).toEqual([400, 'M_BAD_JSON']);
  });
});

describe('body limits', () => {
  it('refuses a declared Content-Length above the limit with 413 M_TOO_LARGE', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'POST', url: '/test/echo', payload: '{}', headers: { 'content-length': String(2 * 1024 * 1024) } });
    expect(r.statusCode).toBe(413);
    expect(r.json().errcode).toBe('M_TOO_LARGE');
    expect(r.headers).toMatchObject(CORS);
  });

  it('answers 413 at once over a real socket, without waiting for the body', async () => {
    const { app } = await harness();
    const port = await listen(app);
    const started = Date.now();
    // Headers only: the 10 MB the request announces are never sent.
    const raw = await rawRequest(port, `POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"a":`);
    const res = parseRawResponse(raw);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).errcode).toBe('M_TOO_LARGE');
    expect(res.headers.connection).toBe('close');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops a chunked body that grows past the limit with 413 M_TOO_LARGE', async () => {
    const { app } = await harness({ bodyLimit: 64 });
    const port = await listen(app);
    const chunk = '{"a":"' + 'x'.repeat(200) + '"}';
    const raw = await rawRequest(
      port,
      `POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    const res = parseRawResponse(raw);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).errcode).toBe('M_TOO_LARGE');
  });
});

describe('malformed HTTP', () => {
  it('answers an unparseable request line with a Matrix-shaped 400 carrying CORS headers', async () => {
    const { app } = await harness();
    const port = await listen(app);
    const res = parseRawResponse(await rawRequest(port, 'BR0KEN\x01 / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const body = JSON.parse(res.body) as { errcode: string; error: string };
    expect(typeof body.errcode).toBe('string');
    expect(typeof body.error).toBe('string');
  });

  it('answers a malformed header with a Matrix-shaped 400', async () => {
    const { app } = await harness();
    const port = await listen(app);
    const res = parseRawResponse(await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n'));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).errcode).toBe('M_UNKNOWN');
  });

  it('answers oversized headers with 431 M_TOO_LARGE', async () => {
    const { app } = await harness();
    const port = await listen(app);
    const res = parseRawResponse(await rawRequest(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body).errcode).toBe('M_TOO_LARGE');
  });

  it('answers bad percent-encoding in the path in the Matrix shape', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'GET', url: '/_matrix/client/%zz' });
    expect(r.statusCode).toBe(400);
    expect(r.json().errcode).toBe('M_UNRECOGNIZED');
    expect(r.headers).toMatchObject(CORS);
  });
});

describe('CORS', () => {
  it('sends the CORS headers on successful responses', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'GET', url: '/_matrix/client/versions', headers: { origin: 'https://app.example' } });
    expect(r.statusCode).toBe(200);
    expect(r.headers).toMatchObject(CORS);
  });

  it('sends them on errors, 404s and 500s', async () => {
    const { app } = await harness();
    for (const url of ['/test/matrix-error', '/nope', '/test/crash']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.headers).toMatchObject(CORS);
    }
  });

  it.each(['/_matrix/client/v3/login', '/_matrix/client/r0/sync', '/_matrix/client/versions', '/anything/at/all'])(
    'answers an OPTIONS preflight to %s with 204 and the CORS headers',
    async (url) => {
      const { app } = await harness();
      const r = await app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(r.statusCode).toBe(204);
      expect(r.headers).toMatchObject(CORS);
      expect(r.body).toBe('');
    },
  );
});

describe('logging', () => {
  it('logs one line per request with a request id and the access token redacted', async () => {
    const { app, logs } = await harness();
    await app.inject({ method: 'GET', url: '/_matrix/client/versions?access_token=syt_SECRET_token&x=1' });
    await app.inject({ method: 'GET', url: '/nope?foo=1&access_token=ANOTHER_SECRET' });
    const lines = logs.filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ method: 'GET', url: '/_matrix/client/versions?access_token=<redacted>&x=1', status: 200 });
    expect(lines[1]).toMatchObject({ url: '/nope?foo=1&access_token=<redacted>', status: 404 });
    expect(typeof lines[0]!.request_id).toBe('string');
    expect(lines[0]!.request_id).not.toBe(lines[1]!.request_id);
    expect(JSON.stringify(logs)).not.toMatch(/SECRET/);
  });

  it('redactUrl leaves URLs without a token alone and redacts every token parameter', () => {
    expect(redactUrl('/a?b=c')).toBe('/a?b=c');
    expect(redactUrl('/a?access_token=x&access_token=y')).toBe('/a?access_token=<redacted>&access_token=<redacted>');
    expect(redactUrl('/a?my_access_token=x')).toBe('/a?my_access_token=x');
  });
});

describe('GET /_matrix/key/v2/server', () => {
  function verifyWithTweetnacl(doc: JsonObject, serverName: string, keyId: string, publicKey: string): boolean {
    const { signatures, unsigned: _u, ...covered } = doc as JsonObject & { signatures: Record<string, Record<string, string>> };
    const sig = signatures[serverName]?.[keyId];
    if (!sig) return false;
    return nacl.sign.detached.verify(canonicalJsonBytes(covered), decodeBase64(sig), decodeBase64(publicKey));
  }

  it('serves the current key, signed, verifiable by our verifier and by tweetnacl', async () => {
    const { app, key } = await harness();
    const r = await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const doc = r.json() as JsonObject;
    expect(doc.server_name).toBe('shell.test');
    expect(doc.verify_keys).toEqual({ 'ed25519:shell1': { key: key.publicKey } });
    expect(doc.old_verify_keys).toEqual({});
    expect(doc.valid_until_ts).toBe(NOW + 24 * 3600 * 1000);
    expect(verifyJsonSignature(doc, 'shell.test', 'ed25519:shell1', key.publicKey)).toBe(true);
    expect(verifyWithTweetnacl(doc, 'shell.test', 'ed25519:shell1', key.publicKey)).toBe(true);
    // A changed field breaks the signature.
    expect(verifyJsonSignature({ ...doc, valid_until_ts: NOW + 1 }, 'shell.test', 'ed25519:shell1', key.publicKey)).toBe(false);
  });

  it('lists old keys with their expiry in old_verify_keys', async () => {
    const oldKey = signingKeyFromSeed('old1', Buffer.alloc(32, 7));
    const config = testConfig({
      key_refresh_interval: '2h',
      old_signing_keys: { 'ed25519:old1': { key: oldKey.publicKey, expired_ts: 1_600_000_000_000 } },
    });
    const { app, key } = await harness({ config, old: [{ keyId: 'ed25519:old1', publicKey: oldKey.publicKey, expiredTs: 1_600_000_000_000 }] });
    const doc = (await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).json() as JsonObject;
    expect(doc.old_verify_keys).toEqual({ 'ed25519:old1': { key: oldKey.publicKey, expired_ts: 1_600_000_000_000 } });
    expect(doc.valid_until_ts).toBe(NOW + 2 * 3600 * 1000);
    expect(verifyWithTweetnacl(doc, 'shell.test', key.keyId, key.publicKey)).toBe(true);
  });

  it('serves the same document at the deprecated /server/{keyId} path', async () => {
    const { app, key } = await harness();
    const a = await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' });
    const b = await app.inject({ method: 'GET', url: `/_matrix/key/v2/server/${encodeURIComponent(key.keyId)}` });
    const c = await app.inject({ method: 'GET', url: '/_matrix/key/v2/server/ed25519:unknown' });
    const d = await app.inject({ method: 'GET', url: '/_matrix/key/v2/server/' });
    expect(b.statusCode).toBe(200);
    expect(b.json()).toEqual(a.json());
    expect(c.json()).toEqual(a.json());
    expect(d.json()).toEqual(a.json());
  });

  it('reuses the signed answer for a minute, then signs a fresh one', async () => {
    const { app, clock } = await harness();
    const first = (await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).json() as JsonObject;
    clock.now += 59_000;
    const cached = (await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).json() as JsonObject;
    expect(cached).toEqual(first);
    clock.now += 2_000;
    const fresh = (await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).json() as JsonObject;
    expect(fresh.valid_until_ts).toBe(clock.now + 24 * 3600 * 1000);
  });
});

describe('informational endpoints', () => {
  it('GET /_matrix/client/versions lists r0 and v1 versions and unstable_features', async () => {
    const { app } = await harness();
    const body = (await app.inject({ method: 'GET', url: '/_matrix/client/versions' })).json() as { versions: string[]; unstable_features: object };
    expect(body.versions).toContain('r0.6.1');
    expect(body.versions).toContain('v1.1');
    expect(body.versions.every((v) => /^(r0\.\d+\.\d+|v1\.\d+)$/.test(v))).toBe(true);
    expect(body.unstable_features).toEqual({});
  });

  it('GET /_matrix/federation/v1/version names the software', async () => {
    const { app } = await harness();
    const body = (await app.inject({ method: 'GET', url: '/_matrix/federation/v1/version' })).json();
    expect(body).toEqual({ server: { name: 'tsmatrix', version: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
  });

  it('GET /health answers 200 OK as text', async () => {
    const { app } = await harness();
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe('OK');
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('GET /_synapse/metrics serves Prometheus text including the request counter', async () => {
    const metrics = new Registry();
    const { app } = await harness({ metrics });
    await app.inject({ method: 'GET', url: '/_matrix/client/versions' });
    const r = await app.inject({ method: 'GET', url: '/_synapse/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toMatch(/tsmatrix_http_requests_total\{method="GET",route="\/_matrix\/client\/versions",status="200"\} 1/);
  });
});

describe('listener resources', () => {
  it('mounts only the resources given, plus health', async () => {
    const { app } = await harness({ resources: ['client', 'health'] });
    expect((await app.inject({ method: 'GET', url: '/_matrix/client/versions' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/_matrix/federation/v1/version' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/_synapse/metrics' })).statusCode).toBe(404);
  });

  it('a federation listener serves federation and keys, not the client API', async () => {
    const { app } = await harness({ resources: testConfig({ listeners: [{ port: 8448, resources: [{ names: ['federation'] }] }] }).listeners[0]!.mounts });
    expect((await app.inject({ method: 'GET', url: '/_matrix/federation/v1/version' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/_matrix/key/v2/server' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/_matrix/client/versions' })).statusCode).toBe(404);
  });
});

describe('routePatternToRegExp', () => {
  it.each([
    ['/_matrix/client/v3/rooms/:roomId/send/:type/:txnId', '/_matrix/client/v3/rooms/!a%3Ab/send/m.x/1', true],
    ['/_matrix/client/v3/rooms/:roomId/send/:type/:txnId', '/_matrix/client/v3/rooms/!a/send/m.x', false],
    ['/_matrix/media/v3/download/:server/:id/*', '/_matrix/media/v3/download/s/i/name.png', true],
    ['/a/:from-:to', '/a/1-2', true],
    ['/a/:id(^\\d+)', '/a/12', true],
    ['/a/b::c', '/a/b:c', true],
    ['/a.b', '/aXb', false],
  ])('%s matches %s: %s', (pattern, path, expected) => {
    expect(routePatternToRegExp(pattern).test(path)).toBe(expected);
  });
});
