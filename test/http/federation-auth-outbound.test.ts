// The outbound federation client against a real TLS server on loopback: X-Matrix signing of what
// is sent, Host and SNI, the IP blacklist (127.0.0.1 refused by default) and whitelist, certificate
// checks and custom CAs, error mapping, size caps, timeouts, keep-alive and SRV target fallback.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { createFederationClient, FederationError } from '../../src/federation/client.js';
import { parseXMatrixHeader, verifyRequestSignature } from '../../src/federation/x-matrix.js';

const TLS_DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const cert = readFileSync(TLS_DIR + 'localhost.crt');
const key = readFileSync(TLS_DIR + 'localhost.key');
const US = 'us.test';
const signingKey = generateSigningKey('c1');

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  authorization: string | undefined;
  body: string;
  servername: string | false | undefined;
  remotePort: number;
}

let server: Server;
let port: number;
let seen: Seen[] = [];
let connections = 0;
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const socket = req.socket as TLSSocket;
      seen.push({
        method: req.method!,
        url: req.url!,
        host: req.headers.host,
        authorization: req.headers.authorization,
        body,
        servername: (socket as TLSSocket & { servername?: string | false }).servername,
        remotePort: socket.remotePort!,
      });
      handler(req, res, body);
    });
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen = [];
  connections = 0;
  handler = (_req, res) => json(res, 200, { hello: 'world' });
});

function client(overrides: Record<string, unknown> = {}) {
  const config = parseConfig(
    { server_name: US, ip_range_whitelist: ['127.0.0.0/8', '::1/128'], federation_verify_certificates: false, ...overrides },
    { cwd: '/nonexistent' },
  ).config;
  return createFederationClient({ config, serverName: US, signingKey });
}

async function failure(p: Promise<unknown>): Promise<FederationError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FederationError);
    return e as FederationError;
  }
  throw new Error('expected a FederationError');
}

describe('IP range blacklist', () => {
  it('refuses loopback by default (no whitelist), for DNS names and IP literals alike', async () => {
    const c = client({ ip_range_whitelist: [] });
    try {
      for (const dest of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `[::ffff:127.0.0.1]:${port}`]) {
        const e = await failure(c.request(dest, 'GET', '/_matrix/federation/v1/version'));
        expect(e.status, dest).toBe(0);
        expect(e.destination).toBe(dest);
        expect(e.message, dest).toMatch(/ip_range_blacklist/);
      }
      expect(seen).toHaveLength(0);
    } finally {
      await c.close();
    }
  });

  it('refuses hosts the URL parser reads as loopback or 0.0.0.0 (numeric and short IPv4 forms)', async () => {
    const c = client({ ip_range_whitelist: [] });
    try {
      for (const dest of [`2130706433:${port}`, `0x7f000001:${port}`, `127.1:${port}`, `0177.0.0.1:${port}`, `0:${port}`]) {
        const e = await failure(c.request(dest, 'GET', '/_matrix/federation/v1/version'));
        expect(e.message, dest).toMatch(/ip_range_blacklist/);
      }
      expect(seen).toHaveLength(0);
      expect(connections).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('reaches loopback once whitelisted', async () => {
    const c = client();
    try {
      expect(await c.request(`localhost:${port}`, 'GET', '/_matrix/federation/v1/version')).toEqual({ hello: 'world' });
      expect(await c.request(`127.0.0.1:${port}`, 'GET', '/_matrix/federation/v1/version')).toEqual({ hello: 'world' });
    } finally {
      await c.close();
    }
  });
});

describe('requests', () => {
  it('signs GET requests over the path with its query string; Host is the server name; SNI the hostname', async () => {
    const c = client();
    const dest = `localhost:${port}`;
    const path = '/_matrix/federation/v1/query/profile?user_id=%40a%3Ab&field=displayname';
    try {
      await c.request(dest, 'GET', path);
    } finally {
      await c.close();
    }
    const s = seen[0]!;
    expect(s.url).toBe(path);
    expect(s.host).toBe(dest);
    expect(s.servername).toBe('localhost');
    expect(s.authorization).toMatch(/^X-Matrix origin="us\.test",destination="localhost:\d+",key="ed25519:c1",sig="[^"]+"$/);
    const params = parseXMatrixHeader(s.authorization!)!;
    expect(params).toMatchObject({ origin: US, destination: dest, key: 'ed25519:c1' });
    expect(verifyRequestSignature({ method: 'GET', uri: path }, params, dest, signingKey.publicKey)).toBe(true);
  });

  it('sends no SNI to an IP literal', async () => {
    const c = client();
    try {
      await c.request(`127.0.0.1:${port}`, 'GET', '/x');
    } finally {
      await c.close();
    }
    expect(seen[0]!.host).toBe(`127.0.0.1:${port}`);
    expect(seen[0]!.servername).toBeFalsy();
  });

  it('signs the JSON body as content', async () => {
    const c = client();
    const dest = `localhost:${port}`;
    const body = { pdus: [], edus: [{ edu_type: 'm.typing', content: { typing: true } }], origin: US };
    handler = (_req, res) => json(res, 200, { pdus: {} });
    try {
      expect(await c.request(dest, 'PUT', '/_matrix/federation/v1/send/1', body)).toEqual({ pdus: {} });
    } finally {
      await c.close();
    }
    const s = seen[0]!;
    expect(JSON.parse(s.body)).toEqual(body);
    const params = parseXMatrixHeader(s.authorization!)!;
    expect(verifyRequestSignature({ method: 'PUT', uri: '/_matrix/federation/v1/send/1', content: body }, params, dest, signingKey.publicKey)).toBe(true);
    expect(verifyRequestSignature({ method: 'PUT', uri: '/_matrix/federation/v1/send/1', content: { ...body, origin: 'x' } }, params, dest, signingKey.publicKey)).toBe(false);
  });

  it('keeps connections alive per destination', async () => {
    const c = client();
    try {
      for (let i = 0; i < 5; i++) await c.request(`localhost:${port}`, 'GET', `/n/${i}`);
    } finally {
      await c.close();
    }
    expect(seen).toHaveLength(5);
    // Sequential requests reuse pooled connections (undici may open a second one while the first
    // is still finishing its previous response).
    expect(connections).toBeLessThanOrEqual(2);
    expect(new Set(seen.map((s) => s.remotePort)).size).toBe(connections);
  });

  it('maps error answers to FederationError with status, errcode, body and retry hints', async () => {
    const c = client();
    const dest = `localhost:${port}`;
    try {
      handler = (_req, res) => json(res, 404, { errcode: 'M_NOT_FOUND', error: 'no such thing' });
      let e = await failure(c.request(dest, 'GET', '/a'));
      expect(e).toMatchObject({ status: 404, errcode: 'M_NOT_FOUND', destination: dest, body: { errcode: 'M_NOT_FOUND', error: 'no such thing' } });
      handler = (_req, res) => json(res, 429, { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 1234 });
      e = await failure(c.request(dest, 'GET', '/a'));
      expect(e).toMatchObject({ status: 429, errcode: 'M_LIMIT_EXCEEDED', retryAfterMs: 1234 });
      handler = (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>bad gateway</html>');
      };
      e = await failure(c.request(dest, 'GET', '/a'));
      expect(e.status).toBe(502);
      expect(e.errcode).toBeUndefined();
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{not json');
      };
      e = await failure(c.request(dest, 'GET', '/a'));
      expect(e).toMatchObject({ status: 0, errcode: 'M_NOT_JSON' });
    } finally {
      await c.close();
    }
  });

  it('caps the response size, by Content-Length and while streaming', async () => {
    const c = client();
    const dest = `localhost:${port}`;
    try {
      handler = (_req, res) => json(res, 200, { big: 'x'.repeat(10_000) });
      expect(await failure(c.request(dest, 'GET', '/big', undefined, { maxBytes: 1000 }))).toMatchObject({ status: 0, errcode: 'M_TOO_LARGE' });
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"big":"');
        res.write('y'.repeat(5000));
        res.end('"}');
      };
      expect(await failure(c.request(dest, 'GET', '/big', undefined, { maxBytes: 1000 }))).toMatchObject({ status: 0, errcode: 'M_TOO_LARGE' });
      expect(await c.request(dest, 'GET', '/big', undefined, { maxBytes: 10_000 })).toHaveProperty('big');
    } finally {
      await c.close();
    }
  });

  it('times out', async () => {
    const c = client();
    handler = () => undefined; // never answers
    const started = Date.now();
    try {
      const e = await failure(c.request(`localhost:${port}`, 'GET', '/slow', undefined, { timeoutMs: 300 }));
      expect(e.status).toBe(0);
      expect(e.message).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      server.closeAllConnections();
      await c.close();
    }
  });

  it('requestRaw returns the status, headers and body stream whatever the status', async () => {
    const c = client();
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain', 'x-thing': 'y' });
      res.end('nope');
    };
    try {
      const r = await c.requestRaw(`localhost:${port}`, 'GET', '/_matrix/federation/v1/media/download/x');
      expect(r.status).toBe(404);
      expect(r.headers['x-thing']).toBe('y');
      const chunks: Buffer[] = [];
      for await (const chunk of r.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('nope');
      expect(parseXMatrixHeader(seen[0]!.authorization!)?.origin).toBe(US);
    } finally {
      await c.close();
    }
  });

  it('refuses paths that are not absolute or hold whitespace', async () => {
    const c = client();
    try {
      expect((await failure(c.request(`localhost:${port}`, 'GET', 'relative'))).status).toBe(0);
      expect((await failure(c.request(`localhost:${port}`, 'GET', '/a b'))).status).toBe(0);
      expect((await failure(c.request(`localhost:${port}`, 'GET', '/a\r\nX: y'))).status).toBe(0);
      expect(seen).toHaveLength(0);
    } finally {
      await c.close();
    }
  });
});

describe('certificates', () => {
  it('refuses a self-signed certificate when verification is on', async () => {
    const c = client({ federation_verify_certificates: true });
    try {
      const e = await failure(c.request(`localhost:${port}`, 'GET', '/a'));
      expect(e.status).toBe(0);
      expect(e.message).toMatch(/certificate|self.signed|SELF_SIGNED/i);
    } finally {
      await c.close();
    }
  });

  it('accepts it when listed in federation_custom_ca_list', async () => {
    const c = client({ federation_verify_certificates: true, federation_custom_ca_list: [TLS_DIR + 'localhost.crt'] });
    try {
      expect(await c.request(`localhost:${port}`, 'GET', '/a')).toEqual({ hello: 'world' });
    } finally {
      await c.close();
    }
  });
});

describe('several targets (SRV)', () => {
  it('tries the next target when one refuses connections', async () => {
    const config = parseConfig(
      { server_name: US, ip_range_whitelist: ['127.0.0.0/8'], federation_verify_certificates: false },
      { cwd: '/nonexistent' },
    ).config;
    // A port nobody listens on: bind and close one.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const c = createFederationClient({
      config,
      serverName: US,
      signingKey,
      resolver: {
        resolve: async (serverName) => ({
          serverName,
          targets: [
            { host: '127.0.0.1', port: closed },
            { host: 'localhost', port },
          ],
          hostHeader: serverName,
          tlsServerName: serverName,
        }),
      },
    });
    try {
      expect(await c.request('srv.example', 'GET', '/a')).toEqual({ hello: 'world' });
      expect(seen[0]!.host).toBe('srv.example');
      expect(seen[0]!.servername).toBe('srv.example');
    } finally {
      await c.close();
    }
  });
});

describe('discovery through the client', () => {
  function discoveringClient(srv: Record<string, { name: string; port: number; priority: number; weight: number }[]> = {}) {
    const config = parseConfig(
      { server_name: US, ip_range_whitelist: ['127.0.0.0/8', '::1/128'], federation_verify_certificates: false },
      { cwd: '/nonexistent' },
    ).config;
    return createFederationClient({ config, serverName: US, signingKey, wellKnownPort: port, srvLookup: async (name) => srv[name] ?? [] });
  }

  it('follows /.well-known/matrix/server (with a redirect), signs for the original name, and caches the answer', async () => {
    handler = (req, res) => {
      if (req.url === '/.well-known/matrix/server') {
        res.writeHead(302, { location: '/elsewhere/server.json' });
        res.end();
      } else if (req.url === '/elsewhere/server.json') json(res, 200, { 'm.server': `localhost:${port}` }, { 'cache-control': 'max-age=3600' });
      else json(res, 200, { hello: 'world' });
    };
    const c = discoveringClient();
    try {
      expect(await c.request('localhost', 'GET', '/_matrix/federation/v1/version')).toEqual({ hello: 'world' });
      expect(await c.request('localhost', 'GET', '/_matrix/federation/v1/version')).toEqual({ hello: 'world' });
    } finally {
      await c.close();
    }
    expect(seen.map((s) => s.url)).toEqual(['/.well-known/matrix/server', '/elsewhere/server.json', '/_matrix/federation/v1/version', '/_matrix/federation/v1/version']);
    expect(seen[0]!.authorization).toBeUndefined();
    const fed = seen[2]!;
    // 3.2: Host is the delegated name with its port; the signature names the server name asked for.
    expect(fed.host).toBe(`localhost:${port}`);
    expect(fed.servername).toBe('localhost');
    expect(parseXMatrixHeader(fed.authorization!)?.destination).toBe('localhost');
  });

  it('falls back to SRV records when there is no well-known, with Host and SNI of the server name', async () => {
    handler = (req, res) => (req.url === '/.well-known/matrix/server' ? json(res, 404, { errcode: 'M_NOT_FOUND' }) : json(res, 200, { ok: 1 }));
    const c = discoveringClient({ '_matrix-fed._tcp.localhost': [{ name: '127.0.0.1', port, priority: 0, weight: 0 }] });
    try {
      expect(await c.request('localhost', 'GET', '/x')).toEqual({ ok: 1 });
    } finally {
      await c.close();
    }
    const fed = seen.find((s) => s.url === '/x')!;
    expect(fed.host).toBe('localhost');
    expect(fed.servername).toBe('localhost');
  });
});
